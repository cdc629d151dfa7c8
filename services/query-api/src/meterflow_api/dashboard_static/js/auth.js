// Sign-in with an API key, kept in session storage (this tab only); "#key=…" in the URL signs in.
const STORAGE_KEY = "meterflow.apiKey";

export function currentKey() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function signIn(key) {
  sessionStorage.setItem(STORAGE_KEY, key.trim());
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * Takes a key from the fragment (#key=…&…): stores it and removes it from the address bar and the history
 * entry, so it is neither bookmarked nor shown. Returns the fragment's other parameters.
 */
export function takeKeyFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get("key");
  if (key) {
    signIn(key);
    params.delete("key");
    const rest = params.toString();
    history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  return params;
}
