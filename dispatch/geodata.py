"""Outlines of Kabupaten Blitar and of the Kota Blitar enclave. ESTIMATES, not survey data.

No public boundary file could be used when this was written. Both outlines are
drawn by hand from the facts in the project's domain notes: the regency spans
roughly lat -8.35…-7.95, lon 111.95…112.55; Kota Blitar, a separate city with
its own 112 centre, is an enclave of about 32.6 km² around -8.100, 112.150.
The city is drawn as an ellipse of that area (3.45 km north-south, 3.0 km
east-west semi-axes); the regency as a 17-point ring inside its bounding box
that keeps every estimated kecamatan centre well inside. Good enough to route
a call to the right centre in the demo and to exercise the handover rule;
replace both with the official boundaries (BIG / Kemendagri) before real use.
"""

from __future__ import annotations

import math

from dispatch.core.jurisdiction import Area, Placement, place
from dispatch.demo_data import KECAMATAN

# Every ring below is an estimate (see the module docstring).
OUTLINES_ARE_ESTIMATES = True

Ring = tuple[tuple[float, float], ...]  # closed: the last point repeats the first

M_PER_DEG_LAT = 111_320.0
KOTA_BLITAR_CENTRE = (-8.100, 112.150)
KOTA_BLITAR_SEMI_AXES_M = (3_450.0, 3_000.0)  # north-south, east-west; area ≈ 32.5 km²


def _ellipse(centre: tuple[float, float], semi_axes_m: tuple[float, float],
             points: int) -> Ring:
    lat0, lon0 = centre
    north, east = semi_axes_m
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    ring = []
    for k in range(points):
        a = 2 * math.pi * k / points
        ring.append((round(lat0 + north * math.cos(a) / M_PER_DEG_LAT, 5),
                     round(lon0 + east * math.sin(a) / m_per_deg_lon, 5)))
    return (*ring, ring[0])


KOTA_BLITAR: Ring = _ellipse(KOTA_BLITAR_CENTRE, KOTA_BLITAR_SEMI_AXES_M, 32)

REGENCY: Ring = (
    (-7.985, 111.960), (-7.965, 112.060), (-7.955, 112.170), (-7.945, 112.270),
    (-7.955, 112.380), (-7.975, 112.470), (-8.000, 112.545), (-8.120, 112.550),
    (-8.230, 112.520), (-8.300, 112.470), (-8.335, 112.380), (-8.345, 112.260),
    (-8.340, 112.150), (-8.325, 112.040), (-8.270, 111.975), (-8.160, 111.955),
    (-8.060, 111.950), (-7.985, 111.960),
)

# Where calls outside the regency's own area are handed over (names as the
# centres call themselves; neighbouring regencies share no 112 centre with us).
KOTA_BLITAR_CENTRE_NAME = "Command Center 112 Kota Blitar"
OUTSIDE_REGENCY_NAME = "Command Center 112 kabupaten/kota tetangga"


def _areas() -> tuple[Area, ...]:
    return tuple(Area(k.code, k.name, k.lat, k.lon) for k in KECAMATAN)


AREAS: tuple[Area, ...] = _areas()


def locate(lat: float, lon: float) -> Placement:
    """Jurisdiction and kecamatan of a point, from the shipped (estimated) data."""
    return place(lat, lon, regency=REGENCY, enclave=KOTA_BLITAR, areas=AREAS)


def outlines() -> dict[str, list[list[float]]]:
    """The outlines as GET /api/v1/geo serves them: closed rings of [lat, lon]."""
    return {"regency": [list(p) for p in REGENCY],
            "kota_blitar": [list(p) for p in KOTA_BLITAR]}
