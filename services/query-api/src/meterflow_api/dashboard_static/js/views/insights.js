// Insights as cards (/v1/meters/{muid}/insights), one set per chosen meter: each insight's sentence as the API
// writes it, beside its headline figure; what a meter cannot support is listed with the API's reason.
import * as api from "../api.js";
import { $, el, fixed, orRefused, percent, showEmpty } from "../dom.js";

const hour = (h) => `${String(h).padStart(2, "0")}:00`;

// Per insight: its title and its headline figure, from the API's numbers.
const CARDS = {
  base_load: ["Base load", (i) => `${fixed(i.kw)} kW`],
  standby: ["Standby share", (i) => percent(i.share)],
  peak_hours: ["Peak hours", (i) => (i.hours.length ? `${hour(i.hours[0])}–${hour((i.hours[0] + 1) % 24)}` : "–")],
  weekday_weekend: ["Weekdays and weekends", (i) => `${fixed(i.weekend_kwh_per_day)} / ${fixed(i.weekday_kwh_per_day)} kWh`],
  unusual_days: ["Unusual days", (i) => i.days[0]?.date ?? "none"],
  pv_window: ["Solar window", (i) => `${i.first}–${i.last}`],
};

function card(muid, name, insight) {
  const [title, figure] = CARDS[name] ?? [name.replaceAll("_", " "), () => ""];
  const id = `insight-${muid.slice(0, 8)}-${name}`;
  return el(
    "article",
    { class: "insight", "data-insight": name, "aria-labelledby": id },
    el("h4", { id, text: title }),
    el("p", { class: "insight-figure", "data-field": "figure", text: figure(insight) }),
    el("p", { class: "insight-sentence", "data-field": "sentence", text: insight.sentence }),
  );
}

function meterBlock(channelLabel, answer) {
  const { unavailable = {}, ...insights } = answer.insights;
  const cards = Object.entries(insights).map(([name, insight]) => card(answer.muid, name, insight));
  const missing = Object.entries(unavailable);
  return el(
    "div",
    { class: "insight-meter", "data-muid": answer.muid },
    el("h3", { text: channelLabel }),
    cards.length ? el("div", { class: "insight-cards" }, ...cards) : el("p", { class: "empty", text: "No insight in this range." }),
    missing.length
      ? el(
          "details",
          { class: "unavailable" },
          el("summary", { text: `Not available: ${missing.length}` }),
          el("ul", {}, ...missing.map(([name, reason]) => el("li", { "data-insight": name }, el("strong", { text: `${CARDS[name]?.[0] ?? name}: ` }), reason))),
        )
      : null,
  );
}

export async function update(ctx) {
  const body = $("#insights-body");
  const muids = [...new Set(ctx.channels.map((c) => c.muid))];
  const params = { start: ctx.range.start, end: ctx.range.end, tz: ctx.state.tz };
  const answers = await orRefused(body, () => Promise.all(muids.map((muid) => api.insights(muid, params, { signal: ctx.signal }))));
  if (!answers) return;
  if (!answers.length) return showEmpty(body, "Choose a meter.");
  const label = (muid) => {
    const directions = ctx.channels.filter((c) => c.muid === muid).map((c) => c.direction).filter(Boolean);
    return `${muid.slice(0, 8)}${directions.length ? ` (${[...new Set(directions)].join(", ")})` : ""}`;
  };
  body.replaceChildren(...answers.map((answer) => meterBlock(label(answer.muid), answer)));
}
