// Light and dark themes: the system's choice (prefers-color-scheme) unless the toggle set one.
const STORAGE_KEY = "meterflow.theme";
const listeners = [];

export function currentTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === "light" || chosen === "dark") return chosen;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function apply(theme, button) {
  if (theme) document.documentElement.dataset.theme = theme;
  const dark = currentTheme() === "dark";
  button.textContent = dark ? "Light theme" : "Dark theme";
  button.setAttribute("aria-pressed", String(dark));
  listeners.forEach((listener) => listener());
}

/** Wires the toggle button; ``onChange`` runs after every theme change (charts redraw their colours). */
export function setUpTheme(button, onChange) {
  listeners.push(onChange);
  apply(localStorage.getItem(STORAGE_KEY), button);
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    localStorage.setItem(STORAGE_KEY, next);
    apply(next, button);
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => apply(null, button));
}

/** A CSS custom property of the current theme (colours for the canvas charts). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
