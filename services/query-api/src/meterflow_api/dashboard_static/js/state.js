// What the dashboard shows, kept in the URL fragment so that a view can be linked and reloaded:
// #m=<muid>,<muid>&site=home&r=month&s=2023-02-01T00:00&e=2023-03-01T00:00&i=auto&tz=UTC&c=1&t=ch-ht-nt&sh=0.2
import { RANGES, isZone, parseWall, periodAround } from "./time.js";

export const INTERVALS = ["auto", "15m", "1h", "1d", "1w", "1mo"];
export const DEFAULT_TARIFF = "ch-ht-nt";
export const DEFAULT_SHIFT = 0.2;

/** The share of high-band use to move (0..1, in steps of 0.05); the default for anything else. */
function shareOf(text) {
  const share = Number(text);
  return text !== null && text !== "" && Number.isFinite(share) && share >= 0 && share <= 1 ? Math.round(share * 20) / 20 : DEFAULT_SHIFT;
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The state a fragment describes (missing or invalid parts: null, filled in once the meters are known). */
export function stateFromParams(params) {
  const range = [...RANGES, "custom"].includes(params.get("r")) ? params.get("r") : "month";
  const tz = params.get("tz") && isZone(params.get("tz")) ? params.get("tz") : browserZone();
  const interval = INTERVALS.includes(params.get("i")) ? params.get("i") : "auto";
  const meters = (params.get("m") || "").split(",").map((m) => m.trim()).filter(Boolean);
  let start = parseWall(params.get("s")) ? params.get("s") : null;
  let end = parseWall(params.get("e")) ? params.get("e") : null;
  if (start && start.length === 10) start += "T00:00";
  if (end && end.length === 10) end += "T00:00";
  if (start && range !== "custom") ({ start, end } = periodAround(range, start));
  if (start && (!end || parseWall(end) <= parseWall(start))) ({ start, end } = periodAround("day", start));
  const site = params.get("site") || null;
  const tariff = params.get("t") || DEFAULT_TARIFF;
  return { meters, site, range, start, end, interval, tz, compare: params.get("c") === "1", tariff, shift: shareOf(params.get("sh")) };
}

/** Writes the state into the fragment without a new history entry per click. */
export function writeState(state) {
  const params = new URLSearchParams();
  params.set("m", state.meters.join(","));
  if (state.site) params.set("site", state.site);
  params.set("r", state.range);
  if (state.start) params.set("s", state.start);
  if (state.end) params.set("e", state.end);
  params.set("i", state.interval);
  params.set("tz", state.tz);
  if (state.compare) params.set("c", "1");
  if (state.tariff !== DEFAULT_TARIFF) params.set("t", state.tariff);
  if (state.shift !== DEFAULT_SHIFT) params.set("sh", String(state.shift));
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}
