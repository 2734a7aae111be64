// The one way the UI talks to the server: JSON in and out, the API's `{code, error}` answers
// turned into ApiError, and a 401 sending the user to the login page.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** What a failed answer says: the API's `{"error"}`, else its text, else its status. */
export async function errorMessage(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).error || text || response.statusText;
  } catch {
    return text || response.statusText;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/**
 * Calls `/api/v1{path}`. `options`: `body` (sent as JSON), `accept` ("json" or "csv"),
 * `chart` (a saved chart's id, counted in the usage log), `signal` (to cancel).
 */
export async function api(method, path, options = {}) {
  const headers = {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  headers.accept = options.accept === "csv" ? "text/csv" : "application/json";
  if (options.chart) headers["x-sluice-chart"] = options.chart;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `The server did not answer (${e.message}). Is sluice still running?`);
  }
  if (response.status === 401 && path !== "/login") onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  if (response.status === 204) return null;
  if (options.accept === "csv") return response.text();
  return response.json();
}

export const get = (path, options) => api("GET", path, options);
export const post = (path, body, options = {}) => api("POST", path, { ...options, body });
export const put = (path, body, options = {}) => api("PUT", path, { ...options, body });
export const del = (path) => api("DELETE", path);
