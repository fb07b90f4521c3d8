// The supervisor's "nomor iseng" list: numbers past the repeat threshold with their
// history; a warning SMS (or its text to copy, without a gateway) and a block request
// that always expires. Nothing is blocked by the system. Also the callback figures.

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import { formatDuration, onLangChange, t } from "./i18n.js";

// Per listed call id: the last answer to show ({copy: text} or {note: text}); it
// survives the list being redrawn.
const state = { list: null, stats: null, shown: new Map() };

async function refresh() {
  const [list, stats] = await Promise.allSettled([
    API.api("/api/v1/pranks"), API.api("/api/v1/callbacks/stats?days=7")]);
  if (list.status === "fulfilled") state.list = list.value;
  if (stats.status === "fulfilled") state.stats = stats.value;
  render();
}

function when(iso) {
  return new Date(iso).toLocaleString("id-ID", { dateStyle: "short", timeStyle: "short" });
}

function pct(x) { return x == null ? "—" : `${Math.round(x * 100)} %`; }

function renderStats() {
  const s = state.stats;
  if (!s) return "";
  return h("p", { id: "callback-stats", class: "cb-stats" }, t("callback.stats", {
    ghosts: s.ghost_calls, tasks: s.tasks, done: s.done, rate: pct(s.callback_rate),
    in_time: pct(s.in_time_share), p50: formatDuration(s.delay_p50_s),
    p90: formatDuration(s.delay_p90_s) }));
}

function shownFor(callId) {
  const s = state.shown.get(callId);
  if (!s) return "";
  if (s.copy) return h("span", {}, t("prank.copy"),
    h("textarea", { class: "prank-text", readonly: "", rows: 3 }, s.copy));
  return s.note;
}

function numberRow(n) {
  const msg = h("div", { class: "prank-msg", role: "status" }, shownFor(n.call_id));
  const show = (value) => { state.shown.set(n.call_id, value); fill(msg, shownFor(n.call_id)); };
  const warn = h("button", { type: "button", class: "prank-warn" }, t("prank.warn"));
  warn.addEventListener("click", async () => {
    warn.disabled = true;
    try {
      const r = await API.api(`/api/v1/pranks/${n.call_id}/warning`, { method: "POST", body: {} });
      show(r.delivery === "copy" ? { copy: r.text } : { note: t(`prank.delivery.${r.delivery}`) });
      refresh();
    } catch (e) { show({ note: e.message }); warn.disabled = false; }
  });
  const hours = h("input", { type: "number", class: "prank-hours", min: "1", max: "168", value: "24" });
  const reason = h("input", { class: "prank-reason", maxlength: "500",
    placeholder: t("prank.reason") });
  const block = h("button", { type: "button", class: "prank-block" }, t("prank.block"));
  block.addEventListener("click", async () => {
    try {
      await API.api(`/api/v1/pranks/${n.call_id}/block`,
        { method: "POST", body: { hours: Number(hours.value), reason: reason.value } });
      refresh();
    } catch (e) { show({ note: e.message }); }
  });
  const history = n.actions.map((a) => h("li", {}, `${when(a.at)} ${t(`prank.action.${a.kind}`)} — ${a.actor}`
    + (a.expires_at ? ` (${t(a.active ? "prank.until" : "prank.expired", { at: when(a.expires_at) })})` : "")));
  return h("tr", { "data-call": n.call_id },
    h("td", {}, h("strong", {}, n.caller_phone)),
    h("td", {}, String(n.recent)),
    h("td", {}, n.calls.slice(0, 5).map((c) => `${when(c.logged_at)} ${t(`call.${c.disposition}`)}`).join("; ")),
    h("td", {}, history.length ? h("ul", { class: "prank-history" }, ...history) : "—"),
    h("td", { class: "prank-actions" }, warn, h("span", {}, " "), hours, reason, block, msg));
}

function render() {
  const box = $("#prank-body");
  const l = state.list;
  if (!l) { fill(box, renderStats()); return; }
  fill(box, renderStats(),
    h("p", { class: "hint" }, t("prank.rule", { n: l.threshold, days: l.days })),
    l.numbers.length ? h("table", { class: "prank-table" },
      h("thead", {}, h("tr", {}, ...["prank.number", "prank.count", "prank.calls",
        "prank.history", "prank.actions"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, ...l.numbers.map(numberRow)))
      : h("p", { class: "hint", id: "prank-empty" }, t("prank.none")));
}

export function initPranks() {
  if (!$("#prank-body")) return;
  onLangChange(render);
  refresh();
  setInterval(refresh, 30000);   // aggregates: read at most every 30 s, as the dashboard's
}

initPranks();
