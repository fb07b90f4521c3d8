// The supervisor dashboard: response-time percentiles per interval and the share
// within target for a period and category, charts, and the CSV export. The live
// counts follow the stream's snapshots (sse.js BoardStore); the figures are read
// again when the stream reports changes, at most every AGGREGATES_EVERY_MS.

import * as API from "./api.js";
import { $, fill, h } from "./dom.js";
import {
  applyI18n, bindToggle, categoryLabel, formatDuration, onLangChange, setMeta, t, unitTypeLabel,
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

async function load() {
  loadedAt = Date.now();
  const q = query();
  $("#csv").href = `/api/v1/reports/incidents.csv?${q}`;
  const get = (path, extra = {}) =>
    API.api(`${path}?${new URLSearchParams({ ...Object.fromEntries(q), ...extra })}`);
  try {
    const [stats, hist, day, hour, kec, utype] = await Promise.all([
      get("/api/v1/stats/response-times"),
      get("/api/v1/reports/histogram", { bin_s: 60 }),
      get("/api/v1/reports/response-times", { group: "day" }),
      get("/api/v1/reports/response-times", { group: "hour" }),
      get("/api/v1/reports/response-times", { group: "kecamatan" }),
      get("/api/v1/reports/response-times", { group: "unit_type" }),
    ]);
    last = { stats, hist, day, hour, kec, utype };
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

function renderTable() {
  const cols = ["count", "p50", "p90", "p95", "target", "within"];
  fill($("#intervals"),
    h("thead", {}, h("tr", {}, h("th", {}, t("sup.interval")), cols.map((c) =>
      h("th", {}, { count: t("sup.count"), target: t("sup.target"), within: t("sup.within") }[c]
        ?? c)))),
    h("tbody", {}, INTERVALS.map((name) => {
      const r = last.stats.intervals[name];
      const cell = (col, text) => h("td", { dataset: { interval: name, col } }, text);
      return h("tr", {}, h("td", {}, t(`interval.${name}`)),
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

function render() {
  if (!last) return;
  renderTable();
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
  onLangChange(() => { fillCategories(); render(); renderCounts(); });
  const live = new LiveStream({
    onEvent,
    onState: bindBanner($("#conn-banner"), $("#conn-badge"), t),
    onReady: ({ resumed }) => { if (!resumed) loadBoard(); },
    onResync: () => { loadBoard(); reloadSoon(); },
  });
  window.siap112 = { live, reload: load };
  live.connect();
  await load();
  applyI18n();
}

main();
