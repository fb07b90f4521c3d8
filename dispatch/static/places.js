// The centre's own places: landmarks callers name (masjid, pasar, jembatan, ...).
// Supervisors and admins add, edit, retire and import them; the console's location
// box finds them beside the desa and kecamatan.

import * as API from "./api.js";
import { $, $$, fill, h } from "./dom.js";
import { applyI18n, bindToggle, errorText, onLangChange, t } from "./i18n.js";
import { showSession } from "./session.js";

const KINDS = ["masjid", "gereja", "pura", "vihara", "sekolah", "pasar", "puskesmas",
  "rumah_sakit", "jembatan", "spbu", "makam", "pabrik", "kantor", "terminal", "stasiun",
  "wisata", "lainnya"];

let rows = [];

function renderKinds() {
  const sel = $("#pl-kind");
  const current = sel.value;
  fill(sel, ...KINDS.map((k) => h("option", { value: k }, t(`places.kind.${k}`))));
  sel.value = current || "pasar";
}

function clearErrors() {
  for (const el of $$("#pl-form .err")) el.textContent = "";
}

function showErrors(err) {
  const fields = err.fields.length ? err.fields : [{ field: "body", message: err.message }];
  for (const f of fields) {
    const name = (f.field || "body").split(".")[0];
    const slot = $(`#pl-form [data-err="${name}"]`) || $("#pl-form [data-err=body]");
    slot.textContent = errorText(f);
  }
}

function formBody() {
  const num = (v) => (v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : v);
  return {
    name: $("#pl-name").value,
    kind: $("#pl-kind").value,
    location: { lat: num($("#pl-lat").value), lon: num($("#pl-lon").value) },
    aliases: $("#pl-aliases").value.split(";").map((a) => a.trim()).filter(Boolean),
    estimate: $("#pl-estimate").checked,
    note: $("#pl-note").value,
  };
}

function edit(row) {
  $("#pl-id").value = row ? row.id : "";
  $("#pl-name").value = row?.name ?? "";
  $("#pl-kind").value = row?.kind ?? "pasar";
  $("#pl-lat").value = row ? String(row.location.lat) : "";
  $("#pl-lon").value = row ? String(row.location.lon) : "";
  $("#pl-aliases").value = row ? row.aliases.join("; ") : "";
  $("#pl-estimate").checked = row?.estimate ?? false;
  $("#pl-note").value = row?.note ?? "";
  $("#pl-form-title").textContent = row ? t("places.edit", { name: row.name }) : t("places.new");
  $("#pl-cancel").hidden = !row;
  clearErrors();
}

async function save(e) {
  e.preventDefault();
  clearErrors();
  const id = $("#pl-id").value;
  const msg = $("#pl-msg");
  try {
    const saved = id
      ? await API.api(`/api/v1/landmarks/${id}`, { method: "PUT", body: formBody() })
      : await API.api("/api/v1/landmarks", { method: "POST", body: formBody() });
    msg.className = "ok";
    msg.textContent = t("places.saved", { name: saved.name, desa: saved.desa || "—" });
    edit(null);
    await load();
  } catch (err) {
    msg.className = "err";
    msg.textContent = err instanceof API.ApiError ? err.message : t("err.network");
    if (err instanceof API.ApiError) showErrors(err);
  }
}

async function retire(row) {
  try {
    await API.api(`/api/v1/landmarks/${row.id}`, { method: "DELETE" });
    await load();
  } catch (err) {
    $("#pl-msg").className = "err";
    $("#pl-msg").textContent = err instanceof API.ApiError ? err.message : t("err.network");
  }
}

async function importFile(e) {
  e.preventDefault();
  const file = $("#pl-file").files[0];
  const msg = $("#pl-import-msg");
  if (!file) return;
  const format = /\.(geo)?json$/i.test(file.name) ? "geojson" : "csv";
  try {
    const done = await API.api("/api/v1/landmark-imports",
      { method: "POST", body: { format, content: await file.text() } });
    msg.className = "ok";
    msg.textContent = t("places.imported", { count: done.imported });
    await load();
  } catch (err) {
    msg.className = "err";
    msg.textContent = err instanceof API.ApiError ? err.message : t("err.network");
  }
}

function render() {
  fill($("#pl-table"),
    h("thead", {}, h("tr", {}, ...["places.name", "places.kind", "places.desa",
      "places.estimate", ""].map((k) => h("th", {}, k ? t(k) : "")))),
    h("tbody", {}, ...rows.map((r) => h("tr", {
      class: r.retired_at ? "retired" : "", dataset: { id: r.id },
    },
    h("td", {}, r.name, r.aliases.length ? h("small", { class: "hint" },
      ` (${r.aliases.join(", ")})`) : null),
    h("td", {}, t(`places.kind.${r.kind}`)),
    h("td", {}, [r.desa, r.kecamatan ? `Kec. ${r.kecamatan}` : null].filter(Boolean)
      .join(", ") || "—"),
    h("td", {}, r.estimate ? t("places.is_estimate") : ""),
    h("td", {}, r.retired_at ? t("places.retired") : [
      h("button", { type: "button", class: "edit", onclick: () => edit(r) }, t("places.edit_btn")),
      " ",
      h("button", { type: "button", class: "retire", onclick: () => retire(r) },
        t("places.retire"))])))));
}

async function load() {
  const retired = $("#pl-retired").checked ? "true" : "false";
  rows = (await API.api(`/api/v1/landmarks?retired=${retired}`)).items;
  render();
}

function main() {
  bindToggle($("#lang"));
  showSession($("#session"));
  renderKinds();
  $("#pl-form").addEventListener("submit", save);
  $("#pl-cancel").addEventListener("click", () => edit(null));
  $("#pl-import").addEventListener("submit", importFile);
  $("#pl-retired").addEventListener("change", load);
  onLangChange(() => { renderKinds(); render(); });
  applyI18n();
  edit(null);
  load();
}

main();
