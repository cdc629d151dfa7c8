// Data quality per channel: coverage of the range (stats), the gaps in the series on screen, the last reading,
// and from /v1/quality whether the channel is silent and how many of its intervals are missing since its first.
import * as api from "../api.js";
import { $, el, formatValue } from "../dom.js";
import { showWall, wallOf, epochOf } from "../time.js";

const MAX_GAPS_LISTED = 5;

/** Runs of buckets without readings: [{from, to, buckets}] (wall clocks in the zone). */
export function gapsOf(points, tz) {
  const gaps = [];
  let open = null;
  for (const p of points) {
    if (p.count === 0) {
      if (open) {
        open.to = p.end;
        open.buckets += 1;
      } else open = { from: p.start, to: p.end, buckets: 1 };
    } else if (open) {
      gaps.push(open);
      open = null;
    }
  }
  if (open) gaps.push(open);
  return gaps.map((g) => ({ ...g, from: wallOf(epochOf(g.from), tz), to: wallOf(epochOf(g.to), tz) }));
}

/** "2023-02-01 00:00 – 01:00" within a day, "2023-02-01 00:00 – 2023-02-03 00:00" across days. */
function gapText({ from, to }) {
  const sameDay = from.slice(0, 10) === to.slice(0, 10);
  return `${from.replace("T", " ")} – ${sameDay ? to.slice(11) : to.replace("T", " ")}`;
}

/** The /v1/quality entry of a channel (matched by meter and hex OBIS); null when the list has none. */
function qualityOf(quality, channel) {
  const meter = quality.find((m) => m.muid === channel.muid);
  return meter?.channels.find((c) => c.hex === channel.hex) ?? null;
}

function reporting(q) {
  if (!q || q.silent === null || q.silent === undefined) return "unknown";
  return q.silent ? "silent: no reading for over two intervals" : "reporting";
}

function missingText(q) {
  if (!q || q.expected === null || q.expected === undefined) return "–";
  return q.missing ? `${q.missing} of ${q.expected} intervals` : `none of ${q.expected} intervals`;
}

function channelBlock(channel, stats, gaps, tz, q) {
  const coverage = stats.coverage === null ? "–" : `${formatValue(stats.coverage * 100, 2)} %`;
  const last = channel.last ? showWall(wallOf(epochOf(channel.last), tz)) : "none";
  const list = gaps.length
    ? el(
        "ul",
        {},
        ...gaps.slice(0, MAX_GAPS_LISTED).map((g) => el("li", { text: gapText(g) })),
        gaps.length > MAX_GAPS_LISTED ? el("li", { text: `and ${gaps.length - MAX_GAPS_LISTED} more` }) : null,
      )
    : null;
  return el(
    "div",
    { class: "quality-channel", "data-muid": channel.muid },
    el("h3", { text: channel.label }),
    el(
      "dl",
      {},
      el("dt", { text: "Coverage" }),
      el("dd", { "data-field": "coverage", text: coverage }),
      el("dt", { text: "Readings" }),
      el("dd", { "data-field": "count", text: `${stats.count} of ${stats.expected} expected` }),
      el("dt", { text: "Gaps" }),
      el("dd", { "data-field": "gaps", text: gaps.length ? `${gaps.length}` : "none" }),
      el("dt", { text: "Last reading" }),
      el("dd", { "data-field": "last", text: last }),
      el("dt", { text: "Status" }),
      el("dd", { "data-field": "silent", "data-silent": String(q?.silent ?? "unknown"), text: reporting(q) }),
      el("dt", { text: "Missing since first" }),
      el("dd", { "data-field": "missing", text: missingText(q) }),
    ),
    list,
  );
}

export async function update(ctx) {
  const body = $("#quality-body");
  const [stats, series, quality] = await Promise.all([
    Promise.all(
      ctx.channels.map((c) => api.stats(c.muid, { obis: c.hex, start: ctx.range.start, end: ctx.range.end, tz: ctx.state.tz }, { signal: ctx.signal })),
    ),
    Promise.all(ctx.channels.map((c) => ctx.series(c, ctx.range, "sum"))),
    api.allQuality({ signal: ctx.signal }),
  ]);
  body.replaceChildren(
    el("div", { class: "quality" }, ...ctx.channels.map((c, i) => channelBlock(c, stats[i], gapsOf(series[i].points, ctx.state.tz), ctx.state.tz, qualityOf(quality, c)))),
  );
}
