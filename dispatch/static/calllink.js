// The caller location link on the console: for the call just logged (the caller is
// still on the line), Alt+L or the button makes a one-time link. The server sends it
// by SMS when a gateway is configured; it is always shown here to copy, with a
// WhatsApp link prefilled. Each position the caller's phone then shares arrives
// through the live stream (call.location_fix), is drawn with its circle, and
// "Pakai lokasi ini" moves the call's incident to it.

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { codeText, formatTime, t } from "./i18n.js";

const cur = { call: null, link: null, error: "", fixes: [], busy: false };
let hooks = { onChange: () => {}, onUse: () => {}, onFocus: () => {} };

/** hooks: onChange() (redraw the map), onUse(incident), onFocus(lat, lon). */
export function initCallLink(given) {
  hooks = { ...hooks, ...given };
  document.addEventListener("keydown", (e) => {
    if (e.altKey && !e.ctrlKey && e.code === "KeyL" && cur.call) {
      e.preventDefault();
      makeLink();
    }
  });
  render();
}

/** A call was logged: it becomes the call a link is made for. */
export function onCallLogged(answer) {
  if (!answer?.id) return;
  cur.call = { id: answer.id, incident_id: answer.incident_id ?? null };
  cur.link = null;
  cur.error = "";
  cur.fixes = [];
  render();
  hooks.onChange();
}

/** A live event; only this call's link and positions concern the box. */
export function onLinkEvent(kind, ev) {
  const d = ev.data || {};
  if (!cur.call || d.call_id !== cur.call.id) return;
  if (kind === "call.location_fix" && d.location) {
    if (cur.fixes.some((f) => f.fix_id === d.fix_id)) return;
    cur.fixes.unshift({ fix_id: d.fix_id, lat: d.location.lat, lon: d.location.lon,
      radius_m: d.accuracy_m, at: d.positioned_at });
    render();
    hooks.onChange();
    if (cur.fixes.length === 1) hooks.onFocus(d.location.lat, d.location.lon);
  }
}

/** Circles for the map: the positions shared for the current call. */
export function fixCircles() {
  return cur.fixes.slice(0, 5).map((f, i) => ({ ...f,
    label: t(i === 0 ? "link.fix_latest" : "link.fix", { m: Math.round(f.radius_m) }) }));
}

async function makeLink() {
  if (!cur.call || cur.busy) return;
  cur.busy = true;
  cur.error = "";
  render();
  try {
    cur.link = await api(`/api/v1/calls/${cur.call.id}/location-link`,
      { method: "POST", body: { send_sms: true } });
  } catch (err) {
    cur.error = err?.error?.code ? codeText(err.error) : t("err.network");
  } finally {
    cur.busy = false;
    render();
  }
}

async function useFix(fix) {
  try {
    const inc = await api(`/api/v1/location-fixes/${fix.fix_id}/use`, { method: "POST" });
    fix.used = true;
    cur.error = "";
    hooks.onUse(inc);
  } catch (err) {
    cur.error = err?.error?.code ? codeText(err.error) : t("err.network");
  }
  render();
}

function smsLine(link) {
  const sms = link.sms || {};
  if (sms.status === "sent") return h("p", { class: "ok sms-status", dataset: { sms: "sent" } },
    t("link.sms_sent"));
  if (sms.status === "failed") return h("p", { class: "err sms-status", dataset: { sms: "failed" } },
    t("link.sms_failed", { error: sms.error || "" }));
  return h("p", { class: "hint sms-status", dataset: { sms: sms.status || "not_sent" } },
    t("link.sms_none"));
}

function linkPart(link) {
  const input = h("input", { id: "calllink-url", readonly: true, value: link.url,
    onfocus: (e) => e.target.select() });
  return [
    smsLine(link),
    h("label", {}, t("link.copy_hint"), input),
    h("div", { class: "calllink-actions" },
      h("button", { type: "button", id: "calllink-copy", onclick: async () => {
        input.select();
        try { await navigator.clipboard.writeText(link.url); } catch { /* selected to copy */ }
      } }, t("link.copy")),
      link.whatsapp_url ? h("a", { id: "calllink-wa", href: link.whatsapp_url, target: "_blank",
        rel: "noopener noreferrer" }, t("link.whatsapp")) : null),
    h("p", { class: "hint" }, t("link.expires", {
      time: formatTime(link.expires_at) })),
  ];
}

function fixItem(f, i) {
  return h("li", { class: `calllink-fix${i === 0 ? " latest" : ""}`, dataset: { fix: f.fix_id } },
    h("span", { onclick: () => hooks.onFocus(f.lat, f.lon) },
      `${f.lat.toFixed(5)}, ${f.lon.toFixed(5)} ±${Math.round(f.radius_m)} m`,
      f.at ? ` · ${formatTime(f.at)}` : ""), " ",
    cur.call.incident_id ? h("button", { type: "button", class: "use-fix primary",
      disabled: f.used ? true : null, onclick: () => useFix(f) },
    f.used ? t("link.used") : t("link.use")) : null);
}

function render() {
  const box = $("#calllink-box");
  if (!box) return;
  box.hidden = !cur.call;
  if (!cur.call) { fill(box); return; }
  box.dataset.call = String(cur.call.id);
  fill(box,
    h("h3", {}, t("link.title", { id: cur.call.id })),
    h("button", { type: "button", id: "calllink-make", disabled: cur.busy ? true : null,
      onclick: makeLink }, cur.link ? t("link.again") : t("link.make")),
    cur.link ? linkPart(cur.link) : null,
    cur.error ? h("p", { class: "err", id: "calllink-error" }, cur.error) : null,
    cur.fixes.length ? h("ol", { class: "calllink-fixes" }, cur.fixes.map(fixItem))
      : cur.link ? h("p", { class: "hint" }, t("link.waiting")) : null);
}
