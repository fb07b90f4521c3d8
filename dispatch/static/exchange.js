// The centre-to-centre and callback panel of the console: incidents another centre
// should serve, with one button per partner serving their area ("Serahkan ke 112 Kota
// Blitar"); offers waiting to be accepted ("menunggu diterima") with a timer and the
// partner's phone number to fall back on; offers received from partners (accept or
// decline); and the shared list of silent calls to call back.
//
// Loaded once; then the page's stream keeps it current: incidents' snapshots say which
// wait for another centre, and only a handover or callback event re-reads its own list
// (the list of handovers or of callbacks), as does a `resync`.

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import { categoryLabel, codeText, formatDuration, onLangChange, t } from "./i18n.js";
import { accessReady, can } from "./roles.js";
import { BoardStore, STREAM_EVENT, streamSubscribed } from "./sse.js";

const FLAGGED = /^handover_(?!pending|accepted|offered)/;
// Open incidents another centre should serve (their snapshots' queue_reason says so).
const flagged = new BoardStore({ keep: (inc) => inc.status !== "closed"
  && FLAGGED.test(inc.queue_reason || "") });
// Jurisdictions without a kecamatan code of ours, as BPS area codes (dispatch/actions.py).
const JURISDICTION_AREA = { kota_blitar: "35.72", regency: "35.05" };
const state = { partners: [], handovers: [], callbacks: [], at: Date.now() };

const api = {
  partners: () => API.api("/api/v1/partners"),
  handovers: () => API.api("/api/v1/handovers"),
  handOver: (id, partner) =>
    API.api(`/api/v1/incidents/${id}/handover`, { method: "POST", body: { partner } }),
  answer: (id, verb, note) =>
    API.api(`/api/v1/handovers/${id}/${verb}`, { method: "POST", body: { note } }),
  callbacks: () => API.api("/api/v1/callbacks?open=true"),
  take: (id) => API.api(`/api/v1/callbacks/${id}/take`, { method: "POST", body: {} }),
  outcome: (id, outcome) =>
    API.api(`/api/v1/callbacks/${id}/outcome`, { method: "POST", body: { outcome } }),
};

function areaCode(incident) {
  return incident.kecamatan_code || JURISDICTION_AREA[incident.jurisdiction] || null;
}

function servingPartners(incident) {
  const code = areaCode(incident);
  return code ? state.partners.filter((p) => p.area_codes.some((c) => code.startsWith(c))) : [];
}

async function refresh() {
  flagged.beginLoad();
  const [partners, incidents, handovers, callbacks] = await Promise.allSettled([
    api.partners(), API.openIncidents(), api.handovers(), api.callbacks()]);
  if (partners.status === "fulfilled") state.partners = partners.value.partners;
  if (incidents.status === "fulfilled") flagged.finishLoad(incidents.value.items || [], []);
  else flagged.during = null;
  if (handovers.status === "fulfilled") state.handovers = handovers.value.handovers;
  if (callbacks.status === "fulfilled") state.callbacks = callbacks.value.callbacks;
  state.at = Date.now();
  render();
}

/** Re-read one list (handovers or callbacks) after an event about it. */
async function reread(what) {
  try {
    if (what === "handovers") state.handovers = (await api.handovers()).handovers;
    else state.callbacks = (await api.callbacks()).callbacks;
    render();
  } catch { /* read again on the next such event or resync */ }
}

const pending = new Set();
let rereadTimer = null;

function onStream({ detail: { kind, ev, resumed } }) {
  if (kind === "resync" || (kind === "ready" && !resumed)) { refresh(); return; }
  if (kind === "ready") return;
  if (kind.startsWith("handover.")) pending.add("handovers");
  else if (kind.startsWith("callback.")) pending.add("callbacks");
  const changed = flagged.apply(ev);
  if (changed.incident) render();
  if (pending.size && rereadTimer === null) {
    rereadTimer = setTimeout(() => {   // a burst of such events reads each list once
      rereadTimer = null;
      for (const what of pending) reread(what);
      pending.clear();
    }, 200);
  }
}

function since(iso) {
  return formatDuration(Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000));
}

function act(button, work) {
  button.disabled = true;
  work().then(refresh).catch((e) => {
    button.disabled = false;
    const words = e?.error?.code ? codeText(e.error) : t("err.network");
    button.title = words;
    $("#exchange-msg").textContent = `${t("exchange.failed")}: ${words}`;
  });
}

function flaggedRow(incident) {
  const partners = servingPartners(incident);
  return h("li", { class: "ex-row", "data-incident": incident.id },
    h("span", {}, `#${incident.id} ${categoryLabel(incident.category)} — ${incident.address || ""}`),
    ...(can("POST", "/api/v1/incidents/{id}/handover") ? partners : []).map((p) => {
      const b = h("button", { type: "button", class: "primary ex-handover",
        "data-partner": p.name }, t("exchange.hand_over", { partner: p.label }));
      b.addEventListener("click", () => act(b, () => api.handOver(incident.id, p.name)));
      return b;
    }),
    partners.length ? "" : h("small", { class: "hint" }, t("exchange.no_partner")));
}

function outgoingRow(ho) {
  const waiting = ho.state === "sending" || ho.state === "delivered";
  const row = h("li", { class: `ex-row ex-${ho.state}`, "data-handover": ho.id },
    h("span", {}, `#${ho.incident_id} → ${ho.partner_label}: `),
    h("strong", { class: "ex-state" }, t(`exchange.state.${ho.state}`)),
    waiting ? h("span", { class: "ex-timer", "data-since": ho.requested_at },
      ` ${since(ho.requested_at)}`) : "",
    waiting && ho.attempts > 1 ? h("small", { class: "err" },
      ` ${t("exchange.retrying", { n: ho.attempts })}`) : "",
    waiting && ho.partner_phone ? h("small", { class: "hint" },
      ` ${t("exchange.phone", { phone: ho.partner_phone })}`) : "");
  if (waiting && can("POST", "/api/v1/handovers/{id}/withdraw")) {
    const b = h("button", { type: "button", "data-verb": "withdraw" }, t("exchange.withdraw"));
    b.addEventListener("click", () => act(b, () => api.answer(ho.id, "withdraw",
      t("exchange.withdraw_note"))));
    row.append(b);
  }
  return row;
}

function incomingRow(ho) {
  const row = h("li", { class: "ex-row ex-incoming", "data-handover": ho.id },
    h("span", {}, `${ho.partner_label}: #${ho.incident_id} ${categoryLabel(ho.category)} — ${ho.address || ""} `));
  if (ho.state === "delivered" && can("POST", "/api/v1/handovers/{id}/accept")) {
    for (const verb of ["accept", "decline"]) {
      const b = h("button", { type: "button", class: verb === "accept" ? "primary" : "",
        "data-verb": verb }, t(`exchange.${verb}`));
      b.addEventListener("click", () => act(b, () => api.answer(ho.id, verb, "")));
      row.append(b);
    }
  } else {
    row.append(h("strong", {}, t(`exchange.state.${ho.state}`)));
  }
  return row;
}

function callbackRow(cb) {
  const row = h("li", { class: `ex-row cb-row${cb.overdue ? " overdue" : ""}`, "data-callback": cb.id },
    h("strong", {}, cb.caller_phone), " ",
    h("span", { class: "ex-timer", "data-since": cb.created_at }, since(cb.created_at)), " ",
    h("small", {}, t("callback.previous", { n: cb.previous_calls.length })), " ");
  if (cb.taken_by) row.append(h("small", { class: "hint" }, t("callback.taken_by", { name: cb.taken_by })), " ");
  // Only call-takers call back; the others see the list.
  if (!can("POST", "/api/v1/callbacks/{id}/take")) return row;
  if (!cb.taken_by) {
    const b = h("button", { type: "button", "data-verb": "take" }, t("callback.take"));
    b.addEventListener("click", () => act(b, () => api.take(cb.id)));
    row.append(b);
  } else {
    for (const outcome of ["no_answer", "prank", "resolved"]) {
      const b = h("button", { type: "button", "data-outcome": outcome }, t(`callback.${outcome}`));
      b.addEventListener("click", () => act(b, () => api.outcome(cb.id, outcome)));
      row.append(b);
    }
    row.append(h("small", { class: "hint" }, t("callback.emergency_hint")));
  }
  return row;
}

function section(titleKey, items, rowFn, id) {
  return h("div", { class: "ex-section", id },
    h("h3", {}, `${t(titleKey)} (${items.length})`),
    items.length ? h("ul", { class: "ex-list" }, ...items.map(rowFn))
      : h("p", { class: "hint" }, t("exchange.none")));
}

function render() {
  const out = state.handovers.filter((x) => x.direction === "out"
    && ["sending", "delivered", "accepted", "dispatched"].includes(x.state));
  const incoming = state.handovers.filter((x) => x.direction === "in"
    && ["delivered", "accepted", "dispatched"].includes(x.state));
  fill($("#exchange-body"),
    section("callback.title", state.callbacks, callbackRow, "callback-list"),
    section("exchange.flagged", [...flagged.incidents.values()], flaggedRow, "ex-flagged"),
    section("exchange.outgoing", out, outgoingRow, "ex-outgoing"),
    section("exchange.incoming", incoming, incomingRow, "ex-incoming"));
}

function tick() {
  for (const el of document.querySelectorAll("#exchange-body .ex-timer")) {
    el.textContent = ` ${since(el.dataset.since)}`;
  }
}

export async function initExchange() {
  if (!$("#exchange-body")) return;
  await accessReady; // draw only the buttons this user's role may use
  if (!can("GET", "/api/v1/handovers")) return;
  onLangChange(render);
  window.addEventListener(STREAM_EVENT, onStream);
  // Loaded only once the stream is subscribed (then, or now if it already is), so no
  // change falls between the load and the stream.
  if (streamSubscribed()) refresh();
  setInterval(tick, 1000);
}

initExchange();
