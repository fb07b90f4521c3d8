// The responder page for one unit (?unit=ID), made for a phone: the current
// assignment, big buttons for the next allowed statuses, the device's position
// sent to the centre, and an alert (sound, vibration) when a new assignment arrives.
// Loaded once (and on `resync`); after that the stream's snapshots of the unit and
// its incidents keep the page current with no request of its own.
// Phones allow sound only after a tap: the first tap on the page unlocks the audio (a
// banner asks for it until then). While the unit is assigned the screen is kept awake
// (Wake Lock API), so the crew sees the job without unlocking the phone.

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import {
  applyI18n, bindToggle, categoryLabel, codeText, formatDuration, formatKm, formatTime,
  onLangChange, roadText, setMeta, statusLabel, t, unitTypeLabel,
} from "./i18n.js";
import { BoardStore, bindBanner, LiveStream } from "./sse.js";
import { showSession } from "./session.js";
import { bindTheme } from "./theme.js";

const ORDER = ["acknowledged", "en_route", "on_scene", "transporting", "at_hospital",
  "available", "out_of_service"];
const SEND_EVERY_MS = 30000;   // position reports while standing still
const SEND_AFTER_M = 50;       // ... or as soon as the unit has moved this far

const board = new BoardStore();
const state = {
  unitId: null, unit: null, incident: null, knownAssignment: undefined, alerts: 0,
  fresh: false, device: null, lastSent: null, error: "", audio: null, wakeLock: null,
};

function unlockAudio(e) {
  if (state.audio) return;
  try {
    state.audio = new AudioContext();
    state.audio.resume();
    // A silent note: iOS and Android unlock the context only by playing inside the gesture.
    const osc = state.audio.createOscillator();
    const gain = state.audio.createGain();
    gain.gain.value = 0;
    osc.connect(gain).connect(state.audio.destination);
    osc.start();
    osc.stop(state.audio.currentTime + 0.05);
  } catch { state.audio = null; }
  document.body.dataset.sound = state.audio ? "on" : "off";
  // Not a redraw: the tap that unlocked the audio must still reach the button it was on.
  // Nothing moves either (it stays, invisible, until the next redraw). A tap on the banner
  // itself completes first: its own click then takes it away.
  const banner = $("#sound-unlock");
  if (state.audio && banner && e?.target !== banner) banner.classList.add("done");
}

async function keepAwake(assigned) {
  if (!("wakeLock" in navigator)) { document.body.dataset.wakeLock = "unsupported"; return; }
  if (assigned && !state.wakeLock && document.visibilityState === "visible") {
    try {
      state.wakeLock = await navigator.wakeLock.request("screen");
      state.wakeLock.addEventListener("release", () => {
        state.wakeLock = null;
        document.body.dataset.wakeLock = "off";
      });
      document.body.dataset.wakeLock = "on";
    } catch (err) {
      // Refused (battery saver, a browser policy): the page still works, the screen may sleep.
      document.body.dataset.wakeLock = "refused";
      document.body.dataset.wakeLockError = err?.name || "";
    }
  } else if (!assigned && state.wakeLock) {
    await state.wakeLock.release();
    state.wakeLock = null;
    document.body.dataset.wakeLock = "off";
  }
}

/** The unit's present assignment, from its incident's snapshot. */
function openAssignment(inc) {
  return (inc?.assignments || []).find((a) => a.unit_id === state.unitId && !a.ended_at) || null;
}

/** Draw what the board holds; alert when the unit got a new assignment. */
function update() {
  const unit = board.units.get(state.unitId);
  if (!unit) return;
  const inc = unit.incident_id ? board.incidents.get(unit.incident_id) : null;
  const a = openAssignment(inc);
  const newId = a ? a.id : null;
  // Sent to an incident whose own frame is still on its way: alert once it is here.
  if (!(unit.incident_id && !a)) {
    if (state.knownAssignment !== undefined && newId !== null && newId !== state.knownAssignment) {
      alertNew();
    }
    state.knownAssignment = newId;
  }
  state.unit = { ...unit, assignment: a };
  state.incident = a ? inc : null;
  keepAwake(Boolean(a));
  render();
}

async function load() {
  board.beginLoad();
  try {
    const [unit, open] = await Promise.all([API.getUnit(state.unitId), API.openIncidents()]);
    board.finishLoad(open.items, [unit]);
    update();
  } catch (err) {
    board.during = null;
    fill($("#responder"), h("p", { class: "err" },
      err instanceof API.ApiError ? codeText(err.error) : t("err.network")));
  }
}

function onEvent(kind, ev) {
  const changed = board.apply(ev);
  if (changed.unit || changed.incident) update();
}

function alertNew() {
  state.alerts += 1;
  state.fresh = true;
  document.body.dataset.alerts = String(state.alerts);
  navigator.vibrate?.([400, 150, 400, 150, 400]);
  try {
    const ctx = state.audio;
    if (!ctx) return; // not unlocked yet: the banner and the vibration remain
    for (const [i, f] of [880, 660, 880].entries()) {
      const osc = ctx.createOscillator();
      osc.frequency.value = f;
      osc.connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.25);
      osc.stop(ctx.currentTime + i * 0.25 + 0.2);
    }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch { /* no audio on this device: the vibration and the banner remain */ }
}

async function changeStatus(status) {
  state.fresh = false;
  try {
    await API.setStatus(state.unitId, status);
    state.error = "";
  } catch (err) {
    state.error = err instanceof API.ApiError ? codeText(err.error) : t("err.network");
  }
  render();   // the new status arrives on the stream
}

function assignmentView() {
  const inc = state.incident;
  if (!inc) return h("p", { class: "standby" }, t("responder.no_assignment"));
  const loc = inc.location;
  const a = state.unit.assignment;
  const dist = loc && state.device ? API.haversineM(state.device, loc) : a.distance_m;
  return h("section", { class: "panel assignment", dataset: { incident: inc.id } },
    state.fresh ? h("div", { class: "new-flag", onclick: () => { state.fresh = false; render(); } },
      t("responder.new")) : null,
    h("h2", {}, `${t("responder.assignment")} #${inc.id}`),
    h("p", { class: "inc-cat" }, h("b", {}, categoryLabel(inc.category)), ` · P${inc.priority}`),
    h("p", {}, inc.address || ""), inc.description ? h("p", {}, inc.description) : null,
    h("p", {}, `${t("unit.distance")}: ${formatKm(dist)} · ${t("unit.eta")}: `,
      formatDuration(a.eta_s), roadText(a)),
    loc ? h("a", {
      class: "maplink", target: "_blank", rel: "noopener",
      href: `https://www.google.com/maps/dir/?api=1&destination=${loc.lat},${loc.lon}` +
        `&travelmode=driving${state.device ? `&origin=${state.device.lat},${state.device.lon}` : ""}`,
    }, t("responder.open_map")) : null,
    loc ? h("a", { class: "maplink geo", href: `geo:${loc.lat},${loc.lon}` },
      ` (geo:${loc.lat.toFixed(5)},${loc.lon.toFixed(5)})`) : null);
}

function render() {
  const u = state.unit;
  // The unlock banner is outside the redrawn part, so it stays put under a finger.
  const unlock = $("#sound-unlock");
  if (unlock && state.audio && !unlock.hidden) unlock.hidden = true;
  if (!u) return;
  const next = ORDER.filter((s) => u.allowed_next.includes(s));
  fill($("#responder"),
    h("p", { class: "callsign" }, u.callsign),
    h("p", {}, unitTypeLabel(u.unit_type), ` · ${u.agency}`),
    h("p", { class: `status-now st-${u.status}`, id: "status-now" },
      `${t("responder.status")}: ${statusLabel(u.status)}`),
    assignmentView(),
    h("h2", {}, t("responder.next")),
    h("div", { class: "big-buttons" }, next.map((s) => h("button", {
      type: "button", class: `st-${s}`, dataset: { status: s }, onclick: () => changeStatus(s),
    }, s === "available" && u.status !== "available" && u.status !== "out_of_service"
      ? t("responder.done") : statusLabel(s)))),
    state.error ? h("p", { class: "err" }, state.error) : null,
    h("p", { class: "hint", id: "location-note" }, state.lastSent
      ? t("responder.location_sent", { time: formatTime(state.lastSent.at) })
      : t("responder.location_off")));
}

function watchPosition() {
  if (!navigator.geolocation) return;
  navigator.geolocation.watchPosition(async (pos) => {
    const here = { lat: pos.coords.latitude, lon: pos.coords.longitude };
    state.device = here;
    const last = state.lastSent;
    if (last && Date.now() - last.at < SEND_EVERY_MS && API.haversineM(last, here) < SEND_AFTER_M) {
      return;
    }
    try {
      await API.setLocation(state.unitId, here.lat, here.lon);
      state.lastSent = { ...here, at: new Date() };
    } catch { /* the next fix tries again */ }
    render();
  }, () => render(), { enableHighAccuracy: true, maximumAge: 10000 });
}

async function picker() {
  const list = await API.units();
  fill($("#responder"), h("h2", {}, t("responder.pick")),
    h("ul", { class: "unit-pick" }, list.items.map((u) => h("li", {},
      h("a", { href: `/responder?unit=${u.id}` },
        `${u.callsign} — ${unitTypeLabel(u.unit_type)} (${statusLabel(u.status)})`)))));
}

async function main() {
  bindToggle($("#lang"));
  showSession($("#session"));
  bindTheme($("#theme"), (await API.whoami())?.name);
  setMeta(await API.getMeta());
  const id = new URLSearchParams(location.search).get("unit");
  if (!id || !/^\d+$/.test(id)) {
    onLangChange(picker);
    await picker();
    return;
  }
  state.unitId = Number(id);
  onLangChange(render);
  document.body.dataset.sound = "off";
  $("#sound-unlock").hidden = false;
  $("#sound-unlock").addEventListener("click", (e) => { unlockAudio(e); e.currentTarget.hidden = true; });
  for (const kind of ["pointerdown", "touchstart", "keydown"]) {
    window.addEventListener(kind, unlockAudio, { once: true, capture: true });
  }
  // The lock is dropped whenever the page is hidden; take it again on return.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") keepAwake(Boolean(state.unit?.assignment));
  });
  const live = new LiveStream({
    onEvent,
    onState: bindBanner($("#conn-banner"), $("#conn-badge"), t),
    onReady: ({ resumed }) => { if (!resumed) load(); },   // a resumed stream sends the rest
    onResync: () => load(),
  });
  window.siap112 = { live, state };
  live.connect();
  watchPosition();
  applyI18n();
}

main();
