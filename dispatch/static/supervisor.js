// The supervisor dashboard: response-time percentiles per interval and the share
// within target for a period and category (all four intervals of the same unit, so
// they add up: the page shows the means as a sum), the call side (outcomes with the
// prank/silent share, answer times against the 15 s / 20 s targets, by hour and
// kecamatan), charts, the CSV export and the daily report. Simulated data is flagged.
// The live counts follow the stream's snapshots (sse.js BoardStore); the figures are
// read again when the stream reports changes, at most every AGGREGATES_EVERY_MS; the
// open alerts are read again after an alert event.

import * as API from "./api.js";
import { $, debounce, fill, h } from "./dom.js";
import {
  applyI18n, bindToggle, categoryLabel, currentLang, formatDuration, onLangChange, setMeta, t,
  unitTypeLabel,
} from "./i18n.js";
import { barChart, hbarChart } from "./charts.js";
import { BoardStore, bindBanner, LiveStream } from "./sse.js";
import { showSession } from "./session.js";

const INTERVALS = ["call_processing", "turnout", "travel", "total"];
const WIB = "+07:00";   // the Command Center's clock: periods are whole local days
const DAY_MS = 86400000;
const minutes = (s) => (s == null ? null : s / 60);
const fmtMin = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));

let meta = null;
let last = null;
const board = new BoardStore();
const AGGREGATES_EVERY_MS = 30000;
let loadedAt = 0;
let reloadTimer = null;

/** Read the figures again soon, but never sooner than AGGREGATES_EVERY_MS after the last. */
function reloadSoon() {
  if (reloadTimer !== null) return;
  const wait = Math.max(0, loadedAt + AGGREGATES_EVERY_MS - Date.now());
  reloadTimer = setTimeout(() => { reloadTimer = null; load(); }, wait);
}

async function loadBoard() {
  board.beginLoad();
  try {
    const [inc, units] = await Promise.all([API.openIncidents(), API.units()]);
    board.finishLoad(inc.items, units.items);
  } catch {
    board.during = null;
  }
  renderCounts();
}

function renderCounts() {
  const incidents = [...board.incidents.values()];
  const units = [...board.units.values()];
  const box = $("#live-counts");
  if (!box) return;
  fill(box, t("sup.live_counts", {
    open: incidents.length,
    queued: incidents.filter((i) => i.status === "queued").length,
    available: units.filter((u) => u.status === "available").length,
    units: units.length,
  }));
  box.dataset.open = String(incidents.length);
}

function onEvent(kind, ev) {
  const changed = board.apply(ev);
  if (!changed.incident && !changed.unit) return;
  renderCounts();
  reloadSoon();
}

function isoDay(d) { return d.toISOString().slice(0, 10); }

function query() {
  const from = $("#from").value, to = $("#to").value;
  const end = isoDay(new Date(Date.parse(`${to}T00:00:00Z`) + DAY_MS));
  const p = new URLSearchParams({ from: `${from}T00:00:00${WIB}`, to: `${end}T00:00:00${WIB}` });
  if ($("#category").value) p.set("category", $("#category").value);
  return p;
}

function setLinks(q) {
  const csv = (extra) => `/api/v1/reports/incidents.csv?${new URLSearchParams({
    ...Object.fromEntries(q), lang: currentLang(), tz: "WIB", ...extra })}`;
  $("#csv").href = csv({ sep: ";" });
  $("#csv-comma").href = csv({ sep: "," });
  $("#daily").href = `/reports/daily?${new URLSearchParams({ date: $("#to").value,
    lang: currentLang() })}`;
}

async function load() {
  loadedAt = Date.now();
  const q = query();
  setLinks(q);
  const get = (path, extra = {}) =>
    API.api(`${path}?${new URLSearchParams({ ...Object.fromEntries(q), ...extra })}`);
  try {
    const [stats, hist, day, hour, kec, utype, calls] = await Promise.all([
      get("/api/v1/stats/response-times"),
      get("/api/v1/reports/histogram", { bin_s: 60 }),
      get("/api/v1/reports/response-times", { group: "day" }),
      get("/api/v1/reports/response-times", { group: "hour" }),
      get("/api/v1/reports/response-times", { group: "kecamatan" }),
      get("/api/v1/reports/response-times", { group: "unit_type" }),
      API.api(`/api/v1/stats/calls?${new URLSearchParams({ from: q.get("from"),
        to: q.get("to") })}`),
    ]);
    last = { stats, hist, day, hour, kec, utype, calls };
    $("#filter-error").textContent = "";
    render();
  } catch (err) {
    $("#filter-error").textContent = err.message || t("err.network");
  }
}

function targetOf(interval) {
  const tg = last.stats.intervals[interval].target_s;
  return typeof tg === "number" ? tg : tg?.max ?? null;
}

function targetText(tg) {
  if (tg == null) return "—";
  return typeof tg === "number" ? formatDuration(tg)
    : `${formatDuration(tg.min)}–${formatDuration(tg.max)}`;
}

const defText = (name) => last.stats.definitions?.[name]?.[currentLang()] ?? "";

function renderTable() {
  const cols = ["count", "p50", "p90", "p95", "target", "within"];
  const heads = { count: t("sup.count"), p50: t("sup.p50"), p90: t("sup.p90"),
    p95: t("sup.p95"), target: t("sup.target"), within: t("sup.within") };
  fill($("#intervals"),
    h("thead", {}, h("tr", {}, h("th", {}, t("sup.interval")), cols.map((c) =>
      h("th", {}, heads[c])))),
    h("tbody", {}, INTERVALS.map((name) => {
      const r = last.stats.intervals[name];
      const cell = (col, text) => h("td", { dataset: { interval: name, col } }, text);
      return h("tr", { title: defText(name) }, h("td", {}, t(`interval.${name}`)),
        cell("count", String(r.count)), cell("p50", formatDuration(r.p50)),
        cell("p90", formatDuration(r.p90)), cell("p95", formatDuration(r.p95)),
        cell("target", targetText(r.target_s)),
        cell("within", r.within_target == null ? "—" : `${Math.round(r.within_target * 100)}%`));
    })));
}

function groupItems(report, interval, label = (k) => k) {
  return report.groups.filter((g) => g.intervals[interval]).map((g) => {
    const r = g.intervals[interval];
    return { label: label(g.key), value: minutes(r.p50),
      note: `${fmtMin(minutes(r.p50))} (n=${r.count})`,
      title: `${label(g.key)}: p50 ${formatDuration(r.p50)}, p90 ${formatDuration(r.p90)}, ` +
        `n=${r.count}, ${Math.round(r.within_target * 100)}%` };
  });
}

function renderCharts() {
  const noData = t("sup.no_data");
  const totalTarget = minutes(targetOf("total"));
  barChart($("#chart-histogram"), last.hist.bins.map((b) => ({
    label: String(b.from_s / 60), value: b.count,
    title: `${b.from_s / 60}–${b.to_s / 60} min: ${b.count}` })), { noData });
  barChart($("#chart-day"), groupItems(last.day, "total", (k) => k.slice(5)),
    { target: totalTarget, noData, fmt: fmtMin });
  const byHour = new Map(last.hour.groups.map((g) => [g.key, g]));
  const hours = [...Array(24).keys()].map((i) => String(i).padStart(2, "0"));
  barChart($("#chart-hour"), last.hour.groups.length ? hours.map((k) => {
    const r = byHour.get(k)?.intervals.total;
    return { label: k, value: r ? minutes(r.p50) : 0, title: r ? `${k}: n=${r.count}` : k };
  }) : [], { target: totalTarget, noData, fmt: fmtMin });
  hbarChart($("#chart-kecamatan"), groupItems(last.kec, "total"),
    { target: totalTarget, noData, fmt: fmtMin });
  hbarChart($("#chart-unit_type"), groupItems(last.utype, "travel", unitTypeLabel),
    { target: minutes(targetOf("travel")), noData, fmt: fmtMin });
}

function renderChain() {
  const c = last.stats.chain;
  $("#chain").textContent = c && c.count ? t("sup.chain", {
    n: c.count, cp: formatDuration(c.mean.call_processing), t: formatDuration(c.mean.turnout),
    tr: formatDuration(c.mean.travel), total: formatDuration(c.mean.total) })
    : t("sup.chain_none");
  $("#definitions").textContent = defText("sum");
}

function renderSimulated() {
  const inc = last.stats.simulated, calls = last.calls.simulated;
  const flagged = inc?.flag || calls?.flag;
  $("#sim-banner").hidden = !flagged;
  $("#sim-banner").textContent = flagged ? t("sup.simulated", {
    m: inc.simulated, n: inc.incidents, c: calls.simulated, k: calls.calls }) : "";
}

const pct = (v) => (v == null ? "—" : `${Math.round(v * 100)}%`);

function renderCalls() {
  const c = last.calls;
  fill($("#calls-summary"),
    h("span", { dataset: { figure: "calls-total" } }, `${t("sup.calls_total")}: `,
      h("b", {}, String(c.total))), " · ",
    h("span", { dataset: { figure: "prank-ghost" } }, `${t("sup.prank_ghost")}: `,
      h("b", {}, pct(c.prank_or_ghost_share))));
  const rows = Object.entries(c.by_disposition).sort((a, b) => b[1] - a[1]);
  fill($("#dispositions"),
    h("thead", {}, h("tr", {}, h("th", {}, t("sup.outcome")), h("th", {}, t("sup.count")),
      h("th", {}, t("sup.share")))),
    h("tbody", {}, rows.map(([code, n]) => h("tr", {
      class: code === "prank" || code === "ghost" ? "prank-row" : null,
      dataset: { disposition: code } },
    h("td", {}, t(`call.${code}`)), h("td", {}, String(n)),
    h("td", {}, pct(c.total ? n / c.total : null))))));
  const a = c.answer_time;
  fill($("#answer-summary"),
    h("span", {}, `${t("sup.answer_count")}: `, h("b", {}, String(a.count))), " · ",
    h("span", {}, `${t("sup.median")}: `, h("b", {}, formatDuration(a.p50))), " · ",
    h("span", {}, "p90: ", h("b", {}, formatDuration(a.p90))));
  fill($("#answer"),
    h("thead", {}, h("tr", {}, h("th", {}, t("sup.target")), h("th", {}, t("sup.within")),
      h("th", {}, t("sup.required")), h("th", {}, ""))),
    h("tbody", {}, a.targets.map((tg) => h("tr", { dataset: { target: tg.target_s } },
      h("td", {}, t("sup.answer_target", { s: tg.target_s })),
      h("td", { dataset: { col: "share" } }, pct(tg.share)),
      h("td", {}, pct(tg.required_share)),
      h("td", { class: tg.met ? "met" : tg.met === false ? "not-met" : null },
        tg.met ? t("sup.met") : tg.met === false ? t("sup.not_met") : "—")))));
  const noData = t("sup.no_data");
  const byHour = new Map(c.by_hour.map((r) => [r.hour, r]));
  barChart($("#chart-calls-hour"), c.by_hour.length ? [...Array(24).keys()].map((i) => {
    const r = byHour.get(i);
    const label = String(i).padStart(2, "0");
    return { label, value: r ? r.count : 0, part: r ? r.prank_or_ghost : 0,
      title: r ? `${label}: ${r.count} (${t("sup.prank_ghost")} ${r.prank_or_ghost})` : label };
  }) : [], { noData });
  hbarChart($("#chart-calls-kecamatan"), c.by_kecamatan.map((r) => ({
    label: r.kecamatan || t("sup.no_location"), value: r.count,
    note: `${r.count} (${r.prank_or_ghost})`,
    title: `${r.kecamatan || t("sup.no_location")}: ${r.count}, ${t("sup.prank_ghost")} ` +
      `${r.prank_or_ghost}` })), { noData });
}

let alerts = [];

const wibTime = (iso) => new Date(Date.parse(iso) + 7 * 3600000).toISOString().slice(11, 16);

async function loadAlerts() {
  try {
    alerts = (await API.api("/api/v1/alerts")).alerts;
  } catch (err) {
    $("#filter-error").textContent = err.message || t("err.network");
    return;
  }
  renderAlerts();
}

function renderAlerts() {
  const table = $("#alerts");
  if (!alerts.length) {
    fill(table, h("tbody", {}, h("tr", {}, h("td", { class: "empty" }, t("sup.alerts_none")))));
    return;
  }
  fill(table,
    h("thead", {}, h("tr", {}, h("th", {}, t("sup.alert_kind")), h("th", {}, t("sup.alert_at")),
      h("th", {}, t("sup.alert_since")), h("th", {}, t("sup.alert_seen")))),
    h("tbody", {}, alerts.map((a) => h("tr", {
      class: a.acknowledged_at ? "seen" : "unseen", dataset: { alert: a.id, kind: a.kind } },
    h("td", {}, t(`alert.${a.kind}`)),
    h("td", {}, `#${a.incident_id}${a.callsign ? ` · ${a.callsign}` : ""}`),
    h("td", {}, `${wibTime(a.since)} WIB`),
    h("td", {}, a.acknowledged_by ?? "—")))));
}

function render() {
  renderAlerts();
  if (!last) return;
  renderTable();
  renderChain();
  renderSimulated();
  renderCalls();
  renderCharts();
}

function fillCategories() {
  const sel = $("#category");
  const current = sel.value;
  fill(sel, h("option", { value: "" }, t("sup.all")),
    Object.keys(meta.categories).map((c) => h("option", { value: c }, categoryLabel(c))));
  sel.value = current;
}

async function main() {
  bindToggle($("#lang"));
  showSession($("#session"));
  meta = await API.getMeta();
  setMeta(meta);
  fillCategories();
  const today = new Date(Date.now() + 7 * 3600000);   // today in WIB
  $("#to").value = isoDay(today);
  $("#from").value = isoDay(new Date(today - 29 * DAY_MS));
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  onLangChange(() => { fillCategories(); setLinks(query()); render(); renderCounts(); });
  const reloadAlerts = debounce(loadAlerts, 300);
  const live = new LiveStream({
    onEvent: (kind, ev) => {
      onEvent(kind, ev);   // counts from snapshots; figures at most every 30 s
      if (kind === "call.logged") reloadSoon();
      if (kind.startsWith("alert.")) reloadAlerts();
    },
    onState: bindBanner($("#conn-banner"), $("#conn-badge"), t),
    onReady: ({ resumed }) => { if (!resumed) loadBoard(); },
    onResync: () => { loadBoard(); reloadSoon(); reloadAlerts(); },
  });
  window.siap112 = { live, reload: load };
  live.connect();
  await Promise.all([load(), loadAlerts()]);
  applyI18n();
}

main();
