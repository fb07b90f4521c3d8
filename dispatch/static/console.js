// The operator console: call intake, live board, unit roster, map, dispatcher actions.
//
// The board is loaded once, then kept current by the live stream alone: each event
// carries the board snapshot of the incident and/or unit it changed, applied when
// newer than what is held (sse.js BoardStore). The API is read only on load, on
// `resync` and for the operator's own actions. body[data-board-loads] counts full
// reloads (first load and `resync` only: a resumed stream needs none).

import * as API from "./api.js";
import { $, $$, debounce, fill, h } from "./dom.js";
import {
  applyI18n, bindToggle, categoryLabel, codeText, errorText, formatDuration,
  onLangChange, parseDecimal, queueLabel, setMeta, statusLabel, t, unitTypeLabel,
} from "./i18n.js";
import * as Alerts from "./alerts.js";
import * as Calls from "./calls.js";
import * as CallLink from "./calllink.js";
import * as Locate from "./locate.js";
import { BlitarMap, showAssignedRoute } from "./map.js";
import * as Pane from "./pane.js";
import { can, position, setAccess } from "./roles.js";
import { BoardStore, bindBanner, LiveStream } from "./sse.js";
import { showSession } from "./session.js";
import * as Telephony from "./telephony.js";
import { bindTheme } from "./theme.js";
import { toast } from "./toast.js";

const STATUS_ORDER = ["available", "dispatched", "acknowledged", "en_route", "on_scene",
  "transporting", "at_hospital", "out_of_service"];

const board = new BoardStore();
const state = {
  meta: null, geo: null, map: null,
  incidents: board.incidents, units: board.units,
  selected: null, loads: 0,
  // The report being saved: its Idempotency-Key (the same for a retry of the same body).
  saving: false, submitKey: null, submitBody: "",
};

// ---------- loading and live updates ----------

// Resolved once the page's own data (meta, geography, map) is there to draw with.
let pageReady;
const ready = new Promise((resolve) => { pageReady = resolve; });

// Resolved once the board list was first drawn (or its load failed): the map, the
// page's heaviest drawing, waits for it.
let boardShown;
const shown = new Promise((resolve) => { boardShown = resolve; });

// A load that fails (the server busy, the network gone) is tried again: a console must
// never sit with half a board.
async function loadBoard() {
  try {
    await loadBoardOnce();
  } catch (err) {
    toast(err instanceof API.ApiError ? codeText(err.error) : t("err.network"), "err");
    setTimeout(loadBoard, 2000);
  }
}

async function loadBoardOnce() {
  board.beginLoad();
  // The incidents first and alone, drawn as soon as they are here; then the units (a
  // large fleet is the bigger answer, and the server's time for it would delay them).
  try {
    const inc = await API.openIncidents();
    performance.mark("siap112:incidents");
    board.finishPart("incident", inc.items);
    await ready;
    renderBoard();
    performance.mark("siap112:board");
  } finally {
    boardShown();
  }
  board.finishPart("unit", (await API.units()).items);
  performance.mark("siap112:units");
  state.loads += 1;
  document.body.dataset.boardLoads = String(state.loads);
  renderAll();
}

function onEvent(kind, ev) {
  const changed = board.apply(ev);
  ready.then(() => {   // in order, once the page can draw
    if (kind.startsWith("alert.")) Alerts.onAlertEvent(kind, ev);
    if (kind.startsWith("telephony.")) Telephony.onTelephonyEvent(kind, ev);
    Pane.paneEvent(kind, ev);
    if (kind === "aml.received") Calls.onAmlEvent(ev);
    if (kind.startsWith("call.location_")) CallLink.onLinkEvent(kind, ev);
    if (changed.incident || changed.unit) renderSoon();
  });
}

// A burst of frames draws the board once.
const renderSoon = debounce(() => renderAll({ live: true }), 50);

// ---------- rendering ----------

function renderAll({ live = false } = {}) {
  renderBoard();
  if (!live) updateNearby();   // the duplicate check follows the form, not the stream
  renderDetail();
  renderRestSoon();
}

// The incident list is what the operator reads first: the roster and the map (with a
// large fleet, thousands of markers) are drawn after the browser has shown it.
let restPending = false;
async function renderRestSoon() {
  if (restPending) return;
  restPending = true;
  await nextPaint();
  restPending = false;
  renderRoster();
  renderMap();
  performance.mark("siap112:rest");
}

/** Resolves after the browser has drawn what the page holds now. */
function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function openIncidentsSorted() {
  return [...state.incidents.values()].sort((a, b) =>
    a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at) || a.id - b.id);
}

function incidentItem(inc) {
  const open = (inc.assignments || []).filter((a) => !a.ended_at);
  const queued = inc.status === "queued" || (inc.status === "pending" && open.length === 0);
  const handover = (inc.queue_reason || "").startsWith("handover_");
  const alert = Alerts.alertState(inc.id);
  return h("li", {
    class: `incident p${inc.priority} ${inc.status}${queued ? " waiting" : ""}` +
      `${handover ? " handover" : ""}${alert ? ` alerting${alert === "acked" ? " acked" : ""}` : ""}` +
      `${inc.id === state.selected ? " selected" : ""}`,
    dataset: { id: inc.id }, tabindex: 0,
    onclick: () => select(inc.id),
    onkeydown: (e) => { if (e.key === "Enter") select(inc.id); },
  },
  h("div", { class: "row1" },
    h("span", { class: "inc-id" }, `#${inc.id}`),
    h("span", { class: "prio" }, `P${inc.priority}`),
    h("span", { class: "cat" }, categoryLabel(inc.category)),
    h("span", { class: "elapsed", dataset: { since: inc.received_at }, title: t("board.elapsed") },
      formatDuration((Date.now() - Date.parse(inc.received_at)) / 1000))),
  h("div", { class: "row2" }, inc.address || coords(inc.location),
    inc.desa ? [" ", h("span", { class: "desa" }, inc.desa)] : null,
    inc.kecamatan ? [" ", h("span", { class: "kec" }, `Kec. ${inc.kecamatan}`)] : null,
    inc.radius_m != null ? [" ", h("span", { class: "radius", title: t("place.radius") },
      Locate.radiusText(inc.radius_m))] : null),
  handover && can("POST", "/api/v1/incidents/{id}/take-over") ? handoverFlag(inc) : null,
  queued && !handover ? h("div", { class: "queued-flag" }, t("board.queued"),
    inc.queue_reason ? ` (${queueLabel(inc.queue_reason)})` : "") : null,
  h("ul", { class: "assigned" }, open.length ? open.map((a) => h("li", {
    class: `st-${a.status}`, dataset: { unit: a.unit_id },
  }, h("b", {}, a.callsign), " ", h("span", { class: "unit-status" }, statusLabel(a.status))))
    : queued ? null : h("li", { class: "none" }, t("board.no_units"))));
}

// Our centre does not dispatch here unless a dispatcher takes the incident over.
function handoverFlag(inc) {
  const area = (state.geo?.boundaries?.areas?.features || [])
    .find((f) => f.properties.code === inc.handover_to)?.properties.name;
  const label = area ? t("board.handover_to", { area })
    : inc.queue_reason === "handover_kota_blitar" ? t("board.handover_kota")
      : t("board.handover_outside");
  return h("div", { class: "handover-flag", onclick: (e) => e.stopPropagation() }, label,
    h("button", { type: "button", class: "take-over", onclick: () => takeOver(inc.id) },
      t("board.take_over")));
}

async function takeOver(id) {
  try {
    await API.takeOver(id);
  } catch (err) {
    toast(err instanceof API.ApiError ? codeText(err.error) : t("err.network"), "err");
  }
}

function coords(loc) {
  return loc ? `${loc.lat.toFixed(4)}, ${loc.lon.toFixed(4)}` : "";
}

function renderBoard() {
  const list = openIncidentsSorted();
  fill($("#board"), ...(list.length ? list.map(incidentItem)
    : [h("li", { class: "empty" }, t("board.empty"))]));
}

function renderRoster() {
  const groups = STATUS_ORDER.map((status) => {
    const units = [...state.units.values()].filter((u) => u.status === status)
      .sort((a, b) => a.callsign.localeCompare(b.callsign));
    if (!units.length) return null;
    return h("div", { class: `roster-group st-${status}`, dataset: { status } },
      h("h3", {}, `${statusLabel(status)} (${units.length})`),
      h("div", { class: "chips" }, units.map((u) => h("span", {
        class: "chip", dataset: { unit: u.id }, title: unitTypeLabel(u.unit_type),
      }, u.callsign, u.incident_id ? ` → #${u.incident_id}` : ""))));
  });
  fill($("#roster"), ...groups.filter(Boolean));
}

function renderMap() {
  if (!state.map) return;
  state.map.setIncidents(openIncidentsSorted(), state.selected);
  state.map.setUnits([...state.units.values()]);
  state.map.setAccuracy(Calls.amlCircles(new Set(state.incidents.keys())));
  state.map.setCallerFixes(CallLink.fixCircles());
  // The selected incident's unit's road route (none without routing data).
  if (can("GET", "/api/v1/incidents/{id}/route")) {
    showAssignedRoute(state.map, state.incidents.get(state.selected), API.route);
  }
}

function tickElapsed() {
  const now = Date.now();
  for (const el of $$("[data-since]")) {
    el.textContent = formatDuration((now - Date.parse(el.dataset.since)) / 1000);
  }
}

// ---------- the incident pane (pane.js) ----------

function select(id) {
  state.selected = id;
  renderBoard();
  renderMap();
  renderDetail();
}

function hidePane() {
  state.selected = null;
  renderAll();
}

function renderDetail({ rebuild = false } = {}) {
  const inc = state.incidents.get(state.selected) ?? null;
  if (!inc) state.selected = null;
  Pane.setCurrent(inc);
  const was = document.body.dataset.pane;
  Pane.renderPane(inc, { rebuild });
  // The map's box changes size when the pane opens or closes beside it.
  if (was !== document.body.dataset.pane) requestAnimationFrame(() => state.map?.map?.invalidateSize());
}

// ---------- call intake ----------

function renderCategories() {
  const box = $("#f-categories");
  const current = $("input[name=category]:checked")?.value;
  fill(box, ...Object.keys(state.meta.categories).map((code, i) => h("label",
    { class: "cat-option", title: categoryLabel(code) },
    h("input", { type: "radio", name: "category", value: code }),
    i < 9 ? h("kbd", {}, String(i + 1)) : h("span", { class: "kbd-none" }), " ",
    categoryLabel(code))));
  // A redraw (language change) keeps the choice without making it what reset() returns to.
  const radio = current ? $(`input[name=category][value="${current}"]`) : null;
  if (radio) radio.checked = true;
}

function pickCategory(index) {
  const radios = $$("input[name=category]");
  if (radios[index]) { radios[index].checked = true; radios[index].focus(); }
}

function formLocation() {
  const latText = $("#f-lat").value.trim(), lonText = $("#f-lon").value.trim();
  if (!latText && !lonText) return null;
  // The decimal comma is how Indonesians write it: "-8,135" is -8.135.
  const num = (v) => { const n = parseDecimal(v); return Number.isNaN(n) ? v || null : n; };
  const loc = { lat: num(latText), lon: num(lonText) };
  // A desa or place picked from the suggestions: the server puts the incident at its
  // point with its radius (as long as the coordinates were not typed over since).
  const picked = Locate.chosenLocation();
  if (picked && picked.lat === loc.lat && picked.lon === loc.lon) {
    return { ...loc, source: picked.source, code: picked.code };
  }
  return loc;
}

/** The map's extent (the regency and its neighbours): a point outside it is a typing slip. */
function mapBounds() {
  if (!state.geo) return null;   // not loaded yet: the server checks the bounds anyway
  if (state.bounds !== undefined) return state.bounds;
  let b = null;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b = b ? { s: Math.min(b.s, c[1]), n: Math.max(b.n, c[1]), w: Math.min(b.w, c[0]), e: Math.max(b.e, c[0]) }
        : { s: c[1], n: c[1], w: c[0], e: c[0] };
    } else c.forEach(walk);
  };
  for (const f of state.geo?.boundaries?.areas?.features || []) walk(f.geometry.coordinates);
  state.bounds = b;
  return b;
}

/** Errors the form can tell before asking the server, in the user's language. */
function localErrors(body, loc) {
  const errs = [];
  const b = mapBounds();
  for (const k of ["lat", "lon"]) {
    const v = loc?.[k];
    if (v === null || v === undefined) continue;
    if (typeof v !== "number") errs.push({ field: `location.${k}`, text: t("err.bad_coord") });
  }
  if (loc && typeof loc.lat === "number" && typeof loc.lon === "number" && b &&
      (loc.lat < b.s || loc.lat > b.n || loc.lon < b.w || loc.lon > b.e)) {
    errs.push({ field: "location", text: t("err.outside_map") });
  }
  if (!body.caller_phone.trim()) errs.push({ field: "caller_phone", text: t("err.missing") });
  if (body.incident) {
    if (!body.incident.category) errs.push({ field: "category", text: t("err.category") });
    if (!body.incident.location && !body.incident.address.trim()) {
      errs.push({ field: "address", text: t("err.where") });
    }
  }
  if (body.disposition === "handover" && !body.handover_to) {
    errs.push({ field: "handover_to", text: t("err.missing") });
  }
  for (const [field, max] of Object.entries(state.meta.limits || {})) {
    const input = $(`#intake-form [data-limit="${field}"]`);
    if (input && input.value.length > max) errs.push({ field: input.name, text: t("err.too_long_n", { max }) });
  }
  return errs;
}

function setLocation(lat, lon) {
  Locate.clearChosen();
  $("#f-lat").value = lat;
  $("#f-lon").value = lon;
  onLocationInput();
}

function onLocationInput() {
  const loc = formLocation();
  const ok = loc && typeof loc.lat === "number" && typeof loc.lon === "number";
  state.map?.setPick(ok ? loc.lat : null, ok ? loc.lon : null);
  updateNearby();
}

// The server decides what counts as a duplicate (radius, time, compatible categories).
function updateNearby() {
  Calls.updateDuplicates(formLocation(), $("input[name=category]:checked")?.value);
}

function clearErrors() {
  for (const el of $$("#intake-form .err")) el.textContent = "";
  for (const el of $$("#intake-form [aria-invalid]")) el.removeAttribute("aria-invalid");
}

function showErrorText(field, text) {
  const name = Calls.formField(field || "body");
  const slot = $(`[data-err="${name}"]`) || $(`[data-err="${name.split(".")[0]}"]`) ||
    $("[data-err=body]");
  slot.textContent = [slot.textContent, text].filter(Boolean).join("; ");
  $(`[name="${name}"]`)?.setAttribute("aria-invalid", "true");
}

function showErrors(err) {
  const fields = err.fields.length ? err.fields : [];
  if (!fields.length) { showErrorText("body", codeText(err.error)); return; }
  for (const f of fields) {
    const name = Calls.formField(f.field || "body");
    const input = $(`#intake-form [name="${name}"]`);
    const limit = input?.dataset.limit ? state.meta.limits?.[input.dataset.limit] : null;
    showErrorText(f.field, errorText({ ...f, field: name },
      { value: input && input.type !== "radio" ? input.value : null, max: limit }));
  }
}

function setSaving(on) {
  state.saving = on;
  const button = $("#f-submit");
  button.disabled = on;
  button.textContent = on ? t("saving") : t("intake.submit");
}

async function submitIntake(e) {
  e.preventDefault();
  if (state.saving) return; // a second Ctrl+Enter while the first is on its way
  clearErrors();
  hideDupChoice();
  const loc = formLocation();
  const body = Calls.callBody({
    caller_phone: $("#f-phone").value,
    category: $("input[name=category]:checked")?.value ?? "",
    priority: Number($("#f-priority").value),
    address: $("#f-address").value,
    description: $("#f-notes").value,
    location: loc,
  });
  const msg = $("#intake-msg");
  const local = localErrors(body, loc);
  if (local.length) {
    for (const e2 of local) showErrorText(e2.field, e2.text);
    msg.className = "err";
    msg.textContent = t("code.validation_failed");
    return;
  }
  await send(body);
}

/** POST the call; the same body keeps its key, so a retry is answered, not repeated. */
async function send(body) {
  const text = JSON.stringify(body);
  if (text !== state.submitBody || !state.submitKey) {
    state.submitKey = API.newKey();
    state.submitBody = text;
  }
  const msg = $("#intake-msg");
  setSaving(true);
  msg.className = "";
  msg.textContent = t("saving");
  try {
    const answer = await API.logCall(body, state.submitKey);
    Calls.afterLogged(answer);
    const inc = answer.incident;
    if (inc && !state.incidents.has(inc.id)) {
      state.incidents.set(inc.id, { ...inc, assignments: [] });
    }
    callLogged(answer);
  } catch (err) {
    if (err instanceof API.ApiError && err.status === 409 && err.error.code === "possible_duplicate") {
      msg.textContent = "";
      showDupChoice(body, err.error.candidates || []);
      return;
    }
    msg.className = "err";
    msg.textContent = err instanceof API.ApiError ? codeText(err.error) : t("err.network");
    if (err instanceof API.ApiError) showErrors(err);
    toast(msg.textContent, "err");
  } finally {
    setSaving(false);
  }
}

// "Same incident or a new one?": the server found an open incident of the same kind
// nearby. The call-taker links the caller to it (no unit sent again) or says it is new.
function showDupChoice(body, candidates) {
  const box = $("#dup-choice");
  box.hidden = false;
  fill(box, h("h3", {}, t("dup.title")),
    h("ul", {}, candidates.map((c) => h("li", { dataset: { id: c.id } },
      `#${c.id} ${categoryLabel(c.category)} · P${c.priority} · ${c.address || ""}`,
      c.distance_m != null ? ` · ${Math.round(c.distance_m)} m` : "",
      c.callers ? ` · ${t("pane.callers", { n: c.callers })}` : ""))),
    h("p", { class: "hint" }, t("dup.hint")),
    h("div", { class: "choices" },
      candidates.map((c, i) => h("button", {
        type: "button", class: i === 0 ? "primary dup-link" : "dup-link", dataset: { id: c.id },
        onclick: () => linkAsDuplicate(body, c.id),
      }, t("dup.link", { id: c.id }))),
      h("button", { type: "button", class: "dup-new", id: "dup-new",
        onclick: () => { hideDupChoice(); send({ ...body, confirm_new: true }); } },
      t("dup.new"))));
  box.querySelector("button")?.focus();
  box.scrollIntoView({ block: "nearest" });
  toast(t("dup.title"), "err");
}

function hideDupChoice() {
  const box = $("#dup-choice");
  box.hidden = true;
  fill(box);
}

async function linkAsDuplicate(body, incidentId) {
  hideDupChoice();
  const link = { caller_phone: body.caller_phone, disposition: "duplicate", incident_id: incidentId,
    note: body.incident?.description || body.note || "" };
  const loc = body.incident?.location;
  if (loc && typeof loc.lat === "number") link.location = { lat: loc.lat, lon: loc.lon };
  for (const k of ["answered_at", "rang_at", "telephony_call_id"]) if (body[k]) link[k] = body[k];
  // The incident keeps the first caller's address; this caller's goes on its timeline (in
  // the note, where the API has no address for a linked call).
  const address = body.incident?.address || "";
  if (address && state.meta.limits?.call_address) link.address = address;
  else if (address) link.note = [address, link.note].filter(Boolean).join(" — ");
  setSaving(true);
  try {
    await Calls.linkCall(link);
  } finally {
    setSaving(false);
  }
}

/** The form is done with: say what was stored, and make it ready for the next call. */
function callLogged(answer) {
  const msg = $("#intake-msg");
  msg.className = "ok";
  msg.textContent = answer.incident_id
    ? t(answer.disposition === "duplicate" ? "call.linked" : "intake.saved",
      { id: answer.incident_id })
    : t("call.saved", { id: answer.id, disposition: t(`call.${answer.disposition}`) });
  CallLink.onCallLogged(answer);
  toast(msg.textContent, "ok");
  state.submitKey = null;
  state.submitBody = "";
  Calls.resetClock();
  hideDupChoice();
  $("#intake-form").reset();
  updateCounters();
  Locate.clearChosen();
  Calls.renderDispositions("emergency");
  onLocationInput();
  renderAll();
  $("#f-phone").focus();
}

function updateCounters() {
  for (const el of $$("[data-count]")) {
    const input = $(`#${el.dataset.count}`);
    const max = state.meta?.limits?.[input.dataset.limit];
    if (!max) continue;
    el.textContent = t("chars", { n: input.value.length, max });
    el.classList.toggle("over", input.value.length > max * 0.95);
  }
}

function bindIntake() {
  const form = $("#intake-form");
  // One limit, the API's (GET /api/v1/meta limits): typing stops there, a counter shows it.
  for (const input of $$("#intake-form [data-limit]")) {
    const max = state.meta.limits?.[input.dataset.limit];
    if (max) input.maxLength = max;
    input.addEventListener("input", updateCounters);
  }
  updateCounters();
  form.addEventListener("submit", submitIntake);
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    if (e.altKey && /^[1-9]$/.test(e.key)) { e.preventDefault(); pickCategory(Number(e.key) - 1); }
    // e.code, not e.key: Alt+letter types a symbol on some keyboard layouts.
    const letter = /^Key[A-Z]$/.test(e.code) ? e.code.slice(3) : "";
    if (e.altKey && !e.ctrlKey && letter && Calls.pickDisposition(letter)) e.preventDefault();
  });
  $("#f-categories").addEventListener("keydown", (e) => {
    if (!e.altKey && /^[1-9]$/.test(e.key)) { e.preventDefault(); pickCategory(Number(e.key) - 1); }
  });
  for (const id of ["#f-lat", "#f-lon"]) {
    $(id).addEventListener("input", () => { Locate.clearChosen(); onLocationInput(); });
  }
  $("#answer").addEventListener("click", answerCall);
  Locate.initLocate({
    onPick: (item) => {
      $("#f-lat").value = String(item.lat);
      $("#f-lon").value = String(item.lon);
      onLocationInput();
    },
  });
}

/** "Terima panggilan" (F2): take the ringing call if one rings, else mark the call answered now. */
function answerCall() {
  if (!Telephony.answerRinging()) Calls.markAnswered();
  $("#f-phone").focus();
}

// ---------- keyboard: shortcuts and the command line ----------

function typing(e) {
  return e.target instanceof HTMLElement && e.target.matches("input, textarea, select");
}

function onKey(e) {
  const intake = can("POST", "/api/v1/calls");
  if (e.key === "F2" && intake) { e.preventDefault(); answerCall(); return; }
  if (e.key === "/" && !typing(e)) { e.preventDefault(); $("#cmd").focus(); return; }
  if (e.key === "Escape" && state.selected !== null && !typing(e)) { hidePane(); return; }
  if (!e.altKey || e.ctrlKey || state.selected === null) return;
  const letter = /^Key[A-Z]$/.test(e.code) ? e.code.slice(3) : "";
  const action = { N: Pane.focusNote, K: Pane.sendRecommended, X: Pane.focusClose }[letter];
  // N, K and X are no call type's letter: they work in the form too.
  if (action) {
    e.preventDefault();
    action();
  }
}

/** "61" open · "k 61" send the recommended unit · "t 61" close · "c 61 text" note. */
async function runCommand(text) {
  const m = /^\s*(?:([ktc])\s+)?#?(\d{1,9})(?:\s+(.+))?\s*$/i.exec(text);
  if (!m || !state.incidents.has(Number(m[2]))) { toast(t("cmd.unknown"), "err"); return; }
  const [, verb, id, rest] = m;
  select(Number(id));
  const v = (verb || "").toLowerCase();
  if (v === "k") setTimeout(Pane.sendRecommended, 400);
  if (v === "t") Pane.focusClose();
  if (v === "c" && rest && can("POST", "/api/v1/incidents/{id}/notes")) {
    const note = $("#note-text");
    if (note) { note.value = rest; $("#note-form").requestSubmit(); }
  } else if (v === "c") Pane.focusNote();
}

function bindCommandLine() {
  const cmd = $("#cmd");
  cmd.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); runCommand(cmd.value); cmd.value = ""; }
    if (e.key === "Escape") { cmd.value = ""; cmd.blur(); }
  });
  document.addEventListener("keydown", onKey);
}

// ---------- the position: what this user's roles may see and do ----------

function applyPosition(who) {
  setAccess(who, state.meta);
  const pos = position();
  document.body.dataset.position = pos;
  $("#position").textContent = t(`pos.${pos}`);
  for (const a of $$("header nav a[data-route]")) {
    const [method, path] = a.dataset.route.split(" ");
    a.hidden = !can(method, path);
  }
  // The exchange panel's callbacks and handovers: staff that may act on them.
  $("#exchange-panel").hidden = !can("GET", "/api/v1/handovers");
  if (!can("POST", "/api/v1/calls")) $("#f-phone").removeAttribute("autofocus");
  return pos;
}

// ---------- start ----------

async function main() {
  bindToggle($("#lang"));
  showSession($("#session"));
  // The stream first, so the board loads while the page's own data does.
  const live = new LiveStream({
    onEvent,
    onState: bindBanner($("#conn-banner"), $("#conn-badge"), t),
    // Subscribe first, then load: nothing committed in between is lost.
    onReady: ({ resumed }) => {
      performance.mark("siap112:subscribed");
      if (!resumed) loadBoard();   // a resumed stream sends what was missed, snapshots and all
      ready.then(() => {   // what this user's role reads (known once the page is set up)
        Alerts.reload();
        if (["combined", "call_taker"].includes(position())) Telephony.loadRinging();
      });
    },
    onResync: () => loadBoard(),
  });
  window.siap112 = { live, state };
  live.connect();
  // The geography (boundaries for the map, ~400 KiB) is the largest answer: only the
  // map waits for it; the board and the form are set up as soon as meta and the
  // session are known.
  const geoLoad = API.getGeo();
  const [meta, who] = await Promise.all([API.getMeta(), API.whoami()]);
  performance.mark("siap112:meta");
  state.meta = meta;
  setMeta(state.meta);
  bindTheme($("#theme"), who?.name);
  const pos = applyPosition(who);
  renderCategories();
  Pane.initPane({ meta: state.meta, units: () => state.units, onHide: hidePane });
  if (pos === "combined" || pos === "call_taker") {
    CallLink.initCallLink({
      onChange: renderMap, onFocus: (lat, lon) => state.map?.focus(lat, lon, 14),
      onUse: (inc) => { state.incidents.set(inc.id, { ...state.incidents.get(inc.id), ...inc }); renderAll(); },
    });
    bindIntake();
    Calls.initCalls({
      onChange: renderMap, onLinked: callLogged, onSelect: select, location: formLocation,
      onUseAml: setLocation, onErrors: showErrors, limits: () => state.meta.limits || {},
    });
    Telephony.initTelephony({ onClaimed: Calls.takeTelephonyCall });
  }
  bindCommandLine();
  Alerts.initAlerts({ onChange: renderBoard });
  onLangChange(() => {
    $("#position").textContent = t(`pos.${position()}`);
    if (pos === "combined" || pos === "call_taker") {
      Calls.renderDispositions();
      Calls.refreshHistory();
      Telephony.renderRinging();
      renderCategories();
      updateCounters();
      setSaving(state.saving);
    }
    Alerts.renderAlerts();
    renderAll();
    if (state.selected !== null) renderDetail({ rebuild: true });
  });
  pageReady();
  setInterval(tickElapsed, 1000);
  applyI18n();
  await drawMap(geoLoad);
}

async function drawMap(geoLoad) {
  try {
    state.geo = await geoLoad;
    await shown;
    await nextPaint();   // the board on screen first, then the map's drawing
  } catch (err) {
    toast(err instanceof API.ApiError ? codeText(err.error) : t("err.network"), "err");
    return;
  }
  state.bounds = undefined;
  state.map = new BlitarMap($("#map"), state.geo,
    { onPick: can("POST", "/api/v1/calls") ? setLocation : () => {}, onSelect: select,
      tiles: state.meta.map });
  document.body.dataset.map = "ready";
  performance.mark("siap112:map");
  renderBoard();   // handover flags name the neighbouring area now
  renderMap();
  const loc = formLocation();   // a location typed before the map was there
  if (loc && typeof loc.lat === "number" && typeof loc.lon === "number") {
    state.map.setPick(loc.lat, loc.lon);
  }
}

main();
