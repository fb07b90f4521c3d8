// The incident pane beside the board: what happened (the timeline, oldest first, in WIB),
// a notes box, how many people called, the units to send grouped by unit type with
// distance and ETA (any other unit type can be added beyond the run card), and closing,
// with a confirmation on the pane itself while units are still active. Only the controls
// the user's role may use are drawn (roles.js).

import * as API from "./api.js";
import { $, debounce, fill, h } from "./dom.js";
import {
  categoryLabel, codeText, dispositionLabel, formatDuration, formatKm, formatTime, queueLabel,
  roadText, statusLabel, t, unitTypeLabel,
} from "./i18n.js";
import { radiusText } from "./locate.js";
import { can } from "./roles.js";
import { toast } from "./toast.js";

const pane = {
  incidentId: null, timeline: [], candidates: null, extraTypes: new Map(), replacing: null,
  closing: null, limits: {}, meta: null, units: () => new Map(), onHide: () => {},
};

/** Wire the pane: meta (labels, limits), units() → Map of units, onHide(). */
export function initPane(options) {
  Object.assign(pane, options);
  pane.limits = options.meta?.limits || {};
}

function open(inc) { return (inc.assignments || []).filter((a) => !a.ended_at); }

/** Draw the pane for `inc` (null hides it). The skeleton is kept while the same incident. */
export function renderPane(inc, { rebuild = false } = {}) {
  const box = $("#detail");
  if (!inc) {
    box.hidden = true;
    box.dataset.for = "";
    document.body.dataset.pane = "closed";
    pane.incidentId = null;
    return;
  }
  box.hidden = false;
  document.body.dataset.pane = "open";
  const built = rebuild || box.dataset.for !== String(inc.id);
  if (built) {
    const fresh = box.dataset.for !== String(inc.id);
    box.dataset.for = String(inc.id);
    pane.incidentId = inc.id;
    if (fresh) { pane.replacing = null; pane.closing = null; pane.timeline = []; pane.candidates = null; }
    fill(box,
      h("div", { class: "detail-head" },
        h("h2", {}, t("detail.title", { id: inc.id })),
        h("button", { type: "button", id: "pane-hide", onclick: () => pane.onHide() },
          t("detail.hide"))),
      h("div", { id: "detail-info" }),
      h("div", { class: "pane-cols" },
        h("div", {},
          h("h3", {}, t("pane.timeline")),
          h("ol", { id: "timeline", class: "timeline" }),
          can("POST", "/api/v1/incidents/{id}/notes") ? noteForm(inc) : null),
        h("div", {},
          h("div", { id: "detail-assignments" }),
          canSeeCandidates() ? h("div", { id: "detail-candidates" }) : null,
          can("POST", "/api/v1/incidents/{id}/close") ? h("div", { id: "close-box" }, closeForm(inc))
            : null)),
      h("p", { class: "err pane-msg", id: "detail-error", role: "status" }),
      h("p", { class: "pane-keys" }, keysHint()));
    loadTimeline(inc.id);
  }
  renderInfo(inc);
  renderTimeline();
  // Asked for on selection; live updates redraw the list held, with the units' newer
  // statuses from the board (no request per event).
  if (canSeeCandidates() && (built || pane.candidates?.incident_id !== inc.id)) {
    loadCandidates(inc.id);
  } else if (canSeeCandidates()) renderCandidates(inc);
}

function keysHint() {
  return [
    can("POST", "/api/v1/incidents/{id}/notes") ? t("keys.note") : null,
    canAssign() ? t("keys.send") : null,
    can("POST", "/api/v1/incidents/{id}/close") ? t("keys.close") : null,
    t("keys.esc"), t("keys.cmd"),
  ].filter(Boolean).join(" · ");
}

const canSeeCandidates = () => can("GET", "/api/v1/incidents/{id}/candidates");
const canAssign = () => can("POST", "/api/v1/incidents/{id}/assignments");

function callers(inc) {
  if (typeof inc.callers === "number") return inc.callers;
  return 1 + pane.timeline.filter((e) => e.kind === "caller.linked" || e.kind === "caller").length;
}

function renderInfo(inc) {
  const active = open(inc);
  const where = inc.address || (inc.location ? `${inc.location.lat.toFixed(5)}, ${inc.location.lon.toFixed(5)}` : "");
  fill($("#detail-info"),
    h("p", {}, h("b", {}, `${categoryLabel(inc.category)} · P${inc.priority}`),
      ` · ${t(`incident.${inc.status}`)}`,
      inc.status === "queued" && inc.queue_reason ? ` (${queueLabel(inc.queue_reason)})` : "",
      " · ", h("span", { id: "callers-count" }, t("pane.callers", { n: callers(inc) })),
      inc.caller_phone ? ` · ${inc.caller_phone}` : ""),
    h("p", {}, where,
      inc.radius_m != null ? h("span", { class: "radius" }, ` ${radiusText(inc.radius_m)}`) : null,
      inc.desa ? ` · ${inc.desa}` : "", inc.kecamatan ? ` · Kec. ${inc.kecamatan}` : ""),
    inc.description ? h("p", { class: "desc" }, inc.description) : null,
    h("p", { class: "hint" }, formatTime(inc.received_at, { date: true })));
  fill($("#detail-assignments"),
    h("h3", {}, t("detail.assignments")),
    active.length ? h("ul", { class: "assignments" }, active.map((a) => h("li", {
      dataset: { unit: a.unit_id } },
    h("b", {}, a.callsign), ` ${statusLabel(a.status)} · ${formatKm(a.distance_m)} · `,
    `${t("unit.eta")} ${formatDuration(a.eta_s)}`, roadText(a), " ",
    canAssign() ? h("button", {
      type: "button", class: pane.replacing === a.id ? "active" : "",
      onclick: () => { pane.replacing = pane.replacing === a.id ? null : a.id; renderInfo(inc); },
    }, pane.replacing === a.id ? t("detail.cancel_replace") : t("detail.replace")) : null)))
      : h("p", { class: "empty" }, t("board.no_units")),
    pane.replacing ? h("p", { class: "hint" }, t("detail.replace_pick")) : null);
}

// ---------- timeline ----------

/**
 * An event row (GET /incidents/{id} before the timeline endpoint) or a timeline item
 * (GET …/timeline: {at, kind, event, text, callsign, status, …}), as one shape keyed by
 * the event log's kind, so one table of labels words both.
 */
function normalise(e, units) {
  const d = e.data || {};
  const unitId = e.unit_id ?? d.unit_id ?? null;
  const kind = e.event || KIND_EVENTS[e.kind] || e.kind;
  const text = e.text ?? d.note ?? d.text ?? "";
  return {
    at: e.at || e.occurred_at, kind, unit_id: unitId,
    callsign: e.callsign || d.callsign || units.get(unitId)?.callsign || (unitId ? `#${unitId}` : ""),
    status: e.status || d.status || d.disposition || "",
    // Only people's words are shown as text: a queue reason is a code, worded by the label.
    text: WORDS_KINDS.has(kind) ? text : "",
    reason: d.queue_reason || (kind === "incident.queued" ? text : ""),
    author: person(e.author || e.actor || ""), address: e.address ?? d.address ?? "",
    alert_kind: e.alert_kind || d.alert?.kind || d.alert_kind || "",
  };
}

// The timeline's short kinds for items that are not from the event log.
const KIND_EVENTS = { note: "incident.note_added", created: "incident.created",
  caller: "caller.linked", call: "call.logged", closed: "incident.closed",
  unit_status: "unit.status", unit_assigned: "unit.assigned", unit_released: "assignment.ended",
  alert_raised: "alert.raised", alert_acknowledged: "alert.acknowledged",
  alert_cleared: "alert.cleared", relocated: "incident.relocated" };
const WORDS_KINDS = new Set(["incident.note_added", "caller.linked", "call.logged",
  "incident.closed"]);

// The service's own names (the dispatcher worker, the relay, "system") are not people.
function person(name) {
  return !name || name.includes(":") || /^(system|anonymous|purge|dispatcher|relay)/.test(name)
    ? "" : name;
}

function itemText(e) {
  const key = `tl.${e.kind}`;
  const vars = { callsign: e.callsign, status: statusLabel(e.status), reason: queueLabel(e.reason),
    alert: e.alert_kind ? t(`alarm.${e.alert_kind}`, { callsign: e.callsign }) : "" };
  const label = t(key, vars);
  if (label === key) return t("tl.other");
  return e.kind === "incident.closed" && e.status ? `${label}: ${dispositionLabel(e.status)}` : label;
}

function renderTimeline() {
  const list = $("#timeline");
  if (!list) return;
  fill(list, ...pane.timeline.map((e) => h("li", {
    class: `tl-${e.kind.replace(/\W/g, "_")}${/note/.test(e.kind) ? " tl-note" : ""}` +
      `${/alert/.test(e.kind) ? " tl-alert" : ""}`, dataset: { kind: e.kind } },
  h("time", { datetime: e.at }, formatTime(e.at)), itemText(e),
  e.address && /caller|call/.test(e.kind) ? ` — ${e.address}` : "",
  e.text ? `: ${e.text}` : "", e.author ? h("small", { class: "hint" }, ` (${e.author})`) : null)));
  list.scrollTop = list.scrollHeight;
  const inc = pane.incidentId;
  const count = $("#callers-count");
  if (count && inc !== null && typeof pane.current?.callers !== "number") {
    count.textContent = t("pane.callers", { n: 1 + pane.timeline.filter((e) =>
      e.kind === "caller.linked" || e.kind === "caller").length });
  }
}

let timelineSeq = 0;
async function fetchTimeline(id) {
  const mine = ++timelineSeq;
  let items;
  try {
    items = can("GET", "/api/v1/incidents/{id}/timeline")
      ? (await API.api(`/api/v1/incidents/${id}/timeline`)).items
      : (await API.getIncident(id)).timeline || [];
  } catch {
    return; // the next event or selection reads it again
  }
  if (mine !== timelineSeq || pane.incidentId !== id) return;
  const units = pane.units();
  pane.timeline = items.map((e) => normalise(e, units))
    // "X: Dikirim" says nothing "X ditugaskan" has not already said.
    .filter((e) => !(e.kind === "unit.status" && e.status === "dispatched"))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  renderTimeline();
}
const loadTimeline = debounce(fetchTimeline, 120);

/** A live event: the open incident's timeline is read again. */
export function paneEvent(kind, ev) {
  if (pane.incidentId !== null && ev.incident_id === pane.incidentId) loadTimeline(pane.incidentId);
}

function limitCounter(input, limitKey) {
  const max = pane.limits[limitKey];
  if (!max) return null;
  input.maxLength = max;
  const counter = h("small", { class: "counter" }, t("chars", { n: 0, max }));
  input.addEventListener("input", () => {
    counter.textContent = t("chars", { n: input.value.length, max });
  });
  return counter;
}

function noteForm(inc) {
  const text = h("textarea", { id: "note-text", rows: 2, "aria-label": t("pane.note_add"),
    placeholder: t("pane.note_add") });
  const counter = limitCounter(text, "incident_note");
  const form = h("form", {
    class: "note-form", id: "note-form",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) { paneMsg(t("err.missing")); return; }
      try {
        await API.api(`/api/v1/incidents/${inc.id}/notes`, { method: "POST",
          body: { text: text.value } });
        text.value = "";
        if (counter) counter.textContent = t("chars", { n: 0, max: pane.limits.incident_note });
        paneMsg("");
        toast(t("pane.note_saved"), "ok");
        loadTimeline(inc.id);
      } catch (err) {
        paneMsg(err instanceof API.ApiError ? codeText(err.error) : t("err.network"));
      }
    },
    onkeydown: (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); e.stopPropagation(); form.requestSubmit(); } },
  }, text, h("div", {}, counter, h("button", { type: "submit", id: "note-save" }, t("pane.note_save"))));
  return form;
}

function paneMsg(text) {
  const el = $("#detail-error");
  if (el) el.textContent = text;
}

// ---------- candidates ----------

function wantedTypes(inc) {
  const base = inc.required_types || pane.meta?.categories?.[inc.category]?.units || [];
  return [...new Set([...base, ...(pane.extraTypes.get(inc.id) || [])])];
}

let candSeq = 0;
const loadCandidates = debounce(async (id) => {
  const inc = pane.current;
  if (pane.incidentId !== id || !inc) return;
  const mine = ++candSeq;
  const types = wantedTypes(inc);
  try {
    const res = await API.api(`/api/v1/incidents/${id}/candidates?limit=40` +
      (types.length ? `&type=${encodeURIComponent(types.join(","))}` : ""));
    if (mine === candSeq && pane.incidentId === id) { pane.candidates = res; renderCandidates(inc); }
  } catch (err) {
    const box = $("#detail-candidates");
    if (box) fill(box, h("p", { class: "err" }, err instanceof API.ApiError ? codeText(err.error) : t("err.network")));
  }
}, 150);

/** Keep the incident the pane shows (console.js passes the current record). */
export function setCurrent(inc) { pane.current = inc; }

function candidateRow(c, inc) {
  const now = pane.units().get(c.unit_id);   // the board's newer word on the unit, if any
  if (now) c = { ...c, status: now.status, incident_id: now.incident_id ?? null,
    available: now.status === "available" };
  const busy = !c.available;
  return h("li", { class: `cand${c.recommended ? " recommended" : ""}${busy ? " busy" : ""}`,
    dataset: { unit: c.unit_id } },
  h("b", {}, c.callsign), ` ${formatKm(c.distance_m)} · ${t("unit.eta")} ${formatDuration(c.eta_s)}`,
  roadText(c),
  c.stale_position ? h("em", {}, ` (${t("detail.stale")})`) : null,
  busy ? h("em", {}, ` (${statusLabel(c.status)}${c.incident_id ? ` #${c.incident_id}` : ""})`) : null,
  c.incident_id === inc.id || !canAssign() ? null : h("button", {
    type: "button", class: c.recommended ? "primary" : "", onclick: () => sendUnit(inc.id, c),
  }, busy ? t("detail.take") : t("detail.assign")));
}

function renderCandidates(inc) {
  const box = $("#detail-candidates");
  const res = pane.candidates;
  if (!box || !res) return;
  const unmet = new Set(res.unmet || []);
  const types = wantedTypes(inc);
  const groups = types.map((type) => {
    // Units already on this incident are listed under Penugasan, not offered again.
    const items = res.items.filter((c) => c.unit_type === type &&
      (pane.units().get(c.unit_id)?.incident_id ?? c.incident_id) !== inc.id);
    return h("div", { class: "cand-group", dataset: { type } },
      h("h4", {}, unitTypeLabel(type), unmet.has(type) ? h("span", { class: "need" }, t("pane.needed")) : null),
      items.length ? h("ul", { class: "cands" }, items.slice(0, 6).map((c) => candidateRow(c, inc)))
        : h("p", { class: "empty" }, t("pane.no_other")));
  });
  const others = Object.keys(pane.meta?.unit_types || {}).filter((u) => !types.includes(u));
  fill(box,
    h("h3", {}, t("pane.nearest")),
    h("p", { class: "ranking-note", dataset: { ranking: res.ranking, roads: res.roads } },
      t(res.roads === "degraded" ? "road.degraded" : `road.ranking_${res.ranking}`)),
    res.radius_m != null ? h("p", { class: "radius-note" },
      t("detail.radius_note", { radius: radiusText(res.radius_m) })) : null,
    groups,
    canAssign() && others.length ? h("div", { class: "add-type" },
      h("select", { id: "add-type", "aria-label": t("pane.add_type") },
        h("option", { value: "" }, t("pane.add_type_pick")),
        others.map((u) => h("option", { value: u }, unitTypeLabel(u)))),
      h("button", { type: "button", id: "add-type-go", onclick: () => {
        const v = $("#add-type").value;
        if (!v) return;
        pane.extraTypes.set(inc.id, [...(pane.extraTypes.get(inc.id) || []), v]);
        loadCandidates(inc.id);
      } }, t("pane.add_type"))) : null);
}

async function sendUnit(incidentId, c) {
  if (!c.available && !window.confirm(t("detail.confirm_take", { id: c.incident_id }))) return;
  const body = { unit_id: c.unit_id, take_from_other: !c.available };
  if (pane.replacing) body.replaces_assignment_id = pane.replacing;
  try {
    await API.assign(incidentId, body);
    pane.replacing = null;
    paneMsg("");
    toast(t("pane.sent", { callsign: c.callsign, id: incidentId }), "ok");
  } catch (err) {
    paneMsg(err instanceof API.ApiError ? codeText(err.error) : t("err.network"));
  }
}

/** Alt+K: send the first recommended unit of the open incident. */
export function sendRecommended() {
  const inc = pane.current;
  const free = (x) => (pane.units().get(x.unit_id)?.status ?? (x.available ? "available" : "")) ===
    "available";
  const c = pane.candidates?.items.find((x) => x.recommended && free(x) && x.incident_id !== inc?.id);
  if (inc && c && canAssign()) sendUnit(inc.id, c);
}

// ---------- closing ----------

function closeForm(inc) {
  const select = h("select", { id: "close-disposition", required: true },
    Object.keys(pane.meta.dispositions).map((code) =>
      h("option", { value: code }, dispositionLabel(code))));
  const note = h("input", { id: "close-note" });
  const counter = limitCounter(note, "close_note");
  return h("form", {
    class: "close-form", id: "close-form",
    onsubmit: (e) => {
      e.preventDefault();
      const active = open(pane.current || inc);
      if (active.length && !pane.closing) { askClose(inc, active, select.value, note.value); return; }
      doClose(inc.id, { disposition: select.value, note: note.value }, false);
    },
  }, h("label", {}, t("detail.disposition"), " ", select),
  h("label", {}, t("detail.note"), " ", counter, note),
  h("button", { type: "submit", class: "danger", id: "close-go" }, t("detail.close")));
}

function askClose(inc, active, disposition, note) {
  pane.closing = { disposition, note };
  const box = $("#close-box");
  const units = active.map((a) => a.callsign).join(", ");
  fill(box, h("div", { class: "dup-choice", id: "close-confirm", role: "alertdialog" },
    h("p", {}, t("pane.close_confirm", { units, id: inc.id })),
    h("div", { class: "choices" },
      h("button", { type: "button", class: "danger", id: "close-yes",
        onclick: () => doClose(inc.id, { disposition, note }, true) }, t("detail.close")),
      h("button", { type: "button", id: "close-no", onclick: () => {
        pane.closing = null;
        fill(box, closeForm(inc));
      } }, t("places.cancel")))));
  $("#close-yes").focus();
}

async function doClose(id, body, confirmed) {
  try {
    try {
      await API.closeIncident(id, body);
    } catch (err) {
      // The server asks again while units are active: the user has just confirmed.
      if (!(confirmed && err.status === 409 && err.error.code === "units_active")) throw err;
      await API.closeIncident(id, { ...body, confirm: true });
    }
    pane.closing = null;
    toast(t("pane.closed", { id }), "ok");
  } catch (err) {
    paneMsg(err instanceof API.ApiError ? codeText(err.error) : t("err.network"));
  }
}

/** Alt+X: start closing the open incident (focus the outcome). */
export function focusClose() { $("#close-disposition")?.focus(); }
/** Alt+N: the notes box. */
export function focusNote() { $("#note-text")?.focus(); }
