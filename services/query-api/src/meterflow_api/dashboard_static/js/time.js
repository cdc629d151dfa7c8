// Calendar arithmetic on wall-clock times ("YYYY-MM-DDTHH:MM", read by the API in the chosen zone), and
// conversions between the API's instants and wall clocks of a zone. Wall clocks are handled as if UTC, so
// adding a day is always 24 wall-clock hours whatever the zone's DST does: the API resolves them.
export const RANGES = ["day", "week", "month", "year"];

const pad = (n) => String(n).padStart(2, "0");

/** "YYYY-MM-DDTHH:MM" of a Date whose UTC fields hold the wall clock. */
export function formatWall(date) {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
}

/** A wall clock ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM") as a Date whose UTC fields hold it; null if invalid. */
export function parseWall(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(text || "");
  if (!match) return null;
  const [, y, mo, d, h = "0", mi = "0"] = match;
  const date = new Date(Date.UTC(+y, +mo - 1, +d, +h, +mi));
  return Number.isNaN(date.getTime()) ? null : date;
}

function addUnits(date, kind, count) {
  const d = new Date(date.getTime());
  if (kind === "day") d.setUTCDate(d.getUTCDate() + count);
  else if (kind === "week") d.setUTCDate(d.getUTCDate() + 7 * count);
  else if (kind === "month") d.setUTCMonth(d.getUTCMonth() + count);
  else if (kind === "year") d.setUTCFullYear(d.getUTCFullYear() + count);
  return d;
}

/** The calendar day, week (Monday first), month or year around a wall clock: {start, end} wall clocks. */
export function periodAround(kind, wall) {
  const d = parseWall(wall);
  let start = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  if (kind === "week") start.setUTCDate(start.getUTCDate() - ((start.getUTCDay() + 6) % 7));
  else if (kind === "month") start = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  else if (kind === "year") start = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  return { start: formatWall(start), end: formatWall(addUnits(start, kind, 1)) };
}

/** The same kind of range moved by ``steps`` (negative: back); custom ranges move by their own length. */
export function shift(state, steps) {
  const start = parseWall(state.start);
  if (RANGES.includes(state.range)) return periodAround(state.range, formatWall(addUnits(start, state.range, steps)));
  const length = parseWall(state.end) - start;
  return {
    start: formatWall(new Date(start.getTime() + steps * length)),
    end: formatWall(new Date(parseWall(state.end).getTime() + steps * length)),
  };
}

/** One step wider: day → week → month → year; a custom range doubles around its middle. */
export function zoomOut(state) {
  const next = { day: "week", week: "month", month: "year", year: "year" }[state.range];
  if (next) return { range: next, ...periodAround(next, state.start) };
  return scaleAroundMiddle(state, 2);
}

const QUARTER_MS = 15 * 60 * 1000; // custom ranges snap to quarter hours, the finest interval

/** A custom range from one wall clock to another, widened to whole quarter hours. */
export function snapped(startMs, endMs) {
  return {
    range: "custom",
    start: formatWall(new Date(Math.floor(startMs / QUARTER_MS) * QUARTER_MS)),
    end: formatWall(new Date(Math.max(Math.ceil(endMs / QUARTER_MS), Math.floor(startMs / QUARTER_MS) + 1) * QUARTER_MS)),
  };
}

/** A custom range ``factor`` times as long, around the same middle (at least an hour). */
export function scaleAroundMiddle(state, factor) {
  const start = parseWall(state.start).getTime();
  const end = parseWall(state.end).getTime();
  const middle = (start + end) / 2;
  const half = Math.max(((end - start) * factor) / 2, 2 * QUARTER_MS);
  return snapped(middle - half, middle + half);
}

/** Hours between two wall clocks. */
export function spanHours(start, end) {
  return (parseWall(end) - parseWall(start)) / 3600000;
}

/** The interval "auto" means for a range: as fine as the API allows and a chart can show. */
export function autoInterval(start, end) {
  const hours = spanHours(start, end);
  if (hours <= 3 * 24) return "15m";
  if (hours <= 31 * 24) return "1h";
  if (hours <= 3 * 366 * 24) return "1d";
  return "1w";
}

const wallFormatters = new Map();

/** The wall clock ("YYYY-MM-DDTHH:MM") in ``tz`` of an instant given in epoch seconds. */
export function wallOf(epochSeconds, tz) {
  if (!wallFormatters.has(tz)) {
    wallFormatters.set(
      tz,
      new Intl.DateTimeFormat("en-CA", {
        timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23",
      }),
    );
  }
  const parts = Object.fromEntries(wallFormatters.get(tz).formatToParts(new Date(epochSeconds * 1000)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** True when the browser knows ``tz`` as a time zone. */
export function isZone(tz) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Epoch seconds of an ISO 8601 time stamp with offset, as the API writes them. */
export const epochOf = (iso) => Date.parse(iso) / 1000;

/** A wall clock for people: "2023-02-01 00:00" (just the date at midnight). */
export function showWall(wall) {
  return wall.endsWith("T00:00") ? wall.slice(0, 10) : wall.replace("T", " ");
}
