// The meter picker: every meter with its channels, filtered by the search box; checked meters are shown.
import { $, el } from "../dom.js";

function matches(meter, words) {
  const text = [meter.muid, ...meter.channels.flatMap((c) => [c.obis, c.hex, c.direction, c.quantity, c.unit])]
    .join(" ")
    .toLowerCase();
  return words.every((word) => text.includes(word));
}

/** Renders the list; ``onChange(muids)`` gets the checked meters in list order. */
export function renderPicker(meters, selected, onChange) {
  const list = $("#meter-list");
  const search = $("#meter-search");
  const count = $("#meter-count");
  const chosen = new Set(selected);

  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = meters.filter((m) => matches(m, words));
    count.textContent = `${shown.length} of ${meters.length} meters`;
    list.replaceChildren(
      ...shown.map((meter) => {
        const box = el("input", { type: "checkbox", value: meter.muid, checked: chosen.has(meter.muid) });
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(meter.muid);
          else chosen.delete(meter.muid);
          onChange(meters.map((m) => m.muid).filter((m) => chosen.has(m)).concat([...chosen].filter((m) => !meters.some((x) => x.muid === m))));
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
}
