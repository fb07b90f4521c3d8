"""Demo data for Kabupaten Blitar: kecamatan, hospitals, a demo fleet, a call mix.

Pure data, no I/O. Used by ``siap112 seed`` (the fleet) and ``siap112 simulate``
(where calls come from and what they are about).

The kecamatan centres are the label points of the shipped Kemendagri polygons
(dispatch/data/wilayah), so each lies inside its kecamatan. EVERY OTHER POSITION
HERE IS AN ESTIMATE: hospitals, stations and unit positions were placed by hand
near those centres. They are good enough for a demo and for exercising
nearest-unit dispatch; they are not survey data and must not be used to route
real units.

The fleet is illustrative: callsigns, stations and unit counts are invented for
the demo and do not describe the real vehicles of any agency. Village names in
simulated addresses are common Javanese place names, not checked against the
kecamatan they are paired with. Call-mix weights are estimates too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Hospital, station and unit positions are hand estimates (see the module docstring).
POSITIONS_ARE_ESTIMATES = True


@dataclass(frozen=True)
class Kecamatan:
    """A district: Kemendagri code, name and an estimated centre (WGS-84)."""

    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Hospital:
    """A hospital an ambulance can take a patient to."""

    name: str
    lat: float
    lon: float
    estimate: bool = True


@dataclass(frozen=True)
class DemoUnit:
    """One demo responder unit, as ``siap112 seed`` registers it."""

    callsign: str
    unit_type: str
    agency: str
    home_station: str
    lat: float
    lon: float


# Kemendagri codes 35.05.01-22 in the official order. Centres are the label points of the
# shipped Kemendagri polygons (dispatch/data/wilayah), inside each kecamatan.
KECAMATAN: tuple[Kecamatan, ...] = (
    Kecamatan("35.05.01", "Wonodadi", -8.0531, 112.0052),
    Kecamatan("35.05.02", "Udanawu", -8.0142, 112.0322),
    Kecamatan("35.05.03", "Srengat", -8.0835, 112.0702),
    Kecamatan("35.05.04", "Kademangan", -8.1874, 112.1087),
    Kecamatan("35.05.05", "Bakung", -8.2719, 112.0746),
    Kecamatan("35.05.06", "Ponggok", -8.0210, 112.1201),
    Kecamatan("35.05.07", "Sanankulon", -8.0886, 112.1267),
    Kecamatan("35.05.08", "Wonotirto", -8.2638, 112.1759),
    Kecamatan("35.05.09", "Nglegok", -7.9979, 112.2206),
    Kecamatan("35.05.10", "Kanigoro", -8.1243, 112.2079),
    Kecamatan("35.05.11", "Garum", -8.0412, 112.2434),
    Kecamatan("35.05.12", "Sutojayan", -8.1751, 112.2283),
    Kecamatan("35.05.13", "Panggungrejo", -8.2678, 112.2641),
    Kecamatan("35.05.14", "Talun", -8.0994, 112.2738),
    Kecamatan("35.05.15", "Gandusari", -7.9964, 112.3297),
    Kecamatan("35.05.16", "Binangun", -8.2074, 112.3353),
    Kecamatan("35.05.17", "Wlingi", -8.0212, 112.3805),
    Kecamatan("35.05.18", "Doko", -8.0412, 112.4052),
    Kecamatan("35.05.19", "Kesamben", -8.1267, 112.3809),
    Kecamatan("35.05.20", "Wates", -8.2900, 112.3438),
    Kecamatan("35.05.21", "Selorejo", -8.0963, 112.4367),
    Kecamatan("35.05.22", "Selopuro", -8.1379, 112.3114),
)

# The seven kecamatan south of the Brantas: larger, sparser, fewer calls.
SOUTH_OF_BRANTAS = frozenset(
    {"Bakung", "Wonotirto", "Panggungrejo", "Wates", "Binangun", "Sutojayan", "Kademangan"}
)

HOSPITALS: tuple[Hospital, ...] = (
    Hospital("RSUD Ngudi Waluyo (Wlingi)", -8.078, 112.326),
    Hospital("RSUD Srengat", -8.074, 112.064),
    Hospital("RSUD Mardi Waluyo (Kota Blitar)", -8.096, 112.163),
)


def _kecamatan(name: str) -> Kecamatan:
    return next(k for k in KECAMATAN if k.name == name)


def _near(name: str, north_m: float, east_m: float) -> tuple[float, float]:
    """A point offset from a kecamatan centre, so stations do not sit exactly on it."""
    k = _kecamatan(name)
    lat = k.lat + north_m / 111_320.0
    lon = k.lon + east_m / (111_320.0 * math.cos(math.radians(k.lat)))
    return round(lat, 5), round(lon, 5)


# Station positions (estimates). Units of one station share its position.
_STATIONS: dict[str, tuple[float, float]] = {
    "RSUD Ngudi Waluyo": (HOSPITALS[0].lat, HOSPITALS[0].lon),
    "RSUD Srengat": (HOSPITALS[1].lat, HOSPITALS[1].lon),
    "Pos Induk Damkar Kanigoro": _near("Kanigoro", 400, -300),
    "Pos Damkar Wlingi": _near("Wlingi", -300, 200),
    "Pos Damkar Srengat": _near("Srengat", 300, 300),
    "Pos Damkar Sutojayan": _near("Sutojayan", 200, -200),
    "Polres Blitar": _near("Kanigoro", -300, 400),
    "Kantor BPBD Kanigoro": _near("Kanigoro", 200, 600),
    "Pos BPBD Gandusari": _near("Gandusari", 300, 200),
    "Pos BPBD Binangun": _near("Binangun", -200, 300),
    "Posko PLN Kanigoro": _near("Kanigoro", -500, -500),
    "Kantor PDAM Kanigoro": _near("Kanigoro", 600, 100),
}


def _station(name: str) -> tuple[float, float]:
    if name in _STATIONS:
        return _STATIONS[name]
    # Puskesmas and Polsek sit near their kecamatan centre.
    return _near(name.split(" ", 1)[1], -250, 150)


def _unit(callsign: str, unit_type: str, agency: str, station: str) -> DemoUnit:
    lat, lon = _station(station)
    return DemoUnit(callsign, unit_type, agency, station, lat, lon)


_PSC = "PSC 119 Dinkes Kab. Blitar"
_DAMKAR = "Damkar Kab. Blitar"
_POLRES = "Polres Blitar"
_BPBD = "BPBD Kab. Blitar"

FLEET: tuple[DemoUnit, ...] = (
    # Ambulances: two at each RSUD in the kabupaten, one PSC 119 ambulance at
    # several puskesmas, spread so the sparse south is covered too.
    _unit("AMB-NWL-1", "ambulance", "RSUD Ngudi Waluyo", "RSUD Ngudi Waluyo"),
    _unit("AMB-NWL-2", "ambulance", "RSUD Ngudi Waluyo", "RSUD Ngudi Waluyo"),
    _unit("AMB-SRG-1", "ambulance", "RSUD Srengat", "RSUD Srengat"),
    _unit("AMB-SRG-2", "ambulance", "RSUD Srengat", "RSUD Srengat"),
    _unit("AMB-KNG-1", "ambulance", _PSC, "Puskesmas Kanigoro"),
    _unit("AMB-PGK-1", "ambulance", _PSC, "Puskesmas Ponggok"),
    _unit("AMB-NGL-1", "ambulance", _PSC, "Puskesmas Nglegok"),
    _unit("AMB-GDS-1", "ambulance", _PSC, "Puskesmas Gandusari"),
    _unit("AMB-KSB-1", "ambulance", _PSC, "Puskesmas Kesamben"),
    _unit("AMB-WND-1", "ambulance", _PSC, "Puskesmas Wonodadi"),
    _unit("AMB-STJ-1", "ambulance", _PSC, "Puskesmas Sutojayan"),
    _unit("AMB-BNG-1", "ambulance", _PSC, "Puskesmas Binangun"),
    _unit("AMB-WTS-1", "ambulance", _PSC, "Puskesmas Wates"),
    _unit("AMB-WTR-1", "ambulance", _PSC, "Puskesmas Wonotirto"),
    _unit("AMB-BKG-1", "ambulance", _PSC, "Puskesmas Bakung"),
    # Damkar: the main post near the capital and sub-posts east, west and south.
    _unit("DMK-KNG-1", "fire", _DAMKAR, "Pos Induk Damkar Kanigoro"),
    _unit("DMK-KNG-2", "fire", _DAMKAR, "Pos Induk Damkar Kanigoro"),
    _unit("DMK-KNG-3", "fire", _DAMKAR, "Pos Induk Damkar Kanigoro"),
    _unit("DMK-WLG-1", "fire", _DAMKAR, "Pos Damkar Wlingi"),
    _unit("DMK-WLG-2", "fire", _DAMKAR, "Pos Damkar Wlingi"),
    _unit("DMK-SRG-1", "fire", _DAMKAR, "Pos Damkar Srengat"),
    _unit("DMK-STJ-1", "fire", _DAMKAR, "Pos Damkar Sutojayan"),
    # Police: Polres Blitar at Kanigoro, one Polsek car for several kecamatan.
    # Polsek Wonodadi belongs to Polres Blitar Kota although it is in the kabupaten.
    _unit("POL-KNG-1", "police", _POLRES, "Polres Blitar"),
    _unit("POL-KNG-2", "police", _POLRES, "Polres Blitar"),
    _unit("POL-WND-1", "police", "Polres Blitar Kota", "Polsek Wonodadi"),
    _unit("POL-SRG-1", "police", _POLRES, "Polsek Srengat"),
    _unit("POL-PGK-1", "police", _POLRES, "Polsek Ponggok"),
    _unit("POL-NGL-1", "police", _POLRES, "Polsek Nglegok"),
    _unit("POL-GDS-1", "police", _POLRES, "Polsek Gandusari"),
    _unit("POL-WLG-1", "police", _POLRES, "Polsek Wlingi"),
    _unit("POL-KSB-1", "police", _POLRES, "Polsek Kesamben"),
    _unit("POL-STJ-1", "police", _POLRES, "Polsek Sutojayan"),
    _unit("POL-BNG-1", "police", _POLRES, "Polsek Binangun"),
    _unit("POL-WTR-1", "police", _POLRES, "Polsek Wonotirto"),
    # BPBD: the office at Kanigoro, a post on the Kelud side and one in the south.
    _unit("BPBD-1", "rescue", _BPBD, "Kantor BPBD Kanigoro"),
    _unit("BPBD-2", "rescue", _BPBD, "Kantor BPBD Kanigoro"),
    _unit("BPBD-3", "rescue", _BPBD, "Kantor BPBD Kanigoro"),
    _unit("BPBD-4", "rescue", _BPBD, "Pos BPBD Gandusari"),
    _unit("BPBD-5", "rescue", _BPBD, "Pos BPBD Gandusari"),
    _unit("BPBD-6", "rescue", _BPBD, "Pos BPBD Binangun"),
    # Utility crews the centre can call out (power lines down, burst mains).
    _unit("PLN-KNG-1", "pln", "PLN", "Posko PLN Kanigoro"),
    _unit("PDAM-KNG-1", "pdam", "PDAM", "Kantor PDAM Kanigoro"),
)


# --- the call mix the simulator plays (estimates) ---------------------------

@dataclass(frozen=True)
class CallProfile:
    """How often a category is called in, how urgent it usually is, what callers say."""

    weight: float
    priorities: tuple[tuple[int, float], ...]  # (priority, weight)
    descriptions: tuple[str, ...]


CALL_PROFILES: dict[str, CallProfile] = {
    "medis": CallProfile(30, ((1, 5), (2, 4), (3, 1)), (
        "Warga pingsan di rumah, sulit bernapas",
        "Lansia jatuh di kamar mandi, tidak sadarkan diri",
        "Nyeri dada hebat dan keringat dingin",
        "Anak kejang, demam tinggi sejak semalam",
        "Ibu hamil pendarahan, perlu ambulans",
    )),
    "kecelakaan_lalu_lintas": CallProfile(25, ((1, 7), (2, 3)), (
        "Tabrakan sepeda motor dengan truk, korban luka-luka",
        "Pengendara motor jatuh di tikungan, tidak sadar",
        "Mobil masuk parit, dua penumpang terluka",
        "Tabrakan beruntun di jalan raya, jalan macet",
    )),
    "kebakaran": CallProfile(8, ((1, 8), (2, 2)), (
        "Rumah warga terbakar, api mulai membesar",
        "Kebakaran lahan tebu dekat permukiman",
        "Dapur terbakar, tabung gas bocor",
        "Gudang kayu terbakar, asap tebal",
    )),
    "sarang_tawon": CallProfile(8, ((3, 7), (2, 3)), (
        "Sarang tawon vespa di plafon rumah",
        "Sarang tawon besar di pohon dekat sekolah",
    )),
    "pohon_tumbang": CallProfile(7, ((2, 6), (3, 3), (1, 1)), (
        "Pohon tumbang menutup jalan setelah hujan angin",
        "Pohon tumbang menimpa kabel listrik",
        "Pohon tumbang menimpa atap rumah warga",
    )),
    "evakuasi_hewan": CallProfile(6, ((3, 6), (2, 4)), (
        "Ular sanca masuk ke dalam rumah",
        "Ular kobra di kandang ayam warga",
        "Kucing terjebak di dalam sumur",
    )),
    "kriminalitas": CallProfile(6, ((2, 5), (1, 3), (3, 2)), (
        "Pencurian sepeda motor, pelaku kabur ke arah utara",
        "Rumah dibobol maling saat ditinggal pemilik",
        "Perkelahian di warung, satu orang terluka",
    )),
    "bencana_alam": CallProfile(3, ((1, 6), (2, 4)), (
        "Tanah longsor menutup jalan desa",
        "Banjir masuk permukiman setelah hujan deras",
        "Angin puting beliung merusak atap rumah",
    )),
    "kerusuhan": CallProfile(1, ((1, 5), (2, 5)), (
        "Keributan massa di lapangan desa",
    )),
    "banjir": CallProfile(2, ((2, 6), (1, 2), (3, 2)), (
        "Air sungai meluap masuk permukiman",
    )),
    "tanah_longsor": CallProfile(1, ((1, 5), (2, 5)), (
        "Tebing longsor menutup jalan desa",
    )),
    "orang_hilang": CallProfile(1, ((1, 6), (2, 4)), (
        "Anak hanyut di sungai Brantas",
    )),
    # Utility faults reach 112 rarely; the simulator leaves them out of its mix.
    "gangguan_listrik": CallProfile(0, ((2, 1),), ("Kabel listrik putus di jalan",)),
    "gangguan_air": CallProfile(0, ((3, 1),), ("Pipa PDAM bocor",)),
}

# Common Javanese village names for synthetic addresses (not matched to kecamatan).
VILLAGES: tuple[str, ...] = (
    "Sumberejo", "Karangrejo", "Tegalrejo", "Sidorejo", "Sukorejo", "Ngadirejo",
    "Tawangrejo", "Kebonsari", "Mojorejo", "Sumbersari", "Karanganyar", "Purworejo",
    "Tlogorejo", "Sumberagung", "Kalipang", "Jatirejo",
)


@dataclass(frozen=True)
class DemoPlace:
    """A landmark for the demo gazetteer. Its position is an ESTIMATE near a kecamatan
    centre, not the landmark's real position."""

    name: str
    kind: str
    lat: float
    lon: float
    aliases: tuple[str, ...] = ()


def _demo_places() -> tuple[DemoPlace, ...]:
    out = []
    for i, k in enumerate(KECAMATAN):
        out.append(DemoPlace(f"Pasar {k.name}", "pasar", *_near(k.name, 350, -250),
                             aliases=(f"Pasar Kec. {k.name}",)))
        out.append(DemoPlace(f"Puskesmas {k.name}", "puskesmas", *_near(k.name, -300, 300),
                             aliases=(f"PKM {k.name}",)))
        if i % 3 == 0:
            out.append(DemoPlace(f"Masjid Jami' {k.name}", "masjid", *_near(k.name, 150, 450)))
        if i % 4 == 1:
            out.append(DemoPlace(f"SPBU {k.name}", "spbu", *_near(k.name, -600, -400),
                                 aliases=(f"Pom bensin {k.name}",)))
    return tuple(out)


# Landmarks for the demo's place search; every position is an estimate.
DEMO_PLACES: tuple[DemoPlace, ...] = _demo_places()
