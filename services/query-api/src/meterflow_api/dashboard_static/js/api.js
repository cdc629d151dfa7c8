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

/** Every item of a paged list (``meters`` of /v1/meters, /v1/quality), following next_cursor page by page. */
async function allPages(path, params, { signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await getJson(path, { ...params, limit: 1000, cursor }, { signal });
    items.push(...page.meters);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export const allMeters = (opts) => allPages("/v1/meters", {}, opts);
export const allQuality = (opts) => allPages("/v1/quality", {}, opts);
export const sites = async (opts) => (await getJson("/v1/sites", {}, opts)).sites;
export const tariffs = async (opts) => (await getJson("/v1/tariffs", {}, opts)).tariffs;

const meterPath = (muid, what) => `/v1/meters/${encodeURIComponent(muid)}/${what}`;

export const series = (muid, params, opts) => getJson(meterPath(muid, "series"), params, opts);
export const profile = (muid, params, opts) => getJson(meterPath(muid, "profile"), params, opts);
export const stats = (muid, params, opts) => getJson(meterPath(muid, "stats"), params, opts);
export const cost = (muid, params, opts) => getJson(meterPath(muid, "cost"), params, opts);
export const insights = (muid, params, opts) => getJson(meterPath(muid, "insights"), params, opts);

const sitePath = (site, what) => `/v1/sites/${encodeURIComponent(site)}${what ? `/${what}` : ""}`;

export const balance = (site, params, opts) => getJson(sitePath(site, "balance"), params, opts);
export const siteCost = (site, params, opts) => getJson(sitePath(site, "cost"), params, opts);
