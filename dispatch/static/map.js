// The consoles' slippy map (Leaflet, vendored in /static/vendor/leaflet, loaded by the
// page as the global L): pan, wheel zoom, base tiles from the server's map.tile_url, or
// none (tile_url "": the vector boundaries alone, which need no internet). On top:
// boundaries with labels by zoom level, units with callsign and status colour,
// incidents by priority, accuracy circles, the location being entered.
//
// Boundaries are GeoJSON FeatureCollections read generically: each feature's
// properties give code, name and kind (or role), and label_lat/label_lon where its
// label goes. GET /api/v1/geo serves them as boundaries {areas, kecamatan, desa};
// an older answer with only outlines and kecamatan points is turned into the same.

/* global L */

const MIN_CIRCLE_PX = 13; // an incident marker's radius is 10
// Labels show within these zoom levels (the regency view is about 10): an area's name
// only until its kecamatan and desa names take over.
const LABEL_ZOOM = { area: [0, 12], kecamatan: [11, 99], desa: [13, 99] };
// Desa outlines from this zoom on: at the regency view 269 of them are only noise.
const DESA_ZOOM = 12;
const BLITAR = [[-8.36, 111.95], [-7.95, 112.45]];
// Up to this many units are drawn with their callsigns; more as dots (see setUnits).
const UNIT_LABELS = 400;

/**
 * Keep `layer` showing one marker per record of `list` that has a location: `held` maps
 * each record's id to {look, marker}; `describe(rec)` gives [look, make], and a marker
 * is made again only when its look changed. A live frame so redraws one marker, not all.
 */
function syncMarkers(layer, held, list, describe) {
  const seen = new Set();
  for (const rec of list) {
    if (!rec.location) continue;
    seen.add(rec.id);
    const [look, make] = describe(rec);
    const old = held.get(rec.id);
    if (old?.look === look) continue;
    if (old) layer.removeLayer(old.marker);
    const marker = make();
    marker.addTo(layer);
    held.set(rec.id, { look, marker });
  }
  for (const [id, old] of held) {
    if (!seen.has(id)) { layer.removeLayer(old.marker); held.delete(id); }
  }
}

/** A status's colour as the stylesheet gives it (.st-<status> sets --c). */
function statusColour(box, status) {
  const probe = element("span", `st-${status}`);
  probe.hidden = true;
  box.appendChild(probe);
  const colour = getComputedStyle(probe).getPropertyValue("--c").trim() || "#4b5563";
  probe.remove();
  return colour;
}

function element(tag, className, text = "") {
  const node = document.createElement(tag);
  node.className = className;
  if (text) node.textContent = text;
  return node;
}

function labelPoint(feature) {
  const p = feature.properties || {};
  if (typeof p.label_lat === "number" && typeof p.label_lon === "number") {
    return [p.label_lat, p.label_lon];
  }
  if (feature.geometry?.type === "Point") {
    const [lon, lat] = feature.geometry.coordinates;
    return [lat, lon];
  }
  const b = L.geoJSON(feature).getBounds();
  return b.isValid() ? [b.getCenter().lat, b.getCenter().lng] : null;
}

/** An older GET /api/v1/geo answer (outlines as [lat, lon] rings, kecamatan points). */
export function boundariesOf(geo) {
  if (geo.boundaries) return geo.boundaries;
  const ring = (line) => [line.map(([lat, lon]) => [lon, lat])];
  const areas = Object.entries(geo.outlines || {}).map(([name, line]) => ({
    type: "Feature", geometry: { type: "Polygon", coordinates: ring(line) },
    properties: { code: name, name: name === "kota_blitar" ? "Kota Blitar" : "Kabupaten Blitar",
      role: name === "regency" ? "regency" : name },
  }));
  const kecamatan = (geo.kecamatan || []).map((k) => ({
    type: "Feature", geometry: { type: "Point", coordinates: [k.lon, k.lat] },
    properties: { code: k.code, name: k.name },
  }));
  return {
    areas: { type: "FeatureCollection", features: areas },
    kecamatan: { type: "FeatureCollection", features: kecamatan },
    desa: { type: "FeatureCollection", features: [] },
  };
}

export class BlitarMap {
  /**
   * Draw the map into the element `box`. tiles: {tile_url, tile_attribution,
   * tile_max_zoom} from /api/v1/meta (tile_url "" = no base tiles).
   * onPick(lat, lon): the map was clicked; onSelect(id): an incident marker was.
   */
  constructor(box, geo, { onPick = null, onSelect = null, tiles = null } = {}) {
    this.box = box;
    this.onSelect = onSelect;
    this.map = L.map(box, { zoomSnap: 0.5, minZoom: 8, maxZoom: tiles?.tile_max_zoom || 18,
      worldCopyJump: false, attributionControl: true });
    this.map.attributionControl.setPrefix(false);
    this.addTiles(tiles);
    this.map.createPane("boundaries").style.zIndex = 350;
    this.map.createPane("circles").style.zIndex = 420;
    this.boundaryLayer = L.layerGroup().addTo(this.map);
    this.desaLayer = L.layerGroup();
    this.labels = { area: L.layerGroup(), kecamatan: L.layerGroup(), desa: L.layerGroup() };
    this.hospitalLayer = L.layerGroup().addTo(this.map);
    this.circleLayer = L.layerGroup().addTo(this.map);
    this.fixLayer = L.layerGroup().addTo(this.map);
    this.unitLayer = L.layerGroup().addTo(this.map);
    this.incidentLayer = L.layerGroup().addTo(this.map);
    this.pickLayer = L.layerGroup().addTo(this.map);
    this.map.fitBounds(BLITAR);
    this.setBoundaries(boundariesOf(geo));
    this.setHospitals(geo.hospitals || []);
    this.map.on("zoomend", () => this.showByZoom());
    if (onPick) {
      box.classList.add("pickable");
      this.map.on("click", (e) => onPick(Math.round(e.latlng.lat * 1e5) / 1e5,
        Math.round(e.latlng.lng * 1e5) / 1e5));
    }
  }

  addTiles(tiles) {
    this.box.dataset.tiles = tiles?.tile_url ? "on" : "off";
    this.box.dataset.tilesLoaded = "0";
    this.box.dataset.tileErrors = "0";
    if (!tiles?.tile_url) return;
    const layer = L.tileLayer(tiles.tile_url, {
      attribution: tiles.tile_attribution, maxZoom: tiles.tile_max_zoom || 19,
      // The pages send no Referer at all; a tile server such as OpenStreetMap's
      // refuses requests without one, so the tiles name the site's origin (no path).
      referrerPolicy: "strict-origin",
    });
    layer.on("tileload", () => {
      this.box.dataset.tilesLoaded = String(Number(this.box.dataset.tilesLoaded) + 1);
    });
    layer.on("tileerror", () => {
      this.box.dataset.tileErrors = String(Number(this.box.dataset.tileErrors) + 1);
    });
    layer.addTo(this.map);
  }

  /** Boundaries {areas, kecamatan, desa}: FeatureCollections (properties code, name, kind). */
  setBoundaries(b) {
    this.boundaryLayer.clearLayers();
    this.desaLayer.clearLayers();
    for (const group of Object.values(this.labels)) group.clearLayers();
    this.addCollection(b.areas, "area", this.boundaryLayer);
    this.addCollection(b.kecamatan, "kecamatan", this.boundaryLayer);
    this.addCollection(b.desa, "desa", this.desaLayer);
    this.showByZoom();
  }

  addCollection(fc, level, layer) {
    for (const f of fc?.features || []) {
      const p = f.properties || {};
      const kind = p.kind || p.role || level;
      if (f.geometry && f.geometry.type !== "Point") {
        L.geoJSON(f, {
          pane: "boundaries", interactive: false,
          style: { className: `bnd bnd-${level} bnd-${kind}`, weight: level === "desa" ? 1 : 2,
            fill: level === "area", fillOpacity: level === "area" ? 0.04 : 0 },
        }).addTo(layer);
      }
      const at = p.name ? labelPoint(f) : null;
      if (!at) continue;
      const label = element("span", "", p.name);
      label.dataset.code = p.code ?? "";
      L.marker(at, { interactive: false, keyboard: false,
        icon: L.divIcon({ className: `map-label map-label-${level}`, html: label,
          iconSize: null }) }).addTo(this.labels[level]);
    }
  }

  showByZoom() {
    const z = this.map.getZoom();
    for (const [level, group] of Object.entries(this.labels)) {
      const [from, below] = LABEL_ZOOM[level];
      const on = z >= from && z < below;
      if (on && !this.map.hasLayer(group)) group.addTo(this.map);
      if (!on && this.map.hasLayer(group)) group.remove();
    }
    const desa = z >= DESA_ZOOM;
    if (desa && !this.map.hasLayer(this.desaLayer)) this.desaLayer.addTo(this.map);
    if (!desa && this.map.hasLayer(this.desaLayer)) this.desaLayer.remove();
    this.box.dataset.zoom = String(z);
  }

  setHospitals(list) {
    this.hospitalLayer.clearLayers();
    for (const h of list) {
      L.marker([h.lat, h.lon], { title: h.name, keyboard: false,
        icon: L.divIcon({ className: "map-hospital", html: element("span", "", "+"),
          iconSize: [16, 16] }) }).addTo(this.hospitalLayer);
    }
  }

  /** Incidents: [{id, priority, status, location}]. */
  setIncidents(list, selectedId = null) {
    this.incidentMarkers ??= new Map();
    syncMarkers(this.incidentLayer, this.incidentMarkers, list, (inc) => {
      const className = `map-incident p${inc.priority} ${inc.status}` +
        `${inc.id === selectedId ? " selected" : ""}`;
      return [`${className}|${inc.location.lat}|${inc.location.lon}`, () => {
        const icon = L.divIcon({ iconSize: [22, 22], className,
          html: element("span", "", String(inc.id)) });
        const m = L.marker([inc.location.lat, inc.location.lon], { icon, riseOnHover: true,
          title: `#${inc.id} P${inc.priority}`, zIndexOffset: 1000 - inc.priority * 100 });
        m.on("add", () => { m.getElement().dataset.incident = String(inc.id); });
        if (this.onSelect) m.on("click", () => this.onSelect(inc.id));
        return m;
      }];
    });
  }

  /** Units: [{id, callsign, status, location}]. A fleet of up to UNIT_LABELS units is
   * drawn as elements with their callsigns beside them; a larger one (a province's, a
   * benchmark's) as dots on one canvas, the callsign on hover: thousands of labelled
   * elements take seconds to lay out and cannot be read at the regency's zoom anyway. */
  setUnits(list) {
    const dots = list.length > UNIT_LABELS;
    if (dots !== this.unitDots) {
      this.unitLayer.clearLayers();
      this.unitMarkers = new Map();
      this.unitDots = dots;
      this.box.dataset.unitMarkers = dots ? "dots" : "labels";
    }
    syncMarkers(this.unitLayer, this.unitMarkers, list, (u) => [
      `${u.status}|${u.location.lat}|${u.location.lon}|${u.callsign}`,
      () => (dots ? this.unitDot(u) : this.unitLabel(u))]);
  }

  unitLabel(u) {
    // A dot at the unit's position, its callsign beside it.
    const node = element("span", "unit-callsign", u.callsign);
    const icon = L.divIcon({ className: `map-unit st-${u.status}`, html: node,
      iconSize: null, iconAnchor: [5, 5] });
    const m = L.marker([u.location.lat, u.location.lon], { icon, keyboard: false,
      title: `${u.callsign} (${u.status})` });
    m.on("add", () => { m.getElement().dataset.unit = String(u.id); });
    return m;
  }

  unitDot(u) {
    this.canvas ??= L.canvas({ padding: 0.3 });
    this.colours ??= new Map();
    if (!this.colours.has(u.status)) this.colours.set(u.status, statusColour(this.box, u.status));
    const colour = this.colours.get(u.status);
    return L.circleMarker([u.location.lat, u.location.lon], { renderer: this.canvas,
      radius: 4, weight: 1, color: "#fff", fillColor: colour, fillOpacity: 1 })
      .bindTooltip(`${u.callsign} (${u.status})`);
  }

  circle(c, className, data) {
    // To scale, but never smaller than an incident marker: a 10 m GNSS fix must still
    // show around the incident it located (the tooltip gives the true radius).
    const g = L.featureGroup([
      L.circle([c.lat, c.lon], { radius: c.radius_m, pane: "circles", interactive: false,
        className: `${className}-circle` }),
      L.circleMarker([c.lat, c.lon], { radius: MIN_CIRCLE_PX, pane: "circles",
        className: `${className}-min`, interactive: false }),
      L.circleMarker([c.lat, c.lon], { radius: 2, pane: "circles", interactive: false,
        className: `${className}-dot` }),
    ]);
    g.on("add", () => g.eachLayer((l) => {
      const el = l.getElement();
      if (!el) return;
      el.dataset.radiusM = String(c.radius_m);
      for (const [k, v] of Object.entries(data || {})) el.dataset[k] = String(v);
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = c.label || "";
      el.appendChild(title);
    }));
    return g;
  }

  /** AML caller positions with their accuracy circles: [{lat, lon, radius_m, label}]. */
  setAccuracy(list) {
    this.circleLayer.clearLayers();
    for (const c of list) this.circle(c, "aml", {}).addTo(this.circleLayer);
  }

  /** Positions the caller's phone shared by link: [{fix_id, lat, lon, radius_m, label}]. */
  setCallerFixes(list) {
    this.fixLayer.clearLayers();
    for (const c of list) this.circle(c, "fix", { fix: c.fix_id }).addTo(this.fixLayer);
  }

  /** Bring a point into view (zooming in no further than `zoom`). */
  focus(lat, lon, zoom = 15) {
    this.map.setView([lat, lon], Math.max(this.map.getZoom(), zoom));
  }

  /** A unit's road route to an incident: the GeoJSON LineString Feature of
   * GET /api/v1/incidents/{id}/route (properties incident_id, unit_id), or null. */
  setRoute(feature) {
    if (!this.routeLayer) this.routeLayer = L.layerGroup().addTo(this.map);
    this.routeLayer.clearLayers();
    if (!feature?.geometry) return;
    const p = feature.properties || {};
    const line = L.geoJSON(feature, { interactive: false,
      style: { className: "map-route", color: "#1565c0", weight: 5, opacity: 0.8 } });
    line.on("add", () => line.eachLayer((l) => {
      const el = l.getElement();
      if (el) Object.assign(el.dataset, { incident: String(p.incident_id), unit: String(p.unit_id) });
    }));
    line.addTo(this.routeLayer);
  }

  /** The location being entered in the intake form, or null. */
  setPick(lat, lon) {
    this.pickLayer.clearLayers();
    if (lat == null || lon == null || Number.isNaN(lat) || Number.isNaN(lon)) return;
    L.marker([lat, lon], { interactive: false, keyboard: false,
      icon: L.divIcon({ className: "map-pick", html: element("span", ""),
        iconSize: [40, 40] }) }).addTo(this.pickLayer);
  }
}

/**
 * Draw on `bmap` the road route of the incident's first open assignment (fetched once
 * per incident and unit by fetchRoute(incidentId, unitId)), or clear it when `inc` is
 * null or has none. Without routing data the answer has no geometry: nothing is drawn.
 */
export async function showAssignedRoute(bmap, inc, fetchRoute) {
  const a = (inc?.assignments || []).find((x) => !x.ended_at);
  const key = inc && a ? `${inc.id}:${a.unit_id}` : "";
  if (!bmap || key === bmap.routeKey) return;
  bmap.routeKey = key;
  if (!key) { bmap.setRoute(null); return; }
  let feature = null;
  try { feature = await fetchRoute(inc.id, a.unit_id); } catch { /* drawn next selection */ }
  if (bmap.routeKey === key) bmap.setRoute(feature);
}
