// The JSON API, with errors turned into ApiError carrying the server's error body.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.error = body?.error || {};
  }

  /** Field errors as [{field, message, type}], whatever the error's shape. */
  get fields() {
    if (Array.isArray(this.error.fields)) return this.error.fields;
    if (this.error.field) return [{ field: this.error.field, message: this.error.message }];
    return [];
  }
}

let session = null;
/** Who is logged in and the session's CSRF token (GET /api/v1/session), fetched once. */
export function whoami() {
  session ??= fetch("/api/v1/session", { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  return session;
}

/** Call the API; resolves to the parsed JSON, rejects with ApiError or a network TypeError. */
export async function api(path, { method = "GET", body, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (method !== "GET") headers["X-CSRF-Token"] = (await whoami())?.csrf || "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json().catch(() => null);
  if (resp.status === 401) {
    // The login has ended: the page leaves for the login form. The call never settles,
    // so no caller shows an error (or leaves an unhandled rejection) on the way out.
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return new Promise(() => {});
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const getMeta = () => api("/api/v1/meta");
export const getGeo = () => api("/api/v1/geo");
export const searchPlaces = (q, limit) =>
  api(`/api/v1/places?q=${encodeURIComponent(q)}&limit=${limit}`);
export const relocate = (id, body) =>
  api(`/api/v1/incidents/${id}/location`, { method: "POST", body });
// The console and its exchange panel load the open incidents at the same moment: one
// request answers both (the answer is not kept once it has arrived).
let openIncidentsRead = null;
export const openIncidents = () => {
  openIncidentsRead ??= api("/api/v1/incidents?status=open&limit=1000")
    .finally(() => { openIncidentsRead = null; });
  return openIncidentsRead;
};
export const getIncident = (id) => api(`/api/v1/incidents/${id}`);
export const createIncident = (body) => api("/api/v1/incidents", { method: "POST", body });
/** Log a call; `key` (Idempotency-Key) makes a retry of the same report return its first answer. */
export const logCall = (body, key) => api("/api/v1/calls", { method: "POST", body,
  headers: key ? { "Idempotency-Key": key } : {} });
/** A fresh Idempotency-Key for one create. */
export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
export const takeOver = (id) => api(`/api/v1/incidents/${id}/take-over`, { method: "POST" });
export const heldAml = (phone) =>
  api(`/api/v1/aml?status=held&limit=5&phone=${encodeURIComponent(phone)}`);
export function duplicates(lat, lon, category) {
  const q = new URLSearchParams({ lat, lon });
  if (category) q.set("category", category);
  return api(`/api/v1/duplicates?${q}`);
}
export const candidates = (id) => api(`/api/v1/incidents/${id}/candidates`);
export const route = (id, unitId) => api(`/api/v1/incidents/${id}/route?unit_id=${unitId}`);
export const assign = (id, body) =>
  api(`/api/v1/incidents/${id}/assignments`, { method: "POST", body });
export const closeIncident = (id, body) =>
  api(`/api/v1/incidents/${id}/close`, { method: "POST", body });
export const units = () => api("/api/v1/units");
export const getUnit = (id) => api(`/api/v1/units/${id}`);
export const setStatus = (id, status) =>
  api(`/api/v1/units/${id}/status`, { method: "POST", body: { status } });
export const setLocation = (id, lat, lon) =>
  api(`/api/v1/units/${id}/location`, { method: "PUT", body: { lat, lon } });


/** Great-circle distance in metres (display only: the server ranks by geodesic). */
export function haversineM(a, b) {
  const rad = Math.PI / 180, R = 6371008.8;
  const dp = (b.lat - a.lat) * rad, dl = (b.lon - a.lon) * rad;
  const h = Math.sin(dp / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}
