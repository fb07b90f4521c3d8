// What the logged-in user may do, from the server's own role table (GET /api/v1/meta
// route_roles, built from ROUTE_ROLES): a page draws only the controls its user may use,
// so normal use never reaches a 403.

let roles = new Set();
let table = {};
let markReady;
/** Resolves once the page has given the session and the table (other modules wait on it). */
export const accessReady = new Promise((resolve) => { markReady = resolve; });

/** Give the session (GET /api/v1/session) and the meta document. */
export function setAccess(who, meta) {
  const list = Array.isArray(who?.roles) ? who.roles : who?.role ? [who.role] : [];
  roles = new Set(list);
  table = meta?.route_roles || {};
  markReady();
}

/**
 * True when one of the user's roles may call `method path` (the route template). A route
 * the table does not list is one this server does not offer: nothing asks for it.
 */
export function can(method, path) {
  const allowed = table[`${method} ${path}`] || [];
  return allowed.some((r) => roles.has(r));
}

/**
 * The console position for these roles: "combined" (takes and dispatches: a small centre's
 * night shift, or an admin), "call_taker", "dispatcher" or "supervisor" (reads only).
 */
export function position() {
  const intake = can("POST", "/api/v1/calls");
  const dispatch = can("POST", "/api/v1/incidents/{id}/assignments");
  if (intake && dispatch) return "combined";
  if (intake) return "call_taker";
  if (dispatch) return "dispatcher";
  return "supervisor";
}

export function roleList() { return [...roles]; }
