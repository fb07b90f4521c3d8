// The call log side of the intake form: every contact gets a disposition (most 112
// calls are prank or silent), repeat callers are flagged (never blocked), the caller's
// AML position is offered with its accuracy circle, and open incidents near the
// location are offered as duplicates to link instead of dispatching again.

import * as API from "./api.js";
import { $, $$, debounce, fill, h } from "./dom.js";
import { categoryLabel, codeText, formatKm, formatTime, t } from "./i18n.js";
import { radiusText } from "./locate.js";
import { can } from "./roles.js";

// Disposition codes of POST /api/v1/calls, each with its Alt+letter shortcut.
export const DISPOSITIONS = [
  ["emergency", "e"], ["duplicate", "d"], ["information", "i"], ["prank", "p"],
  ["ghost", "g"], ["wrong_number", "w"], ["handover", "h"], ["test", "t"],
];
// Suggestions for "hand over to whom"; the call-taker may type any other.
const HANDOVER_TARGETS = ["112 Kota Blitar", "112 Kabupaten Kediri", "112 Kabupaten Tulungagung",
  "112 Kabupaten Malang", "Polres Blitar", "PLN", "PDAM"];

const aml = { phone: "", fix: null, byIncident: new Map(), seq: 0 };
let repeat = null; // {phone, flagged, prank_or_ghost_calls, days} of the last logged call
let dupSeq = 0;
// When this call rang and was answered: from the IP-PBX when the console claimed a ringing
// call, else the "Terima panggilan" key or the first keystroke of a new report.
let clock = { rang_at: null, answered_at: null, telephony_call_id: null };
let historySeq = 0;
let hooks = { onChange: () => {}, onLinked: () => {}, onSelect: () => {}, location: () => null };

/** Wire the call-log parts of the form; hooks: onChange(), onLinked(answer), onSelect(id). */
export function initCalls(given) {
  hooks = { ...hooks, ...given };
  fill($("#handover-targets"), ...HANDOVER_TARGETS.map((v) => h("option", { value: v })));
  renderDispositions("emergency");
  $("#f-dispositions").addEventListener("change", onDispositionChange);
  $("#f-dispositions").addEventListener("keydown", (e) => {
    if (!e.altKey && !e.ctrlKey && pickDisposition(e.key)) e.preventDefault();
  });
  $("#f-phone").addEventListener("input", debounce(() => refreshAml(), 300));
  $("#f-phone").addEventListener("input", debounce(() => refreshHistory(), 250));
  // The first keystroke of a new report is when the call was answered (unless the
  // "Terima panggilan" key or the PBX said so first).
  $("#intake-form").addEventListener("keydown", (e) => {
    if (!["Tab", "Shift", "Control", "Alt", "Meta", "Escape"].includes(e.key)) markAnswered();
  }, true);
  // The warning concerns the number it was given for: a new caller's number hides it.
  $("#f-phone").addEventListener("input", (e) => {
    if (repeat && e.target.value && e.target.value !== repeat.phone) {
      repeat = null;
      renderRepeat();
    }
  });
}

/** Draw the disposition radios (again, after a language change), keeping the choice. */
export function renderDispositions(current = disposition()) {
  fill($("#f-dispositions"), ...DISPOSITIONS.map(([code, key]) => h("label",
    { class: "cat-option", title: t(`call.${code}`) },
    h("input", { type: "radio", name: "disposition", value: code, checked: code === "emergency" }),
    h("kbd", {}, key.toUpperCase()), " ", t(`call.${code}`))));
  // The attribute is the form's default (reset() returns to it); the choice is the property.
  const radio = $(`input[name=disposition][value=${current}]`);
  if (radio) radio.checked = true;
  onDispositionChange();
  renderRepeat();
  renderAml();
}

export function disposition() {
  return $("input[name=disposition]:checked")?.value ?? "emergency";
}

/** Alt+letter (or the letter inside the group) picks a disposition; true when one was. */
export function pickDisposition(key) {
  const found = DISPOSITIONS.find(([, k]) => k === key.toLowerCase());
  if (!found) return false;
  const radio = $(`input[name=disposition][value=${found[0]}]`);
  radio.checked = true;
  radio.focus();
  onDispositionChange();
  return true;
}

function onDispositionChange() {
  const d = disposition();
  $("#f-handover-box").hidden = d !== "handover";
  // Category and priority only mean something for a new incident.
  $("#f-categories-box").disabled = d !== "emergency";
  $("#f-priority").disabled = d !== "emergency";
  $("#intake-form").dataset.disposition = d;
  hooks.onChange();
}

/** The POST /api/v1/calls body for what the form holds. */
export function callBody(form) {
  const d = disposition();
  // The AML position itself is left to the server, which then keeps its accuracy radius.
  const fixLoc = aml.fix?.location;
  if (form.location && fixLoc && form.location.lat === fixLoc.lat &&
      form.location.lon === fixLoc.lon) form = { ...form, location: null };
  const body = { caller_phone: form.caller_phone, disposition: d, note: form.description };
  if (d === "emergency") {
    body.note = "";
    body.incident = { category: form.category, priority: form.priority,
      address: form.address, description: form.description };
    if (form.location) body.incident.location = form.location;
  } else if (form.location) {
    // A call's own position is a point: a chosen desa or place is the incident's alone.
    body.location = { lat: form.location.lat, lon: form.location.lon };
  }
  if (d === "handover") body.handover_to = $("#f-handover").value.trim();
  if (d === "duplicate") body.incident_id = form.incident_id ?? null;
  return withClock(body);
}

/** The ring and answer times (and the PBX call) of the call on the line, added to a body. */
export function withClock(body) {
  if (clock.answered_at) body.answered_at = clock.answered_at;
  if (clock.rang_at) body.rang_at = clock.rang_at;
  if (clock.telephony_call_id) body.telephony_call_id = clock.telephony_call_id;
  return body;
}

/** The call was answered now (first keystroke, F2), unless already known. */
export function markAnswered(at = new Date().toISOString()) {
  if (clock.answered_at) return;
  clock.answered_at = at;
  renderClock();
}

/** A call claimed from the IP-PBX: its number and times. */
export function takeTelephonyCall(call) {
  clock = { rang_at: call.rang_at || null, answered_at: call.answered_at || new Date().toISOString(),
    telephony_call_id: call.call_id || null };
  $("#f-phone").value = call.caller || "";
  $("#f-phone").dispatchEvent(new Event("input"));
  $("#f-phone").focus();
  renderClock();
}

export function resetClock() {
  clock = { rang_at: null, answered_at: null, telephony_call_id: null };
  renderClock();
}

function renderClock() {
  const el = $("#answered-at");
  if (el) el.textContent = clock.answered_at ? t("answer.at", { time: formatTime(clock.answered_at) }) : "";
}

/** The caller's history while the number is typed: calls, open incidents, repeat flag. */
export async function refreshHistory() {
  const box = $("#caller-history");
  const phone = $("#f-phone").value.trim();
  const mine = ++historySeq;
  if (!can("GET", "/api/v1/callers/{phone}") || phone.replace(/\D/g, "").length < 6) {
    box.hidden = true;
    fill(box);
    return;
  }
  let res = null;
  try {
    res = await API.api(`/api/v1/callers/${encodeURIComponent(phone)}`);
  } catch {
    res = null; // never in the way: the call is served with or without its history
  }
  if (mine !== historySeq) return;
  renderHistory(box, res);
}

function renderHistory(box, res) {
  if (!res) { box.hidden = true; fill(box); return; }
  const rep = res.repeat || {};
  const days = Math.round((rep.window_s || 30 * 86400) / 86400);
  box.hidden = false;
  box.classList.toggle("flagged", Boolean(rep.flagged));
  box.dataset.phone = res.phone || "";
  const calls = res.calls || [];
  const open = res.open_incidents || [];
  fill(box,
    rep.flagged ? h("p", { class: "repeat-flag history-flag", role: "alert" },
      t("history.flagged", { n: rep.calls_in_window, days })) : null,
    open.length ? h("div", { class: "open-inc" }, t("history.open"), ": ",
      open.map((i) => h("a", { href: "#", onclick: (e) => { e.preventDefault(); hooks.onSelect(i.id); } },
        `#${i.id} ${categoryLabel(i.category)} `))) : null,
    calls.length ? [h("h3", {}, t("history.title", { days })),
      h("ul", {}, calls.slice(0, 5).map((c) => h("li", { dataset: { call: c.id } },
        `${formatTime(c.received_at, { date: true })} · ${t(`call.${c.disposition}`)}`,
        c.category ? ` · ${categoryLabel(c.category)}` : "",
        c.incident_id ? ` · #${c.incident_id}` : "", c.address ? ` · ${c.address}` : "")))]
      : h("p", { class: "hint" }, t("history.none")));
}


/** Errors of the nested incident are shown beside the form's own fields. */
export function formField(name) {
  return name.startsWith("incident.") ? name.slice("incident.".length) : name;
}

/** After a call is logged: the repeat-caller flag, and the AML circle of its incident. */
export function afterLogged(answer) {
  repeat = { ...answer.repeat_caller, phone: answer.caller_phone };
  renderRepeat();
  if (answer.incident && answer.location_source === "aml" && answer.accuracy_m != null) {
    aml.byIncident.set(answer.incident.id,
      { ...answer.location, radius_m: answer.accuracy_m });
  }
  aml.fix = null;
  aml.phone = "";
  renderAml();
}

function renderRepeat() {
  const flag = $("#repeat-flag");
  const on = Boolean(repeat?.flagged);
  flag.hidden = !on;
  flag.dataset.phone = repeat?.phone ?? "";
  flag.textContent = on ? t("call.repeat_caller", {
    phone: repeat.phone, n: repeat.prank_or_ghost_calls, days: repeat.days }) : "";
}

/** A live aml.received event: an incident's caller position arrived after the call. */
export function onAmlEvent(ev) {
  const loc = ev.data?.location;
  if (ev.incident_id && loc && ev.data.radius_m != null) {
    aml.byIncident.set(ev.incident_id, { ...loc, radius_m: ev.data.radius_m });
  }
  refreshAml();
}

/** Look for a held AML fix for the number being typed. */
export async function refreshAml() {
  const phone = $("#f-phone").value.trim();
  const seq = ++aml.seq;
  let fix = null;
  if (phone.replace(/\D/g, "").length >= 6) {
    try {
      const res = await API.heldAml(phone);
      fix = res.items.find((a) => a.location) ?? null;
    } catch {
      fix = null; // a refused lookup only means no circle; the call can still be logged
    }
  }
  if (seq !== aml.seq) return; // a newer lookup is under way
  aml.phone = phone;
  aml.fix = fix;
  renderAml();
}

function renderAml() {
  const box = $("#aml-box");
  const fix = aml.fix;
  box.hidden = !fix;
  if (fix) {
    fill(box, h("span", { class: "aml-text" }, t("call.aml_fix", {
      lat: fix.location.lat.toFixed(5), lon: fix.location.lon.toFixed(5),
      m: Math.round(fix.radius_m ?? 0) })), " ",
    h("button", { type: "button", id: "use-aml",
      onclick: () => hooks.onUseAml(fix.location.lat, fix.location.lon) }, t("call.aml_use")));
  }
  hooks.onChange();
}

/** Circles for the map: the caller on the line, and the open incidents located by AML. */
export function amlCircles(openIds) {
  const out = [];
  if (aml.fix?.location && aml.fix.radius_m != null) {
    out.push({ ...aml.fix.location, radius_m: aml.fix.radius_m,
      label: t("call.aml_circle", { m: Math.round(aml.fix.radius_m) }) });
  }
  for (const [id, c] of aml.byIncident) {
    if (!openIds.has(id)) continue;
    out.push({ ...c, label: `#${id} ${t("call.aml_circle", { m: Math.round(c.radius_m) })}` });
  }
  return out;
}

/** Ask the server which open incidents the report being typed may duplicate. */
export const updateDuplicates = debounce(async (loc, category) => {
  const box = $("#nearby");
  const seq = ++dupSeq;
  if (!loc || typeof loc.lat !== "number" || typeof loc.lon !== "number") {
    fill(box);
    box.classList.remove("warn");
    return;
  }
  let items;
  try {
    items = (await API.duplicates(loc.lat, loc.lon, category || undefined)).items;
  } catch {
    items = null; // coordinates still being typed (out of range): no offer yet
  }
  if (seq !== dupSeq) return;
  renderDuplicates(box, items ?? []);
}, 200);

function renderDuplicates(box, items) {
  fill(box,
    h("h3", {}, items.length ? t("intake.nearby") : t("intake.nearby_none")),
    h("ul", {}, items.map((i) => h("li", { class: "nearby-item", dataset: { id: i.id } },
      h("span", { onclick: () => hooks.onSelect(i.id) },
        `#${i.id} ${categoryLabel(i.category)} · ${distance(i.distance_m)}` +
        `${i.radius_m != null ? ` (${radiusText(i.radius_m)})` : ""} · ${i.address || ""}`),
      " ",
      h("button", { type: "button", class: "link-dup", onclick: () => linkTo(i.id) },
        t("call.link_to", { id: i.id }))))));
  box.classList.toggle("warn", items.length > 0);
}

// Duplicates lie within a few hundred metres: "40 m" says more than "0.0 km".
function distance(metres) {
  return metres < 1000 ? `${Math.round(metres)} m` : formatKm(metres);
}

async function linkTo(incidentId) {
  for (const el of $$("#intake-form .err")) el.textContent = "";
  const body = { caller_phone: $("#f-phone").value, disposition: "duplicate",
    incident_id: incidentId, note: $("#f-notes").value };
  const address = $("#f-address").value.trim();
  if (address && hooks.limits?.().call_address) body.address = address;
  else if (address) body.note = [address, body.note].filter(Boolean).join(" — ");
  const loc = callBody({ location: hooks.location() }).location;
  if (loc && typeof loc.lat === "number" && typeof loc.lon === "number") body.location = loc;
  await linkCall(withClock(body));
}

/** Log the call on the line as another caller of incident `incidentId` (no unit sent). */
export async function linkCall(body) {
  const msg = $("#intake-msg");
  try {
    const answer = await API.logCall(body, API.newKey());
    afterLogged(answer);
    hooks.onLinked(answer);
  } catch (err) {
    msg.className = "err";
    msg.textContent = err instanceof API.ApiError ? codeText(err.error) : t("err.network");
    if (err instanceof API.ApiError) hooks.onErrors(err);
  }
}
