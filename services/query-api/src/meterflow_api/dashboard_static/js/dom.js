// Small DOM helpers shared by the views.
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
