// The API client: every request carries the signed-in key in X-API-Key; errors become typed exceptions.
import { currentKey } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
export class Unauthorized extends ApiError {}
export class NotFound extends ApiError {}

function detailText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
  return `the API answered ${status}`;
}

/** GET an API path (relative to the site root) with query parameters; the parsed JSON body. */
export async function getJson(path, params = {}, { signal } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const url = query.size ? `${path}?${query}` : path;
  const headers = { Accept: "application/json" };
  const key = currentKey();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(url, { headers, signal });
  const body = await response.json().catch(() => null);
  if (response.ok) return body;
  const message = detailText(body, response.status);
  if (response.status === 401 || response.status === 403) throw new Unauthorized(response.status, message);
  if (response.status === 404) throw new NotFound(404, message);
  throw new ApiError(response.status, message);
}

/** Every meter, following next_cursor page by page. */
export async function allMeters({ signal } = {}) {
  const meters = [];
  let cursor = null;
  do {
    const page = await getJson("/v1/meters", { limit: 1000, cursor }, { signal });
    meters.push(...page.meters);
    cursor = page.next_cursor;
  } while (cursor);
  return meters;
}

const meterPath = (muid, what) => `/v1/meters/${encodeURIComponent(muid)}/${what}`;

export const series = (muid, params, opts) => getJson(meterPath(muid, "series"), params, opts);
export const profile = (muid, params, opts) => getJson(meterPath(muid, "profile"), params, opts);
export const stats = (muid, params, opts) => getJson(meterPath(muid, "stats"), params, opts);
