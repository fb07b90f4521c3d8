// The location box: the call-taker types a desa, kelurahan, kecamatan or landmark the
// way the caller says it ("sawentar", "ds. sumberjo kanigoro", "pasar wlingi") and
// picks a suggestion. The incident then goes to its point with the uncertainty that
// goes with it (a desa: its centroid, ± the radius of its area), chosen by the server
// from the code sent (source "desa" / "kecamatan" / "place").

import * as API from "./api.js";
import { $, debounce, fill, h } from "./dom.js";
import { t } from "./i18n.js";

let items = [];
let active = -1;
let chosen = null;
let seq = 0;
let hooks = { onPick: () => {} };

/** "± 350 m" or "± 1.2 km": how far from the point the caller may be. */
export function radiusText(metres) {
  if (metres == null) return "";
  return metres < 1000 ? `± ${Math.round(metres / 10) * 10} m`
    : `± ${(metres / 1000).toFixed(1)} km`;
}

function sourceOf(kind) {
  return kind === "place" ? "place" : kind === "kecamatan" ? "kecamatan" : "desa";
}

function itemLabel(item) {
  const prefix = item.kind === "place" ? "" : `${t(`place.kind.${item.kind}`)} `;
  const kec = item.kind !== "kecamatan" && item.kecamatan ? `, Kec. ${item.kecamatan}` : "";
  return `${prefix}${item.name}${kec}`;
}

/** The chosen suggestion, as the incident's location; null when none (or typed over). */
export function chosenLocation() {
  if (!chosen) return null;
  return { lat: chosen.lat, lon: chosen.lon, source: sourceOf(chosen.kind), code: chosen.code,
    radius_m: chosen.radius_m };
}

/** Forget the choice (a map click or typed coordinates replace it). */
export function clearChosen() {
  chosen = null;
  const note = $("#f-place-chosen");
  if (note) { note.hidden = true; note.textContent = ""; }
}

function listBox() { return $("#f-place-list"); }

function close() {
  items = [];
  active = -1;
  fill(listBox());
  listBox().hidden = true;
  $("#f-place").setAttribute("aria-expanded", "false");
}

function render() {
  const box = listBox();
  fill(box, ...items.map((item, i) => h("li", {
    role: "option", id: `f-place-opt-${i}`, class: `place-opt kind-${item.kind}`,
    "aria-selected": i === active ? "true" : "false",
    dataset: { code: item.code, kind: item.kind },
    onmousedown: (e) => { e.preventDefault(); pick(i); },
  }, h("span", { class: "place-name" }, itemLabel(item)), " ",
  h("span", { class: "place-radius" }, radiusText(item.radius_m)))));
  box.hidden = items.length === 0;
  const input = $("#f-place");
  input.setAttribute("aria-expanded", items.length ? "true" : "false");
  if (active >= 0) input.setAttribute("aria-activedescendant", `f-place-opt-${active}`);
  else input.removeAttribute("aria-activedescendant");
}

function pick(i) {
  const item = items[i];
  if (!item) return;
  chosen = item;
  close();
  $("#f-place").value = item.name;
  const note = $("#f-place-chosen");
  note.textContent = `${itemLabel(item)} ${radiusText(item.radius_m)}`;
  note.hidden = false;
  hooks.onPick(item);
}

const search = debounce(async (text) => {
  const mine = ++seq;
  if (text.trim().length < 2) { close(); return; }
  let found = [];
  try {
    found = (await API.searchPlaces(text.trim(), 8)).items;
  } catch {
    found = [];
  }
  if (mine !== seq) return;
  items = found;
  active = items.length ? 0 : -1;
  render();
}, 120);

export function initLocate(options) {
  hooks = { ...hooks, ...options };
  const input = $("#f-place");
  input.addEventListener("input", () => { clearChosen(); search(input.value); });
  input.addEventListener("keydown", (e) => {
    if (listBox().hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      active = (active + step + items.length) % items.length;
      render();
    } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && active >= 0) {
      e.preventDefault();
      pick(active);
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}
