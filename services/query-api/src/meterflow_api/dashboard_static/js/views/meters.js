// The picker: the caller's sites (one at a time, or none) and meters (any number), both filtered by one search
// box. Choosing a site selects its meters too, so every chart shows the site's channels beside its balance.
import { $, el } from "../dom.js";

function matchesText(parts, words) {
  const text = parts.filter(Boolean).join(" ").toLowerCase();
  return words.every((word) => text.includes(word));
}

const meterText = (meter) => [meter.muid, ...meter.channels.flatMap((c) => [c.obis, c.hex, c.direction, c.quantity, c.unit])];
const siteText = (site) => [site.name, site.tenant, "site", ...site.channels.flatMap((c) => [c.role, c.label, c.muid, c.obis])];

/** The muids of a site's channels, once each, in the order of its channels (import first). */
export function siteMeters(site) {
  return [...new Set(site.channels.map((c) => c.muid))];
}

function siteItem(site, chosen, onSite) {
  const radio = el("input", { type: "radio", name: "site", value: site ? site.name : "", checked: chosen === (site ? site.name : null) });
  radio.addEventListener("change", () => radio.checked && onSite(site));
  const lines = site
    ? site.channels.map((c) => el("span", { class: "chan", text: `${c.label || c.role} ${c.muid.slice(0, 8)} ${c.obis}` }))
    : [el("span", { class: "chan", text: "meters only" })];
  return el("li", {}, el("label", {}, radio, el("span", {}, el("span", { class: "site-name", text: site ? site.name : "No site" }), ...lines)));
}

/**
 * Renders both lists; ``onMeters(muids)`` gets the checked meters in list order, ``onSite(site | null)`` the
 * chosen site. ``selection()`` gives the current {meters, site} (the lists redraw from it on every search).
 */
export function renderPicker({ meters, sites }, selection, { onMeters, onSite }) {
  const search = $("#meter-search");

  const draw = () => {
    const { meters: selected, site: chosenSite } = selection();
    const chosen = new Set(selected);
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shownSites = sites.filter((s) => matchesText(siteText(s), words));
    $("#site-count").textContent = `${shownSites.length} of ${sites.length} sites`;
    $("#site-list").replaceChildren(
      ...(words.length ? [] : [siteItem(null, chosenSite, onSite)]),
      ...shownSites.map((site) => siteItem(site, chosenSite, onSite)),
    );
    const shown = meters.filter((m) => matchesText(meterText(m), words));
    $("#meter-count").textContent = `${shown.length} of ${meters.length} meters`;
    $("#meter-list").replaceChildren(
      ...shown.map((meter) => {
        const box = el("input", { type: "checkbox", value: meter.muid, checked: chosen.has(meter.muid) });
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(meter.muid);
          else chosen.delete(meter.muid);
          onMeters(meters.map((m) => m.muid).filter((m) => chosen.has(m)).concat([...chosen].filter((m) => !meters.some((x) => x.muid === m))));
        });
        const channels = meter.channels.map((c) => `${c.direction ?? ""} ${c.obis} (${c.unit ?? "no unit"})`.trim());
        return el(
          "li",
          {},
          el("label", {}, box, el("span", {}, el("span", { class: "muid", text: meter.muid }), ...channels.map((c) => el("span", { class: "chan", text: c })))),
        );
      }),
    );
  };
  search.oninput = draw;
  draw();
  return draw;
}
