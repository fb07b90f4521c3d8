// A ringing 112 call from the IP-PBX (POST /api/v1/telephony/events → telephony.ringing on
// the stream) pops on every free call-taker's console with the number; the one who answers
// claims it (only one can), and the form gets the number and the PBX's ring and answer
// times, so the answer interval is measured, not guessed.

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import { codeText, formatTime, t } from "./i18n.js";
import { can } from "./roles.js";
import { toast } from "./toast.js";

const ringing = new Map(); // call_id → {call_id, caller, line, at}
let hooks = { onClaimed: () => {} };

export function initTelephony(given) { hooks = { ...hooks, ...given }; }

const mayClaim = () => can("POST", "/api/v1/telephony/calls/{call}/claim");

// Stream events seen while the list is being read: applied again over its answer, which
// may have been read before them (a call that rang meanwhile must not vanish).
let during = null;

/** Calls already ringing when this console (re)connected: their events went by. */
export async function loadRinging() {
  if (!can("GET", "/api/v1/telephony/calls")) return;
  during = [];
  try {
    const res = await API.api("/api/v1/telephony/calls");
    ringing.clear();
    for (const c of res.items || []) {
      if (!c.answered_at && !c.ended_at && !c.claimed_by && !c.call_log_id) {
        ringing.set(c.call_id, { call_id: c.call_id, caller: c.caller_phone || c.caller,
          line: c.line, at: c.rang_at });
      }
    }
    for (const [kind, d] of during) apply(kind, d);
  } catch { /* not served: pops arrive with the live events only */ } finally {
    during = null;
  }
  render();
}

/** telephony.ringing / telephony.answered / telephony.ended from the stream. */
export function onTelephonyEvent(kind, ev) {
  const d = ev.data && ev.data.call_id ? ev.data : ev;
  if (!d.call_id) return;
  during?.push([kind, d]);
  apply(kind, d);
  render();
}

// Ringing pops it; answered (at a phone), claimed (on a console) or hung up ends the pop.
function apply(kind, d) {
  if (kind === "telephony.ringing") ringing.set(d.call_id, d);
  else ringing.delete(d.call_id);
}

/** F2 or the button: claim the oldest ringing call; false when none rings. */
export function answerRinging() {
  const first = [...ringing.values()][0];
  if (!first || !mayClaim()) return false;
  claim(first);
  return true;
}

async function claim(call) {
  try {
    const res = await API.api(`/api/v1/telephony/calls/${encodeURIComponent(call.call_id)}/claim`,
      { method: "POST", body: {} });
    ringing.delete(call.call_id);
    render();
    hooks.onClaimed({ ...res, caller: res.caller_phone || res.caller || call.caller,
      call_id: res.call_id || call.call_id });
  } catch (err) {
    ringing.delete(call.call_id);
    render();
    toast(err instanceof API.ApiError ? codeText(err.error) : t("err.network"), "err");
  }
}

/** Draw the ringing calls again (after a language change). */
export function renderRinging() { render(); }

function render() {
  const box = $("#ring-box");
  if (!box) return;
  const list = [...ringing.values()];
  box.hidden = list.length === 0 || !mayClaim();
  fill(box, h("h3", {}, t("ring.title")), list.map((c) => h("div", {
    class: "ring", dataset: { call: c.call_id } },
  h("b", {}, c.caller || ""), " ", c.line ? t("ring.line", { line: c.line }) : "", " ",
  h("small", {}, formatTime(c.at)), " ",
  h("button", { type: "button", class: "primary claim", onclick: () => claim(c) },
    t("answer.key")))));
}
