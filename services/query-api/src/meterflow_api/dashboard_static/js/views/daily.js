// Daily totals: one bar per calendar day of the zone and channel.
import { drawChart, destroyChart } from "../chart.js";
import { $, showEmpty } from "../dom.js";
import { epochOf } from "../time.js";

let table = null;

/** The daily totals on screen as {columns, rows}, for the CSV download; null when none is shown. */
export const onScreen = () => table;

export async function update(ctx) {
  const figure = $("#daily-chart");
  table = null;
  const answers = await Promise.all(ctx.channels.map((c) => ctx.series(c, ctx.range, "sum", "1d")));
  const points = answers[0].points;
  const series = answers.map((answer, i) => ({
    label: ctx.channels[i].label,
    color: ctx.channels[i].color,
    values: answer.points.map((p) => p.value),
  }));
  if (series.every((s) => s.values.every((v) => v === null))) {
    destroyChart(figure);
    showEmpty(figure, "No readings in this range.");
    figure.setAttribute("aria-label", "No daily totals in this range");
    return;
  }
  // Each day's bars stand in the middle of the day, with half a day of room at both ends.
  const x = points.map((p) => (epochOf(p.start) + epochOf(p.end)) / 2);
  drawChart(figure, {
    x,
    xRange: [epochOf(points[0].start), epochOf(points.at(-1).end)],
    series,
    kind: "bars",
    tz: ctx.state.tz,
    yLabel: `${answers[0].unit ?? ""} per day`,
    height: 240,
  });
  figure.setAttribute("aria-label", `Bar chart of daily totals, ${points.length} days`);
  table = {
    columns: ["start", "end", ...series.map((s) => s.label)],
    rows: points.map((p, j) => [p.start, p.end, ...series.map((s) => s.values[j])]),
  };
}
