// The main chart: every selected channel over the range (import and export together), optionally with the
// previous period laid over it; what it draws is also what "Download CSV" writes.
import { drawChart, destroyChart } from "../chart.js";
import { $, formatValue, showEmpty } from "../dom.js";
import { epochOf, showWall } from "../time.js";

const INTERVAL_NAMES = { "15m": "15 minutes", "1h": "hour", "1d": "day", "1w": "week", "1mo": "month" };

function total(values) {
  return values.reduce((sum, v) => sum + (v ?? 0), 0);
}

/** Fetches and draws; returns the table on screen ({columns, rows}) for the CSV download. */
export async function update(ctx) {
  const figure = $("#series-chart");
  const answers = await Promise.all(ctx.channels.map((c) => ctx.series(c, ctx.range, "sum")));
  const previous = ctx.state.compare
    ? await Promise.all(ctx.channels.map((c) => ctx.series(c, ctx.previousRange, "sum")))
    : [];
  const points = answers[0].points;
  const series = answers.map((answer, i) => ({
    label: ctx.channels[i].label,
    color: ctx.channels[i].color,
    values: answer.points.map((p) => p.value),
  }));
  const comparisons = previous.map((answer, i) => ({
    label: `${ctx.channels[i].label}, previous period`,
    color: "--compare",
    dash: [6, 4],
    comparison: true,
    // Aligned by position: the n-th bucket of the previous period under the n-th of this one.
    values: points.map((_, j) => answer.points[j]?.value ?? null),
  }));
  if (series.every((s) => s.values.every((v) => v === null))) {
    destroyChart(figure);
    showEmpty(figure, `No readings from ${showWall(ctx.range.start)} to ${showWall(ctx.range.end)} (${ctx.state.tz}).`);
    figure.setAttribute("aria-label", "No readings in this range");
  } else {
    drawChart(figure, {
      x: points.map((p) => epochOf(p.start)),
      series: [...series, ...comparisons],
      tz: ctx.state.tz,
      yLabel: `${answers[0].unit ?? ""} per ${INTERVAL_NAMES[ctx.interval]}`,
      height: 320,
      onSelect: ctx.zoomTo,
    });
    const described = series.map((s) => `${s.label}: total ${formatValue(total(s.values))}`).join("; ");
    figure.setAttribute(
      "aria-label",
      `Line chart, ${points.length} points per ${INTERVAL_NAMES[ctx.interval]}, ${showWall(ctx.range.start)} to ${showWall(ctx.range.end)}. ${described}`,
    );
  }
  return {
    columns: ["start", "end", ...[...series, ...comparisons].map((s) => s.label)],
    rows: points.map((p, j) => [p.start, p.end, ...[...series, ...comparisons].map((s) => s.values[j])]),
    points: points.length,
  };
}
