// uPlot charts drawn from a plain description, redrawn on resize and on a theme change (canvas colours come
// from the theme's CSS custom properties).
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { cssVar } from "./theme.js";

const DAY = 86400;
const DAY_STEPS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 365 * DAY]; // bar charts of days: no hours
const charts = new Map(); // figure → {spec, plot}
const formatters = new Map();

/** The parts (year, month, day, hour, minute) of an instant in ``tz``: 24-hour clock, ISO-like order. */
function partsOf(seconds, tz) {
  if (!formatters.has(tz)) {
    formatters.set(tz, new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }));
  }
  return Object.fromEntries(formatters.get(tz).formatToParts(new Date(seconds * 1000)).map((p) => [p.type, p.value]));
}

/** Time-axis labels in the chart's zone: "13 Feb" per day or coarser, "14:00" within days (date under midnight). */
function timeLabels(tz) {
  return (u, splits, axis, space, increment) => {
    let previousDay = null;
    return splits.map((seconds) => {
      const p = partsOf(seconds, tz);
      const day = `${p.day} ${p.month}`;
      const first = previousDay === null;
      const label = increment >= 86400 ? (first || p.month === "Jan" && p.day === "1" ? `${day}\n${p.year}` : day)
        : (first || day !== previousDay ? `${p.hour}:${p.minute}\n${day}` : `${p.hour}:${p.minute}`);
      previousDay = day;
      return label;
    });
  };
}

/** The legend's time: "2023-02-13 14:00" style, in the chart's zone. */
function legendTime(tz) {
  return (u, seconds) => {
    if (seconds === null || seconds === undefined) return "–";
    const p = partsOf(seconds, tz);
    return `${p.day} ${p.month} ${p.year} ${p.hour}:${p.minute}`;
  };
}

/**
 * Draws ``spec`` into ``figure`` (replacing what was there):
 * {x: epoch seconds[], series: [{label, color: "--import", values: [], dash?, line?}], kind: "line"|"bars",
 *  tz, yLabel, height, onSelect?(fromSeconds, toSeconds)}
 */
export function drawChart(figure, spec) {
  destroyChart(figure);
  figure.replaceChildren();
  const plot = new uPlot(options(figure, spec), [spec.x, ...spec.series.map((s) => s.values)], figure);
  charts.set(figure, { spec, plot });
  figure.dataset.points = String(spec.x.length);
  figure.dataset.series = String(spec.series.filter((s) => !s.comparison).length);
}

export function destroyChart(figure) {
  const chart = charts.get(figure);
  if (chart) chart.plot.destroy();
  charts.delete(figure);
  delete figure.dataset.points;
  delete figure.dataset.series;
}

/** Redraws every chart (after a theme change). */
export function redrawAll() {
  for (const [figure, { spec }] of [...charts]) drawChart(figure, spec);
}

const resize = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = charts.get(entry.target);
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && width !== chart.plot.width) chart.plot.setSize({ width, height: heightOf(chart.spec) });
  }
});

function heightOf(spec) {
  const narrow = window.innerWidth < 600;
  return Math.round((spec.height || 300) * (narrow ? 0.8 : 1));
}

function seriesOptions(spec) {
  // In a bar chart a series with ``line: true`` is drawn as a line over the bars (a balance's net).
  const barSeries = spec.kind === "bars" ? spec.series.filter((s) => !s.line) : [];
  const count = barSeries.length;
  return spec.series.map((s) => {
    const color = cssVar(s.color) || s.color;
    const option = { label: s.label, stroke: color, width: s.comparison || s.line ? 1 : 1.5, spanGaps: false, points: { show: false } };
    if (s.dash) option.dash = s.dash;
    const i = barSeries.indexOf(s);
    if (i >= 0) {
      option.fill = color;
      option.paths = uPlot.paths.bars({ size: [0.8 / count, 60], align: count === 1 ? 0 : i === 0 ? -1 : 1 });
    } else if (s.line) {
      option.width = 2;
      option.points = { show: true, size: 5 };
    }
    return option;
  });
}

function options(figure, spec) {
  resize.observe(figure);
  const fg = cssVar("--fg");
  const grid = { stroke: cssVar("--grid"), width: 1 };
  const axis = { stroke: fg, grid, ticks: grid };
  const opts = {
    width: Math.max(figure.clientWidth, 280),
    height: heightOf(spec),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), spec.tz),
    scales: { x: { time: true, range: spec.xRange ? () => spec.xRange : undefined } },
    series: [{ label: "Time", value: legendTime(spec.tz) }, ...seriesOptions(spec)],
    axes: [
      { ...axis, values: timeLabels(spec.tz), space: 60, incrs: spec.kind === "bars" ? DAY_STEPS : undefined },
      { ...axis, label: spec.yLabel, size: 64 },
    ],
    legend: { live: true },
    cursor: { drag: { x: Boolean(spec.onSelect), y: false, setScale: false } },
    hooks: {},
  };
  if (spec.onSelect) {
    opts.hooks.setSelect = [
      (u) => {
        if (u.select.width < 4) return;
        const from = u.posToVal(u.select.left, "x");
        const to = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        spec.onSelect(from, to);
      },
    ];
  }
  return opts;
}
