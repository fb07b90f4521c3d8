"""Labels for the codes the server writes into reports (CSV, the daily report page).

Indonesian first, English second. The run cards label categories, unit types and
closing dispositions (config/runcards.toml); these are the service's own enums.
The browser has the same words in dispatch/static/i18n.js.
"""

from __future__ import annotations

from collections.abc import Mapping

Labels = Mapping[str, tuple[str, str]]  # code -> (Indonesian, English)

INCIDENT_STATUS: Labels = {
    "pending": ("Baru", "New"), "queued": ("Antre", "Queued"),
    "dispatched": ("Ditangani", "Dispatched"), "closed": ("Ditutup", "Closed"),
}
CALL_DISPOSITION: Labels = {
    "emergency": ("Darurat", "Emergency"), "duplicate": ("Laporan ganda", "Duplicate report"),
    "information": ("Informasi / bukan darurat", "Information / non-emergency"),
    "prank": ("Iseng", "Prank"), "ghost": ("Panggilan diam", "Silent call"),
    "wrong_number": ("Salah sambung", "Wrong number"), "handover": ("Dialihkan", "Handed over"),
    "test": ("Uji coba", "Test"),
}
JURISDICTION: Labels = {
    "regency": ("Kabupaten Blitar", "Blitar Regency"),
    "kota_blitar": ("Kota Blitar", "Blitar City"),
    "outside_regency": ("Luar kabupaten", "Outside the regency"),
}
LOCATION_SOURCE: Labels = {
    "operator": ("Ditandai operator", "Marked by the operator"),
    "desa": ("Pusat desa", "Village centre"), "kecamatan": ("Pusat kecamatan", "District centre"),
    "place": ("Tempat terdaftar", "Listed place"),
    "aml": ("AML (ponsel penelepon)", "AML (caller's phone)"),
    "caller_link": ("Tautan lokasi penelepon", "Caller location link"),
}
INTERVAL: Labels = {
    "call_processing": ("Proses panggilan", "Call processing"),
    "turnout": ("Persiapan berangkat", "Turnout"), "travel": ("Perjalanan", "Travel"),
    "total": ("Total", "Total"),
}
ALERT_KIND: Labels = {
    "unit_unacknowledged": ("Unit belum menerima tugas", "Unit has not acknowledged"),
    "p1_no_en_route": ("Prioritas 1 tanpa unit di jalan", "Priority 1 with no unit en route"),
    "queued_too_long": ("Terlalu lama antre", "Queued too long"),
    "on_scene_too_long": ("Terlalu lama di lokasi", "On scene too long"),
}
YES_NO = {True: ("Ya", "Yes"), False: ("Tidak", "No")}


def label(table: Labels, code: str | None, lang: str) -> str:
    """The code's label in ``lang`` ("id" or "en"); an unknown code shows as itself."""
    if code is None:
        return ""
    pair = table.get(code)
    return code if pair is None else pair[0 if lang == "id" else 1]
