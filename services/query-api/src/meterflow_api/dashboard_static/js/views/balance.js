// The chosen site's energy balance (/v1/sites/{site}/balance): import, export, net and, where the site has a
// production channel, self-consumption and self-sufficiency; every figure the site cannot support is named with
// the API's reason (never guessed), and the daily import and export are drawn as bars with the net as a line.
import * as api from "../api.js";
import { destroyChart, drawChart } from "../chart.js";
import { $, el, fixed, orRefused, percent, showEmpty } from "../dom.js";
import { epochOf } from "../time.js";

export const FIGURES = [
  ["import_kwh", "Import from the grid", "kWh"],
  ["export_kwh", "Export to the grid", "kWh"],
  ["net_kwh", "Net (import − export)", "kWh"],
  ["production_kwh", "Production", "kWh"],
  ["self_consumption_kwh", "Self-consumption", "kWh"],
  ["self_consumption_rate", "Self-consumption rate", "share"],
  ["self_sufficiency", "Self-sufficiency", "share"],
];

let table = null;

/** The balance points on screen as {columns, rows}, for the CSV download; null when none is shown. */
export const onScreen = () => table;

const shown = (value, unit) => (unit === "share" ? percent(value) : `${fixed(value)} kWh`);

function totalsList(totals) {
  const items = FIGURES.filter(([key]) => key in totals).map(([key, label, unit]) =>
    el(
      "div",
      {},
      el("dt", { text: label }),
      el("dd", { "data-field": key, "data-value": totals[key], text: shown(totals[key], unit) }),
    ),
  );
  return el("dl", { class: "figures" }, ...items);
}

function unavailableList(unavailable) {
  const entries = Object.entries(unavailable ?? {});
  if (!entries.length) return null;
  const label = (key) => FIGURES.find(([k]) => k === key)?.[1] ?? key;
  return el(
    "div",
    { class: "unavailable" },
    el("h3", { text: "Not available for this site" }),
    el("ul", {}, ...entries.map(([key, reason]) => el("li", { "data-figure": key }, el("strong", { text: `${label(key)}: ` }), reason))),
  );
}

function drawDays(figure, answer, tz) {
  const points = answer.points;
  if (!points.length || points.every((p) => p.import_kwh === null && p.export_kwh === null)) {
    destroyChart(figure);
    showEmpty(figure, "No readings in this range.");
    figure.setAttribute("aria-label", "No balance in this range");
    return;
  }
  drawChart(figure, {
    x: points.map((p) => (epochOf(p.start) + epochOf(p.end)) / 2),
    xRange: [epochOf(points[0].start), epochOf(points.at(-1).end)],
    series: [
      { label: "Import", color: "--import", values: points.map((p) => p.import_kwh) },
      { label: "Export", color: "--export", values: points.map((p) => p.export_kwh) },
      { label: "Net", color: "--fourth", values: points.map((p) => p.net_kwh), line: true },
    ],
    kind: "bars",
    tz,
    yLabel: "kWh per day",
    height: 240,
  });
  const t = answer.totals;
  figure.setAttribute(
    "aria-label",
    `Bar chart of the site's daily import and export, ${points.length} days; import ${fixed(t.import_kwh)} kWh, export ${fixed(t.export_kwh)} kWh, net ${fixed(t.net_kwh)} kWh`,
  );
}

export async function update(ctx) {
  const section = $("#view-balance");
  const body = $("#balance-body");
  const figure = $("#balance-chart");
  table = null;
  section.hidden = !ctx.site;
  if (!ctx.site) {
    destroyChart(figure);
    return;
  }
  $("#balance-title").textContent = `Balance of ${ctx.site.name}`;
  const params = { start: ctx.range.start, end: ctx.range.end, tz: ctx.state.tz, interval: "1d" };
  const answer = await orRefused(body, () => api.balance(ctx.site.name, params, { signal: ctx.signal }));
  if (!answer) {
    destroyChart(figure);
    figure.replaceChildren();
    figure.setAttribute("aria-label", "No balance for this range");
    return;
  }
  body.replaceChildren(totalsList(answer.totals), ...[unavailableList(answer.unavailable)].filter(Boolean));
  drawDays(figure, answer, ctx.state.tz);
  const columns = ["start", "end", ...FIGURES.map(([key]) => key).filter((key) => key in answer.totals)];
  table = { columns, rows: answer.points.map((p) => columns.map((c) => p[c])) };
}
