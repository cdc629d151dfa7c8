// What the dashboard shows, kept in the URL fragment so that a view can be linked and reloaded:
// #m=<muid>,<muid>&r=month&s=2023-02-01T00:00&e=2023-03-01T00:00&i=auto&tz=UTC&c=1
import { RANGES, isZone, parseWall, periodAround } from "./time.js";

export const INTERVALS = ["auto", "15m", "1h", "1d", "1w", "1mo"];

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
  return { meters, range, start, end, interval, tz, compare: params.get("c") === "1" };
}

/** Writes the state into the fragment without a new history entry per click. */
export function writeState(state) {
  const params = new URLSearchParams();
  params.set("m", state.meters.join(","));
  params.set("r", state.range);
  if (state.start) params.set("s", state.start);
  if (state.end) params.set("e", state.end);
  params.set("i", state.interval);
  params.set("tz", state.tz);
  if (state.compare) params.set("c", "1");
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}
