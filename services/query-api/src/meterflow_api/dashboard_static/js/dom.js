// Small DOM helpers shared by the views.
import { ApiError } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** An element with attributes (``text`` sets textContent) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** Replaces an element's content with an "empty" message. */
export function showEmpty(container, message) {
  container.replaceChildren(el("p", { class: "empty", text: message }));
}

/** Numbers for people: kWh with up to 4 significant decimals. */
export function formatValue(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits });
}

/** A number with exactly ``digits`` decimals ("36.20"); "–" for none. */
export function fixed(value, digits = 2) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Money for people: "CHF 25.07" (cents; the API's figures carry a hundredth of a cent). */
export function money(value, currency) {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat("en", { style: "currency", currency, currencyDisplay: "code" }).format(value).replace(/\u00a0/g, " ");
}

/** A share 0..1 as whole percent ("85 %"). */
export function percent(share) {
  if (share === null || share === undefined) return "–";
  return `${Math.round(share * 100)} %`;
}

/** A "Download … CSV" button's file name part: what is on screen, without characters file systems dislike. */
export function fileName(...parts) {
  return `meterflow_${parts.filter(Boolean).join("_")}.csv`.replaceAll(":", "");
}

/**
 * Runs a view's fetch; a request the API refuses for this view only (422: e.g. a range longer than cost and
 * insights take) is shown in ``container`` instead of failing every view. Returns null then.
 */
export async function orRefused(container, fetching) {
  try {
    return await fetching();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 422) throw error;
    container.replaceChildren(el("p", { class: "empty refused", text: `Not available for this range: ${error.message}` }));
    return null;
  }
}
