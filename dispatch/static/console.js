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
  applyI18n, bindToggle, categoryLabel, dispositionLabel, errorText, formatDuration, formatKm,
  onLangChange, roadText, setMeta, statusLabel, t, unitTypeLabel,
} from "./i18n.js";
import * as Calls from "./calls.js";
import * as CallLink from "./calllink.js";
import * as Locate from "./locate.js";
import { BlitarMap, showAssignedRoute } from "./map.js";
import { BoardStore, bindBanner, LiveStream } from "./sse.js";
import { showSession } from "./session.js";

const STATUS_ORDER = ["available", "dispatched", "acknowledged", "en_route", "on_scene",
  "transporting", "at_hospital", "out_of_service"];

const board = new BoardStore();
const state = {
  meta: null, geo: null, map: null,
  incidents: board.incidents, units: board.units,
  selected: null, replacing: null, loads: 0, candidates: null,
};

// ---------- loading and live updates ----------

// Resolved once the page's own data (meta, geography, map) is there to draw with.
let pageReady;
const ready = new Promise((resolve) => { pageReady = resolve; });

async function loadBoard() {
  board.beginLoad();
  const [inc, units] = await Promise.all([API.openIncidents(), API.units()]);
  board.finishLoad(inc.items, units.items);
  await ready;
  state.loads += 1;
  document.body.dataset.boardLoads = String(state.loads);
  renderAll();
}

function onEvent(kind, ev) {
  const changed = board.apply(ev);
  ready.then(() => {   // in order, once the page can draw
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
  renderRoster();
  renderMap();
  if (!live) updateNearby();   // the duplicate check follows the form, not the stream
  if (state.selected !== null) renderDetail();
}

function openIncidentsSorted() {
  return [...state.incidents.values()].sort((a, b) =>
    a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at) || a.id - b.id);
}

function incidentItem(inc) {
  const open = (inc.assignments || []).filter((a) => !a.ended_at);
  const queued = inc.status === "queued" || (inc.status === "pending" && open.length === 0);
  const handover = (inc.queue_reason || "").startsWith("handover_");
  return h("li", {
    class: `incident p${inc.priority} ${inc.status}${queued ? " waiting" : ""}` +
      `${handover ? " handover" : ""}` +
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
  handover ? handoverFlag(inc) : null,
  queued && !handover ? h("div", { class: "queued-flag" }, t("board.queued"),
    inc.queue_reason ? ` (${inc.queue_reason})` : "") : null,
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
    $("#intake-msg").className = "err";
    $("#intake-msg").textContent = err.message || t("err.network");
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
  showAssignedRoute(state.map, state.incidents.get(state.selected), API.route);
}

function tickElapsed() {
  const now = Date.now();
  for (const el of $$("[data-since]")) {
    el.textContent = formatDuration((now - Date.parse(el.dataset.since)) / 1000);
  }
}

// ---------- dispatcher actions (detail panel) ----------

function select(id) {
  state.selected = id;
  state.replacing = null;
  renderBoard();
  renderMap();
  renderDetail();
}

const loadCandidates = debounce(async (id) => {
  if (state.selected !== id) return;
  try {
    const res = await API.candidates(id);
    if (state.selected === id) { state.candidates = res; renderCandidates(res); }
  } catch (err) {
    const box = $("#detail-candidates");
    if (box) fill(box, h("p", { class: "err" }, err.message));
  }
}, 150);

function renderDetail({ rebuild = false } = {}) {
  const panel = $("#detail");
  const inc = state.incidents.get(state.selected);
  if (!inc) { panel.hidden = true; panel.dataset.for = ""; state.selected = null; return; }
  panel.hidden = false;
  const fresh = rebuild || panel.dataset.for !== String(inc.id);
  if (fresh) {
    // The skeleton (and the close form with what the dispatcher typed) is built once
    // per selection; live updates refresh only the parts below.
    panel.dataset.for = String(inc.id);
    fill(panel,
      h("div", { class: "detail-head" },
        h("h2", {}, t("detail.title", { id: inc.id })),
        h("button", { type: "button", onclick: () => { state.selected = null; renderAll(); } },
          t("detail.hide"))),
      h("div", { id: "detail-info" }),
      h("div", { id: "detail-candidates" }),
      closeForm(inc),
      h("p", { class: "err", id: "detail-error" }));
  }
  const open = (inc.assignments || []).filter((a) => !a.ended_at);
  fill($("#detail-info"),
    h("p", {}, `${categoryLabel(inc.category)} · P${inc.priority} · ${inc.caller_phone}`),
    h("p", {}, inc.address || coords(inc.location),
      inc.radius_m != null ? h("span", { class: "radius", title: t("place.radius") },
        ` ${Locate.radiusText(inc.radius_m)}`) : null,
      inc.desa ? ` · ${inc.desa}` : "", inc.description ? ` — ${inc.description}` : ""),
    h("h3", {}, t("detail.assignments")),
    h("ul", { class: "assignments" }, open.map((a) => h("li", {},
      h("b", {}, a.callsign), ` ${statusLabel(a.status)} · ${formatKm(a.distance_m)} · `,
      `${t("unit.eta")} ${formatDuration(a.eta_s)}`, roadText(a), " ",
      h("button", {
        type: "button", class: state.replacing === a.id ? "active" : "",
        onclick: () => { state.replacing = state.replacing === a.id ? null : a.id; renderDetail(); },
      }, state.replacing === a.id ? t("detail.cancel_replace") : t("detail.replace"))))),
    state.replacing ? h("p", { class: "hint" }, t("detail.replace_pick")) : null);
  if (fresh) loadCandidates(inc.id);   // on selection; live frames redraw what is held
  else if (state.candidates?.incident_id === inc.id) renderCandidates(state.candidates);
}

function candidateRow(c, inc) {
  const now = state.units.get(c.unit_id);   // the stream's newer word on the unit, if any
  if (now) c = { ...c, status: now.status, incident_id: now.incident_id,
    available: now.status === "available" };
  const busy = !c.available;
  return h("li", { class: `cand${c.recommended ? " recommended" : ""}${busy ? " busy" : ""}`,
    dataset: { unit: c.unit_id } },
  h("b", {}, c.callsign), ` ${unitTypeLabel(c.unit_type)} · ${formatKm(c.distance_m)} · `,
  `${t("unit.eta")} ${formatDuration(c.eta_s)}`, roadText(c),
  c.stale_position ? h("em", {}, ` (${t("detail.stale")})`) : null,
  busy ? h("em", {}, ` (${statusLabel(c.status)}${c.incident_id ? ` #${c.incident_id}` : ""})`)
    : null,
  c.incident_id === inc.id ? null : h("button", {
    type: "button", class: c.recommended ? "primary" : "",
    onclick: () => sendUnit(inc.id, c),
  }, busy ? t("detail.take") : t("detail.assign")));
}

function renderCandidates(res) {
  const inc = state.incidents.get(res.incident_id);
  const box = $("#detail-candidates");
  if (!inc || !box) return;
  const rec = res.items.filter((c) => c.recommended);
  const others = res.items.filter((c) => !c.recommended);
  fill(box,
    h("p", { class: "ranking-note", dataset: { ranking: res.ranking, roads: res.roads } },
      t(res.roads === "degraded" ? "road.degraded" : `road.ranking_${res.ranking}`)),
    res.radius_m != null ? h("p", { class: "radius-note" },
      t("detail.radius_note", { radius: Locate.radiusText(res.radius_m) })) : null,
    rec.length ? h("h3", {}, t("detail.recommended")) : null,
    rec.length ? h("ul", { class: "cands" }, rec.map((c) => candidateRow(c, inc))) : null,
    h("h3", {}, t("detail.others")),
    others.length ? h("ul", { class: "cands" }, others.map((c) => candidateRow(c, inc)))
      : h("p", {}, t("detail.none")));
}

async function sendUnit(incidentId, c) {
  if (!c.available && !confirm(t("detail.confirm_take", { id: c.incident_id }))) return;
  const body = { unit_id: c.unit_id, take_from_other: !c.available };
  if (state.replacing) body.replaces_assignment_id = state.replacing;
  try {
    await API.assign(incidentId, body);
    state.replacing = null;
    loadCandidates(incidentId);
    $("#detail-error").textContent = "";
  } catch (err) {
    $("#detail-error").textContent = err.message || t("err.network");
  }
}

function closeForm(inc) {
  const select = h("select", { id: "close-disposition", required: true },
    Object.keys(state.meta.dispositions).map((code) =>
      h("option", { value: code }, dispositionLabel(code))));
  const note = h("input", { id: "close-note", maxlength: 2000 });
  return h("form", {
    class: "close-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { disposition: select.value, note: note.value };
      try {
        await API.closeIncident(inc.id, body);
      } catch (err) {
        // Units still on it: the server asks first; the answer names them.
        if (err.error?.code === "units_active"
            && window.confirm(`${t("detail.close")}: ${(err.error.units || []).join(", ")}?`)) {
          try {
            await API.closeIncident(inc.id, { ...body, confirm: true });
            return;
          } catch (again) {
            err = again;
          }
        }
        $("#detail-error").textContent = err.message || t("err.network");
      }
    },
  }, h("label", {}, t("detail.disposition"), " ", select),
  h("label", {}, t("detail.note"), " ", note),
  h("button", { type: "submit", class: "danger" }, t("detail.close")));
}

// ---------- call intake ----------

function renderCategories() {
  const box = $("#f-categories");
  const current = $("input[name=category]:checked")?.value;
  fill(box, ...Object.keys(state.meta.categories).map((code, i) => h("label",
    { class: "cat-option" },
    h("input", { type: "radio", name: "category", value: code, checked: code === current }),
    i < 9 ? h("kbd", {}, String(i + 1)) : h("span", { class: "kbd-none" }), " ",
    categoryLabel(code))));
}

function pickCategory(index) {
  const radios = $$("input[name=category]");
  if (radios[index]) { radios[index].checked = true; radios[index].focus(); }
}

function formLocation() {
  const lat = $("#f-lat").value.trim(), lon = $("#f-lon").value.trim();
  if (!lat && !lon) return null;
  const num = (v) => (v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v || null);
  const loc = { lat: num(lat), lon: num(lon) };
  // A desa or place picked from the suggestions: the server puts the incident at its
  // point with its radius (as long as the coordinates were not typed over since).
  const picked = Locate.chosenLocation();
  if (picked && picked.lat === loc.lat && picked.lon === loc.lon) {
    return { ...loc, source: picked.source, code: picked.code };
  }
  return loc;
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

function showErrors(err) {
  const fields = err.fields.length ? err.fields : [{ field: "body", message: err.message }];
  for (const f of fields) {
    const name = Calls.formField(f.field || "body");
    const slot = $(`[data-err="${name}"]`) || $(`[data-err="${name.split(".")[0]}"]`) ||
      $("[data-err=body]");
    slot.textContent = [slot.textContent, errorText(f)].filter(Boolean).join("; ");
    $(`[name="${name}"]`)?.setAttribute("aria-invalid", "true");
  }
}

async function submitIntake(e) {
  e.preventDefault();
  clearErrors();
  const body = Calls.callBody({
    caller_phone: $("#f-phone").value,
    category: $("input[name=category]:checked")?.value ?? "",
    priority: Number($("#f-priority").value),
    address: $("#f-address").value,
    description: $("#f-notes").value,
    location: formLocation(),
  });
  const msg = $("#intake-msg");
  try {
    const answer = await API.logCall(body);
    Calls.afterLogged(answer);
    const inc = answer.incident;
    if (inc && !state.incidents.has(inc.id)) {
      state.incidents.set(inc.id, { ...inc, assignments: [] });
    }
    callLogged(answer);
  } catch (err) {
    msg.className = "err";
    msg.textContent = err instanceof API.ApiError ? err.message : t("err.network");
    if (err instanceof API.ApiError) showErrors(err);
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
  $("#intake-form").reset();
  Locate.clearChosen();
  Calls.renderDispositions("emergency");
  onLocationInput();
  renderAll();
  $("#f-phone").focus();
}

function bindIntake() {
  const form = $("#intake-form");
  form.addEventListener("submit", submitIntake);
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
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
  Locate.initLocate({
    onPick: (item) => {
      $("#f-lat").value = String(item.lat);
      $("#f-lon").value = String(item.lon);
      onLocationInput();
    },
  });
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
      if (!resumed) loadBoard();   // a resumed stream sends what was missed, snapshots and all
    },
    onResync: () => loadBoard(),
  });
  window.siap112 = { live, state };
  live.connect();
  [state.meta, state.geo] = await Promise.all([API.getMeta(), API.getGeo()]);
  setMeta(state.meta);
  renderCategories();
  state.map = new BlitarMap($("#map"), state.geo,
    { onPick: setLocation, onSelect: select, tiles: state.meta.map });
  CallLink.initCallLink({
    onChange: renderMap, onFocus: (lat, lon) => state.map.focus(lat, lon, 14),
    onUse: (inc) => { state.incidents.set(inc.id, { ...state.incidents.get(inc.id), ...inc }); renderAll(); },
  });
  bindIntake();
  Calls.initCalls({
    onChange: renderMap, onLinked: callLogged, onSelect: select, location: formLocation,
    onUseAml: setLocation, onErrors: showErrors,
  });
  onLangChange(() => {
    Calls.renderDispositions();
    renderCategories();
    renderAll();
    if (state.selected !== null) renderDetail({ rebuild: true });
  });
  pageReady();
  setInterval(tickElapsed, 1000);
  applyI18n();
}

main();
