// Hand-drawn SVG charts: vertical bars (histogram, trends) and horizontal bars (breakdowns).

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, parent, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function empty(svg, message) {
  svg.setAttribute("viewBox", "0 0 460 60");
  svg.replaceChildren();
  el("text", { x: 230, y: 35, "text-anchor": "middle" }, svg, message);
}

/**
 * Vertical bars. items: [{label, value, title, part}]; opts: {target, noData, fmt}.
 * A dashed line marks the target; bars above it are drawn in the warning colour;
 * ``part`` (a share of the value) is drawn over the bar's foot in its own colour.
 */
export function barChart(svg, items, { target = null, noData = "—", fmt = (v) => v } = {}) {
  if (!items.length) return empty(svg, noData);
  const W = 460, H = 220, L = 40, B = 36, T = 14;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const max = niceMax(Math.max(...items.map((i) => i.value || 0), target || 0));
  const plotW = W - L - 8, plotH = H - B - T;
  const bw = plotW / items.length;
  const y = (v) => T + plotH - (v / max) * plotH;
  el("line", { x1: L, y1: T + plotH, x2: W - 8, y2: T + plotH, class: "axis" }, svg);
  el("line", { x1: L, y1: T, x2: L, y2: T + plotH, class: "axis" }, svg);
  for (const v of [0, max / 2, max]) {
    el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, svg, fmt(v));
  }
  const every = Math.ceil(items.length / 12);
  items.forEach((it, i) => {
    const v = it.value || 0;
    const x = L + i * bw;
    const bar = el("rect", {
      x: x + bw * 0.1, y: y(v), width: Math.max(1, bw * 0.8), height: T + plotH - y(v),
      class: `bar${target != null && v > target ? " over" : ""}`,
      "data-label": it.label, "data-value": v,
    }, svg);
    el("title", {}, bar, it.title ?? `${it.label}: ${fmt(v)}`);
    if (it.part > 0) {   // a share of the bar (e.g. prank and silent calls), from the axis up
      const part = el("rect", {
        x: x + bw * 0.1, y: y(it.part), width: Math.max(1, bw * 0.8),
        height: T + plotH - y(it.part), class: "bar prank", "data-label": it.label,
        "data-part": it.part,
      }, svg);
      el("title", {}, part, it.title ?? `${it.label}: ${fmt(it.part)}`);
    }
    if (i % every === 0) {
      el("text", { x: x + bw / 2, y: H - B + 14, "text-anchor": "middle" }, svg, it.label);
    }
  });
  if (target != null && target <= max) {
    el("line", { x1: L, y1: y(target), x2: W - 8, y2: y(target), class: "target" }, svg);
  }
}

/** Horizontal bars, one row per item: for breakdowns with long labels. */
export function hbarChart(svg, items, { target = null, noData = "—", fmt = (v) => v } = {}) {
  if (!items.length) return empty(svg, noData);
  const W = 460, row = 20, L = 130, R = 70, T = 6;
  const H = T * 2 + row * items.length;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const max = niceMax(Math.max(...items.map((i) => i.value || 0), target || 0));
  const x = (v) => L + (v / max) * (W - L - R);
  items.forEach((it, i) => {
    const v = it.value || 0;
    const y = T + i * row;
    el("text", { x: L - 6, y: y + 14, "text-anchor": "end" }, svg, it.label);
    const bar = el("rect", {
      x: L, y: y + 3, width: Math.max(1, x(v) - L), height: row - 6,
      class: `bar${target != null && v > target ? " over" : ""}`,
      "data-label": it.label, "data-value": v,
    }, svg);
    el("title", {}, bar, it.title ?? `${it.label}: ${fmt(v)}`);
    el("text", { x: x(v) + 4, y: y + 14 }, svg, it.note ?? fmt(v));
  });
  if (target != null && target <= max) {
    el("line", { x1: x(target), y1: 0, x2: x(target), y2: H, class: "target" }, svg);
  }
}
