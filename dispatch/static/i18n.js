// Every label of the pages in Bahasa Indonesia (default) and English.
// Category, unit type and disposition names come from GET /api/v1/meta (label_id / label_en).

const STRINGS = {
  id: {
    "app.title": "Siap112 — Konsol Operator",
    "app.responder": "Siap112 — Unit",
    "app.supervisor": "Siap112 — Dasbor Supervisor",
    "lang.toggle": "English",
    "nav.console": "Konsol",
    "nav.responder": "Unit",
    "nav.supervisor": "Supervisor",
    "conn.live": "Tersambung",
    "conn.down": "TERPUTUS — papan mungkin tidak terkini, menyambung ulang…",
    "conn.resync": "Memuat ulang papan…",
    "intake.title": "Laporan baru",
    "intake.phone": "Nomor pelapor",
    "intake.category": "Kategori",
    "intake.category_hint": "Alt+1…9 memilih kategori",
    "intake.priority": "Prioritas",
    "intake.priority.1": "1 — Sangat mendesak",
    "intake.priority.2": "2 — Mendesak",
    "intake.priority.3": "3 — Tidak mendesak",
    "intake.location": "Lokasi",
    "intake.location_hint": "Ketik nama desa atau tempat, klik peta, atau ketik koordinat",
    "intake.place": "Desa / kelurahan / tempat",
    "intake.place_hint": "mis. Sawentar, Sumberjo Kanigoro, Pasar Wlingi",
    "place.kind.desa": "Desa",
    "place.kind.kelurahan": "Kel.",
    "place.kind.kecamatan": "Kec.",
    "place.radius": "Ketelitian lokasi",
    "board.handover_to": "Serahkan ke 112 {area}",
    "intake.lat": "Lintang",
    "intake.lon": "Bujur",
    "intake.address": "Alamat",
    "intake.notes": "Keterangan",
    "intake.submit": "Simpan laporan (Ctrl+Enter)",
    "intake.saved": "Laporan #{id} tersimpan",
    "intake.nearby": "Kejadian terbuka di dekat lokasi (mungkin laporan ganda)",
    "intake.nearby_none": "Tidak ada kejadian terbuka di dekat lokasi ini",
    "call.disposition": "Jenis panggilan",
    "call.disposition_hint": "Alt+huruf memilih jenis",
    "call.emergency": "Darurat (buat kejadian)",
    "call.duplicate": "Laporan ganda",
    "call.information": "Informasi / bukan darurat",
    "call.prank": "Iseng",
    "call.ghost": "Diam / ghost call",
    "call.wrong_number": "Salah sambung",
    "call.handover": "Dialihkan",
    "call.test": "Uji coba",
    "call.handover_to": "Dialihkan ke",
    "call.saved": "Panggilan #{id} dicatat: {disposition}",
    "call.linked": "Penelepon ditautkan ke kejadian #{id}; tidak ada unit dikirim lagi",
    "call.link_to": "Tautkan ke #{id}",
    "call.repeat_caller": "PERHATIAN: nomor {phone} sudah {n} kali panggilan iseng/diam dalam {days} hari terakhir. Tetap layani — bisa jadi darurat sungguhan.",
    "call.aml_fix": "Posisi AML pelapor: {lat}, {lon} (±{m} m)",
    "call.aml_use": "Pakai posisi AML",
    "call.aml_circle": "Posisi AML pelapor, ketelitian ±{m} m",
    "board.handover_kota": "Serahkan ke 112 Kota Blitar",
    "board.handover_outside": "Di luar kabupaten: serahkan ke 112 kabupaten tetangga",
    "board.take_over": "Ambil alih",
    "board.title": "Kejadian terbuka",
    "board.empty": "Tidak ada kejadian terbuka",
    "board.queued": "ANTRE — belum ada unit",
    "board.no_units": "Belum ada unit",
    "board.elapsed": "Berjalan",
    "roster.title": "Daftar unit",
    "map.title": "Peta Kabupaten Blitar (posisi perkiraan)",
    "map.offline": "Peta luring: kecamatan, rumah sakit, kejadian dan unit",
    "map.hospital": "Rumah sakit",
    "detail.title": "Kejadian #{id}",
    "detail.recommended": "Unit yang disarankan",
    "detail.others": "Unit lain (terdekat dulu)",
    "detail.assign": "Kirim",
    "detail.take": "Ambil dari kejadian lain",
    "detail.replace": "Ganti unit",
    "detail.replace_pick": "Pilih unit pengganti di daftar",
    "detail.cancel_replace": "Batal ganti",
    "detail.close": "Tutup kejadian",
    "detail.disposition": "Disposisi",
    "detail.note": "Catatan",
    "detail.assignments": "Penugasan",
    "detail.none": "Tidak ada unit yang cocok",
    "detail.confirm_take": "Unit ini sedang menangani kejadian #{id}. Ambil?",
    "detail.stale": "posisi lama",
    "detail.busy": "sibuk",
    "detail.hide": "Sembunyikan",
    "unit.distance": "Jarak",
    "unit.eta": "Perkiraan tiba",
    "responder.pick": "Pilih unit",
    "responder.no_assignment": "Tidak ada tugas. Siaga.",
    "responder.assignment": "Tugas saat ini",
    "responder.open_map": "Buka di aplikasi peta",
    "responder.location_sent": "Lokasi terkirim {time}",
    "responder.location_off": "Lokasi perangkat tidak tersedia",
    "responder.new": "TUGAS BARU!",
    "responder.status": "Status",
    "responder.next": "Status berikutnya",
    "sup.period_from": "Dari",
    "sup.period_to": "Sampai",
    "sup.category": "Kategori",
    "sup.all": "Semua kategori",
    "sup.apply": "Tampilkan",
    "sup.csv": "Unduh CSV kejadian",
    "sup.intervals": "Waktu tanggap per tahap",
    "sup.interval": "Tahap",
    "sup.count": "Jumlah",
    "sup.target": "Target",
    "sup.within": "Dalam target",
    "sup.histogram": "Sebaran total waktu tanggap (menit)",
    "sup.by_day": "Tren per hari (p50 total, menit)",
    "sup.by_hour": "Per jam (WIB) (p50 total, menit)",
    "sup.by_kecamatan": "Per kecamatan (p50 total, menit)",
    "sup.by_unit_type": "Per jenis unit (p50 perjalanan, menit)",
    "sup.no_data": "Belum ada data",
    "interval.call_processing": "Pemrosesan panggilan",
    "interval.turnout": "Persiapan berangkat",
    "interval.travel": "Perjalanan",
    "interval.total": "Total tanggap",
    "status.available": "Siaga",
    "status.dispatched": "Dikirim",
    "status.acknowledged": "Diterima",
    "status.en_route": "Dalam perjalanan",
    "status.on_scene": "Di lokasi",
    "status.transporting": "Mengantar pasien",
    "status.at_hospital": "Di rumah sakit",
    "status.out_of_service": "Tidak beroperasi",
    "status.ended": "Selesai",
    "incident.pending": "Baru",
    "incident.queued": "Antre",
    "incident.dispatched": "Ditangani",
    "incident.closed": "Ditutup",
    "err.missing": "Wajib diisi",
    "err.too_short": "Terlalu pendek",
    "err.too_long": "Terlalu panjang",
    "err.range": "Di luar rentang yang diizinkan",
    "err.number": "Harus berupa angka",
    "err.phone": "Harus nomor telepon: angka, boleh diawali +",
    "err.where": "Isi lokasi atau alamat (atau keduanya)",
    "err.network": "Server tidak terjangkau; coba lagi",
    "err.generic": "Permintaan ditolak",
    "auth.as": "Masuk sebagai {name} ({role})",
    "auth.logout": "Keluar",
    "role.call_taker": "penerima panggilan",
    "role.dispatcher": "dispatcher",
    "role.supervisor": "supervisor",
    "role.responder": "petugas unit",
    "role.admin": "admin",
  },
  en: {
    "app.title": "Siap112 — Operator Console",
    "app.responder": "Siap112 — Unit",
    "app.supervisor": "Siap112 — Supervisor Dashboard",
    "lang.toggle": "Bahasa Indonesia",
    "nav.console": "Console",
    "nav.responder": "Unit",
    "nav.supervisor": "Supervisor",
    "conn.live": "Connected",
    "conn.down": "DISCONNECTED — the board may be stale, reconnecting…",
    "conn.resync": "Reloading the board…",
    "intake.title": "New report",
    "intake.phone": "Caller's number",
    "intake.category": "Category",
    "intake.category_hint": "Alt+1…9 picks a category",
    "intake.priority": "Priority",
    "intake.priority.1": "1 — Most urgent",
    "intake.priority.2": "2 — Urgent",
    "intake.priority.3": "3 — Not urgent",
    "intake.location": "Location",
    "intake.location_hint": "Type a desa or place name, click the map, or type coordinates",
    "intake.place": "Desa / kelurahan / place",
    "intake.place_hint": "e.g. Sawentar, Sumberjo Kanigoro, Pasar Wlingi",
    "place.kind.desa": "Desa",
    "place.kind.kelurahan": "Kel.",
    "place.kind.kecamatan": "Kec.",
    "place.radius": "Location accuracy",
    "board.handover_to": "Hand over to {area} 112",
    "intake.lat": "Latitude",
    "intake.lon": "Longitude",
    "intake.address": "Address",
    "intake.notes": "Notes",
    "intake.submit": "Save report (Ctrl+Enter)",
    "intake.saved": "Report #{id} saved",
    "intake.nearby": "Open incidents near this location (possible duplicate)",
    "intake.nearby_none": "No open incident near this location",
    "call.disposition": "Call type",
    "call.disposition_hint": "Alt+letter picks the type",
    "call.emergency": "Emergency (opens an incident)",
    "call.duplicate": "Duplicate report",
    "call.information": "Information / non-emergency",
    "call.prank": "Prank",
    "call.ghost": "Silent / ghost call",
    "call.wrong_number": "Wrong number",
    "call.handover": "Handed over",
    "call.test": "Test",
    "call.handover_to": "Handed over to",
    "call.saved": "Call #{id} logged: {disposition}",
    "call.linked": "Caller linked to incident #{id}; no unit sent again",
    "call.link_to": "Link to #{id}",
    "call.repeat_caller": "WARNING: {phone} made {n} prank/silent calls in the last {days} days. Still serve it — it may be a real emergency.",
    "call.aml_fix": "Caller's AML position: {lat}, {lon} (±{m} m)",
    "call.aml_use": "Use AML position",
    "call.aml_circle": "Caller's AML position, accuracy ±{m} m",
    "board.handover_kota": "Hand over to Kota Blitar 112",
    "board.handover_outside": "Outside the regency: hand over to the neighbouring regency's 112",
    "board.take_over": "Take over",
    "board.title": "Open incidents",
    "board.empty": "No open incidents",
    "board.queued": "QUEUED — no unit yet",
    "board.no_units": "No unit yet",
    "board.elapsed": "Elapsed",
    "roster.title": "Unit roster",
    "map.title": "Map of Kabupaten Blitar (estimated positions)",
    "map.offline": "Offline map: kecamatan, hospitals, incidents and units",
    "map.hospital": "Hospital",
    "detail.title": "Incident #{id}",
    "detail.recommended": "Recommended units",
    "detail.others": "Other units (nearest first)",
    "detail.assign": "Send",
    "detail.take": "Take from other incident",
    "detail.replace": "Replace unit",
    "detail.replace_pick": "Pick the replacement in the list",
    "detail.cancel_replace": "Cancel replace",
    "detail.close": "Close incident",
    "detail.disposition": "Disposition",
    "detail.note": "Note",
    "detail.assignments": "Assignments",
    "detail.none": "No matching unit",
    "detail.confirm_take": "This unit is working incident #{id}. Take it?",
    "detail.stale": "old position",
    "detail.busy": "busy",
    "detail.hide": "Hide",
    "unit.distance": "Distance",
    "unit.eta": "Estimated arrival",
    "responder.pick": "Choose a unit",
    "responder.no_assignment": "No assignment. Standing by.",
    "responder.assignment": "Current assignment",
    "responder.open_map": "Open in maps app",
    "responder.location_sent": "Location sent {time}",
    "responder.location_off": "Device location unavailable",
    "responder.new": "NEW ASSIGNMENT!",
    "responder.status": "Status",
    "responder.next": "Next status",
    "sup.period_from": "From",
    "sup.period_to": "To",
    "sup.category": "Category",
    "sup.all": "All categories",
    "sup.apply": "Show",
    "sup.csv": "Download incidents CSV",
    "sup.intervals": "Response time per interval",
    "sup.interval": "Interval",
    "sup.count": "Count",
    "sup.target": "Target",
    "sup.within": "Within target",
    "sup.histogram": "Total response time distribution (minutes)",
    "sup.by_day": "Trend by day (p50 total, minutes)",
    "sup.by_hour": "By hour (WIB) (p50 total, minutes)",
    "sup.by_kecamatan": "By kecamatan (p50 total, minutes)",
    "sup.by_unit_type": "By unit type (p50 travel, minutes)",
    "sup.no_data": "No data yet",
    "interval.call_processing": "Call processing",
    "interval.turnout": "Turnout",
    "interval.travel": "Travel",
    "interval.total": "Total response",
    "status.available": "Available",
    "status.dispatched": "Dispatched",
    "status.acknowledged": "Acknowledged",
    "status.en_route": "En route",
    "status.on_scene": "On scene",
    "status.transporting": "Transporting",
    "status.at_hospital": "At hospital",
    "status.out_of_service": "Out of service",
    "status.ended": "Ended",
    "incident.pending": "New",
    "incident.queued": "Queued",
    "incident.dispatched": "Dispatched",
    "incident.closed": "Closed",
    "err.missing": "Required",
    "err.too_short": "Too short",
    "err.too_long": "Too long",
    "err.range": "Out of the allowed range",
    "err.number": "Must be a number",
    "err.phone": "Must be a phone number: digits, optionally starting with +",
    "err.where": "Give a location or an address (or both)",
    "err.network": "Server unreachable; try again",
    "err.generic": "Request refused",
    "auth.as": "Logged in as {name} ({role})",
    "auth.logout": "Log out",
    "role.call_taker": "call-taker",
    "role.dispatcher": "dispatcher",
    "role.supervisor": "supervisor",
    "role.responder": "responder",
    "role.admin": "admin",
  },
};

let lang = localStorage.getItem("siap112.lang") === "en" ? "en" : "id";
let meta = null;
const listeners = [];

export function currentLang() { return lang; }

/** A label in the current language, with {name} placeholders filled from vars. */
export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.id[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

/** Give the labels from GET /api/v1/meta (categories, unit types, dispositions). */
export function setMeta(m) { meta = m; }

function metaLabel(group, code) {
  const entry = meta?.[group]?.[code];
  if (!entry) return code;
  return lang === "en" ? entry.label_en : entry.label_id;
}

export const categoryLabel = (code) => metaLabel("categories", code);
export const unitTypeLabel = (code) => metaLabel("unit_types", code);
export const dispositionLabel = (code) => metaLabel("dispositions", code);
export const statusLabel = (code) => t(`status.${code}`);

/** Fill every element with data-i18n (text) or data-i18n-title (tooltip). */
export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

/** Call fn whenever the language changes (pages re-render their dynamic parts). */
export function onLangChange(fn) { listeners.push(fn); }

export function toggleLang() {
  lang = lang === "id" ? "en" : "id";
  localStorage.setItem("siap112.lang", lang);
  applyI18n();
  for (const fn of listeners) fn(lang);
}

/** Wire a button as the language toggle. */
export function bindToggle(button) {
  button.addEventListener("click", toggleLang);
  applyI18n();
}

/** A pydantic/API error item as a message in the current language. */
export function errorText(item) {
  const type = item.type || "";
  if (type === "missing") return t("err.missing");
  if (type.includes("too_short")) return t("err.too_short");
  if (type.includes("too_long")) return t("err.too_long");
  if (/greater_than|less_than/.test(type)) return t("err.range");
  if (/float|int|number/.test(type)) return t("err.number");
  if (item.field === "caller_phone") return t("err.phone");
  if (item.field === "body" && /location|address/.test(item.message)) return t("err.where");
  return item.message || t("err.generic");
}

/** Minutes and seconds, e.g. 4:05, or h:mm:ss past an hour. */
export function formatDuration(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
}

export function formatKm(metres) {
  return metres == null ? "—" : `${(metres / 1000).toFixed(1)} km`;
}
