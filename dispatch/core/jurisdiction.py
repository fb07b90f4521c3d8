"""Jurisdiction: is a point ours, Kota Blitar's or a neighbour's, and in which kecamatan.

The types only; dispatch/geodata.py decides a Placement by point-in-polygon on
the shipped Kemendagri boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Jurisdiction(StrEnum):
    REGENCY = "regency"
    KOTA_BLITAR = "kota_blitar"
    OUTSIDE_REGENCY = "outside_regency"


# The queue reason an incident keeps while it waits for a handover; the
# dispatcher never serves an incident whose reason starts with HANDOVER_PREFIX.
HANDOVER_PREFIX = "handover_"


@dataclass(frozen=True)
class Area:
    """A named kecamatan with its label point (inside its polygon)."""

    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Placement:
    jurisdiction: Jurisdiction
    kecamatan_code: str | None
    kecamatan: str | None
    desa_code: str | None = None
    desa: str | None = None
    # The Kemendagri code of the area that takes the call over; None when it is ours
    # or when the point is in none of the shipped areas.
    handover_to: str | None = None

    @property
    def queue_reason(self) -> str | None:
        """The handover reason an incident here gets, or None when we dispatch it."""
        if self.jurisdiction is Jurisdiction.REGENCY:
            return None
        return HANDOVER_PREFIX + self.jurisdiction.value
