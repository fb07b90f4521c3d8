"""Jurisdiction: is a point ours, Kota Blitar's or a neighbour's, and in which kecamatan.

Pure functions over rings of (lat, lon). The point-in-polygon test treats
degrees as plane coordinates: at the scale of one regency (50 km) the error is
far below the uncertainty of the estimated outlines it is used with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dispatch.core.geo import Point, great_circle_m

LatLon = tuple[float, float]


class Jurisdiction(StrEnum):
    REGENCY = "regency"
    KOTA_BLITAR = "kota_blitar"
    OUTSIDE_REGENCY = "outside_regency"


# The queue reason an incident keeps while it waits for a handover; the
# dispatcher never serves an incident whose reason starts with HANDOVER_PREFIX.
HANDOVER_PREFIX = "handover_"


@dataclass(frozen=True)
class Area:
    """A named centre point (a kecamatan), for the nearest-centre lookup."""

    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Placement:
    jurisdiction: Jurisdiction
    kecamatan_code: str | None
    kecamatan: str | None

    @property
    def queue_reason(self) -> str | None:
        """The handover reason an incident here gets, or None when we dispatch it."""
        if self.jurisdiction is Jurisdiction.REGENCY:
            return None
        return HANDOVER_PREFIX + self.jurisdiction.value


def inside(lat: float, lon: float, ring: Sequence[LatLon]) -> bool:
    """Even-odd ray casting: is the point inside the closed ring?"""
    hit = False
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:], strict=False):
        if (lat1 > lat) != (lat2 > lat):
            cross_lon = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < cross_lon:
                hit = not hit
    return hit


def nearest_area(lat: float, lon: float, areas: Sequence[Area]) -> Area:
    """The area whose centre is nearest (great circle; ties go to the lower code)."""
    here = Point(lat, lon)
    return min(areas, key=lambda a: (great_circle_m(here, Point(a.lat, a.lon)), a.code))


def place(lat: float, lon: float, *, regency: Sequence[LatLon], enclave: Sequence[LatLon],
          areas: Sequence[Area]) -> Placement:
    """Where a point belongs; kecamatan only for points the regency serves."""
    if inside(lat, lon, enclave):
        return Placement(Jurisdiction.KOTA_BLITAR, None, None)
    if not inside(lat, lon, regency):
        return Placement(Jurisdiction.OUTSIDE_REGENCY, None, None)
    area = nearest_area(lat, lon, areas)
    return Placement(Jurisdiction.REGENCY, area.code, area.name)
