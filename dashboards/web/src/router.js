// Client-side routes after `#`: `#/boards/b-1`, `#/chart?spec=…`. A route is a path and its
// query parameters; every page's state that matters is in it, so a URL reproduces the page.
import { useEffect, useState } from "preact/hooks";

export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query), parts: path.split("/").filter(Boolean) };
}

let navigations = 0;

/** The route, with `seq` counting navigations (so a page sees a link to the URL it has). */
export function useRoute() {
  const [route, setRoute] = useState({ ...parseHash(), seq: navigations });
  useEffect(() => {
    const update = () => setRoute({ ...parseHash(), seq: ++navigations });
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

export function navigate(path) {
  window.location.hash = path;
}

/** Changes the URL without a new history entry (the builder's state as it is edited). */
export function replaceRoute(path) {
  history.replaceState(null, "", `#${path}`);
}

/** A JSON value in a URL: base64url of its UTF-8 text. */
export function encodeState(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeState(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
