// Weekday × hour heatmap of each channel (the profile route): a table, so screen readers can read it.
import * as api from "../api.js";
import { $, el, formatValue, showEmpty } from "../dom.js";
import { cssVar } from "../theme.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/** [r, g, b] of a "#rrggbb" colour. */
function rgbOf(hex) {
  const n = Number.parseInt(hex.replace("#", ""), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** From the card's colour (no energy) to the channel's colour (the most in this table). */
function shade(value, max, color) {
  const lo = rgbOf(cssVar("--card"));
  const hi = rgbOf(cssVar(color));
  const f = max > 0 && value !== null ? value / max : 0;
  return `rgb(${lo.map((l, i) => Math.round(l + (hi[i] - l) * f)).join(",")})`;
}

function table(channel, answer) {
  const values = answer.weekday_hour.flat().filter((v) => v !== null);
  const max = Math.max(0, ...values);
  const head = el("tr", {}, el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: "Weekday" })));
  for (let hour = 0; hour < 24; hour++) head.append(el("th", { scope: "col", text: String(hour) }));
  const rows = answer.weekday_hour.map((row, day) => {
    const tr = el("tr", {}, el("th", { scope: "row", text: WEEKDAYS[day] }));
    row.forEach((value, hour) => {
      const cell = el("td", { title: `${WEEKDAYS[day]} ${hour}:00: ${formatValue(value)} ${answer.unit ?? ""}` },
        el("span", { text: value === null ? "–" : formatValue(value, 3) }));
      cell.style.background = shade(value, max, channel.color);
      cell.style.color = value !== null && max > 0 && value / max > 0.55 ? "#fff" : "inherit";
      tr.append(cell);
    });
    return tr;
  });
  return el(
    "table",
    { class: "heatmap", "data-muid": channel.muid },
    el("caption", { text: `${channel.label}: mean ${answer.unit ?? ""} per interval by weekday and hour (${answer.tz}).` }),
    el("thead", {}, head),
    el("tbody", {}, ...rows),
  );
}

let drawn = null; // the last answers, redrawn in the colours of a new theme

/** Draws the last answers again (after a theme change). */
export function redraw() {
  if (drawn) $("#heatmap-body").replaceChildren(...drawn.answers.map((answer, i) => table(drawn.channels[i], answer)));
}

export async function update(ctx) {
  const body = $("#heatmap-body");
  drawn = null;
  const answers = await Promise.all(
    ctx.channels.map((c) => api.profile(c.muid, { obis: c.hex, start: ctx.range.start, end: ctx.range.end, tz: ctx.state.tz }, { signal: ctx.signal })),
  );
  if (answers.every((a) => a.weekday_hour.flat().every((v) => v === null))) {
    showEmpty(body, "No readings in this range.");
    return;
  }
  drawn = { channels: ctx.channels, answers };
  redraw();
}
