// An SVG map of Kabupaten Blitar drawn from GET /api/v1/geo only: it needs no
// tile server, so it keeps working when the Command Center's internet link is down.
// Projection: equirectangular scaled by cos(latitude), fine over a 60 km regency.

const NS = "http://www.w3.org/2000/svg";
const W = 1000;
const PAD_DEG = 0.035;
const M_PER_DEG_LAT = 110_574; // metres per degree of latitude near 8° S
const MIN_CIRCLE_PX = 13; // an incident marker's radius is 10

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function bounds(geo) {
  const pts = [...geo.kecamatan, ...geo.hospitals];
  for (const line of Object.values(geo.outlines || {})) {
    for (const [lat, lon] of line) pts.push({ lat, lon });
  }
  const lats = pts.map((p) => p.lat), lons = pts.map((p) => p.lon);
  return {
    minLat: Math.min(...lats) - PAD_DEG, maxLat: Math.max(...lats) + PAD_DEG,
    minLon: Math.min(...lons) - PAD_DEG, maxLon: Math.max(...lons) + PAD_DEG,
  };
}

export class BlitarMap {
  /** Draw the base map into `svg`; onPick(lat, lon) is called when the map is clicked. */
  constructor(svg, geo, { onPick = null, onSelect = null } = {}) {
    this.svg = svg;
    this.b = bounds(geo);
    const midLat = (this.b.minLat + this.b.maxLat) / 2;
    this.kx = W / (this.b.maxLon - this.b.minLon);
    this.ky = this.kx / Math.cos((midLat * Math.PI) / 180);
    this.h = Math.round((this.b.maxLat - this.b.minLat) * this.ky);
    svg.setAttribute("viewBox", `0 0 ${W} ${this.h}`);
    svg.replaceChildren();
    el("rect", { x: 0, y: 0, width: W, height: this.h, class: "map-bg" }, svg);
    this.base = el("g", { class: "map-base" }, svg);
    this.unitLayer = el("g", { class: "map-units" }, svg);
    this.incidentLayer = el("g", { class: "map-incidents" }, svg);
    this.amlLayer = el("g", { class: "map-aml" }, svg); // above the markers it surrounds
    this.pickLayer = el("g", { class: "map-pick" }, svg);
    this.onSelect = onSelect;
    this.drawBase(geo);
    if (onPick) {
      svg.classList.add("pickable");
      svg.addEventListener("click", (e) => {
        if (e.target.closest(".map-incident")) return;
        const p = this.unproject(e.clientX, e.clientY);
        onPick(Math.round(p.lat * 1e5) / 1e5, Math.round(p.lon * 1e5) / 1e5);
      });
    }
  }

  xy(lat, lon) {
    return [(lon - this.b.minLon) * this.kx, (this.b.maxLat - lat) * this.ky];
  }

  unproject(clientX, clientY) {
    const pt = this.svg.createSVGPoint();
    pt.x = clientX; pt.y = clientY;
    const p = pt.matrixTransform(this.svg.getScreenCTM().inverse());
    return { lat: this.b.maxLat - p.y / this.ky, lon: this.b.minLon + p.x / this.kx };
  }

  drawBase(geo) {
    for (const [name, line] of Object.entries(geo.outlines || {})) {
      const d = line.map(([lat, lon], i) => `${i ? "L" : "M"}${this.xy(lat, lon).join(",")}`);
      el("path", { d: d.join(" ") + "Z", class: `map-outline outline-${name}` }, this.base);
    }
    for (const k of geo.kecamatan) {
      const [x, y] = this.xy(k.lat, k.lon);
      el("circle", { cx: x, cy: y, r: 3, class: "map-kec" }, this.base);
      el("text", { x: x + 5, y: y - 4, class: "map-kec-label" }, this.base).textContent = k.name;
    }
    for (const h of geo.hospitals) {
      const [x, y] = this.xy(h.lat, h.lon);
      const g = el("g", { class: "map-hospital", transform: `translate(${x},${y})` }, this.base);
      el("path", { d: "M-6,-2H-2V-6H2V-2H6V2H2V6H-2V2H-6Z" }, g);
      el("title", {}, g).textContent = h.name;
    }
  }

  /** Incidents: [{id, priority, status, location}] */
  setIncidents(list, selectedId = null) {
    this.incidentLayer.replaceChildren();
    for (const inc of list) {
      if (!inc.location) continue;
      const [x, y] = this.xy(inc.location.lat, inc.location.lon);
      const g = el("g", {
        class: `map-incident p${inc.priority} ${inc.status}${inc.id === selectedId ? " selected" : ""}`,
        transform: `translate(${x},${y})`, "data-incident": inc.id,
      }, this.incidentLayer);
      el("circle", { r: 10 }, g);
      el("text", { y: 4 }, g).textContent = String(inc.id);
      if (this.onSelect) g.addEventListener("click", () => this.onSelect(inc.id));
    }
  }

  /** Units: [{id, callsign, status, location}] */
  setUnits(list) {
    this.unitLayer.replaceChildren();
    for (const u of list) {
      if (!u.location) continue;
      const [x, y] = this.xy(u.location.lat, u.location.lon);
      const g = el("g", { class: `map-unit st-${u.status}`, transform: `translate(${x},${y})` },
        this.unitLayer);
      el("rect", { x: -5, y: -5, width: 10, height: 10, rx: 2 }, g);
      el("title", {}, g).textContent = `${u.callsign} (${u.status})`;
    }
  }

  /**
   * AML caller positions with their accuracy circles: [{lat, lon, radius_m, label}].
   * Drawn to scale, but never smaller than an incident marker: a 10 m GNSS fix must still
   * show around the incident it located (the tooltip gives the true radius).
   */
  setAccuracy(list) {
    this.amlLayer.replaceChildren();
    for (const c of list) {
      const [x, y] = this.xy(c.lat, c.lon);
      const r = Math.max(MIN_CIRCLE_PX, (c.radius_m / M_PER_DEG_LAT) * this.ky);
      const g = el("g", { class: "map-aml-fix", "data-radius-m": c.radius_m }, this.amlLayer);
      el("circle", { cx: x, cy: y, r, class: "aml-circle" }, g);
      el("circle", { cx: x, cy: y, r: 2, class: "aml-dot" }, g);
      el("title", {}, g).textContent = c.label;
    }
  }

  /** The location being entered in the intake form, or null. */
  setPick(lat, lon) {
    this.pickLayer.replaceChildren();
    if (lat == null || lon == null || Number.isNaN(lat) || Number.isNaN(lon)) return;
    const [x, y] = this.xy(lat, lon);
    const g = el("g", { transform: `translate(${x},${y})` }, this.pickLayer);
    el("circle", { r: 14, class: "pick-ring" }, g);
    el("path", { d: "M-20,0H-6M6,0H20M0,-20V-6M0,6V20", class: "pick-cross" }, g);
  }
}
