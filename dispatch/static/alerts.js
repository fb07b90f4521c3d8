// Timers that shout: the server raises an alert (a unit not acknowledged in time, a
// priority-1 incident with no unit en route, an incident queued too long, a unit on scene
// too long); the console lists it above the board, flashes the incident's row and plays a
// sound. Browsers allow sound only after a user gesture, so the audio is unlocked by the
// first click or key on the page. Acknowledging goes to the server (and its timeline).

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import { codeText, formatTime, t } from "./i18n.js";
import { can } from "./roles.js";
import { toast } from "./toast.js";

const alerts = new Map(); // id → alert JSON (open ones: not cleared)
let audio = null;
let hooks = { onChange: () => {} };

function unlockAudio() {
  if (audio) return;
  try {
    audio = new AudioContext();
    audio.resume();
    document.body.dataset.sound = "on";
  } catch { audio = null; }
}

function beep() {
  if (!audio) return;
  const now = audio.currentTime;
  for (const [i, f] of [988, 740, 988].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.25;
    osc.frequency.value = f;
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.22);
    osc.stop(now + i * 0.22 + 0.18);
  }
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
}

/** Start: load the open alerts (when the role may read them), arm the audio unlock. */
export async function initAlerts(given) {
  hooks = { ...hooks, ...given };
  document.body.dataset.sound = "off";
  for (const kind of ["pointerdown", "keydown"]) {
    window.addEventListener(kind, unlockAudio, { once: true, capture: true });
  }
  await reload();
}

export async function reload() {
  if (!can("GET", "/api/v1/alerts")) return;
  try {
    const res = await API.api("/api/v1/alerts?open=true");
    alerts.clear();
    for (const a of res.items || res.alerts || []) alerts.set(a.id, a);
  } catch { /* not served (yet): no alerts to show */ }
  render();
}

/** A live event of kind alert.raised / alert.cleared / alert.acknowledged. */
export function onAlertEvent(kind, ev) {
  const a = ev.data?.alert || ev.alert || ev.data;
  if (!a || a.id == null) return;
  if (kind === "alert.cleared" || a.cleared_at) alerts.delete(a.id);
  else {
    const fresh = !alerts.has(a.id) && kind === "alert.raised";
    alerts.set(a.id, { ...alerts.get(a.id), ...a });
    if (fresh) beep();
  }
  render();
}

/** Incident ids with an open alert: acknowledged ones keep a dashed outline only. */
export function alertState(incidentId) {
  let state = null;
  for (const a of alerts.values()) {
    if (a.incident_id !== incidentId) continue;
    if (!a.acknowledged_at) return "alerting";
    state = "acked";
  }
  return state;
}

function label(a) {
  return t(`alarm.${a.kind}`, { callsign: a.callsign || "" });
}

async function acknowledge(a, button) {
  button.disabled = true;
  try {
    const res = await API.api(`/api/v1/alerts/${a.id}/acknowledge`, { method: "POST", body: {} });
    alerts.set(a.id, { ...a, ...(res.alert || res) });
    render();
  } catch (err) {
    button.disabled = false;
    toast(err instanceof API.ApiError ? codeText(err.error) : t("err.network"), "err");
  }
}

function render() {
  const box = $("#alerts-strip");
  const list = [...alerts.values()].sort((a, b) => Date.parse(a.raised_at) - Date.parse(b.raised_at));
  box.hidden = list.length === 0;
  const mayAck = can("POST", "/api/v1/alerts/{id}/acknowledge");
  fill(box, h("h3", {}, t("alarm.title", { n: list.filter((a) => !a.acknowledged_at).length })),
    document.body.dataset.sound === "on" ? null : h("p", { class: "sound-hint" }, t("alarm.sound_hint")),
    h("ul", {}, list.map((a) => h("li", {
      class: `alert${a.acknowledged_at ? " acked" : ""}`, dataset: { alert: a.id, incident: a.incident_id },
    }, h("b", {}, a.incident_id ? `#${a.incident_id}` : ""), " ", label(a), " ",
    h("small", { class: "hint" }, formatTime(a.raised_at || a.since)),
    mayAck && !a.acknowledged_at ? h("button", { type: "button", class: "ack danger",
      onclick: (e) => acknowledge(a, e.currentTarget) }, t("alarm.ack")) : null))));
  hooks.onChange();
}

export function renderAlerts() { render(); }
