"""Bodies and queries of the gazetteer and the centre's places."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator

from dispatch.web.schemas import Location, Strict, Text, enum_member
from dispatch.web.types import FreeText, Line, QueryInt


class PlaceKind(StrEnum):
    MASJID = "masjid"
    GEREJA = "gereja"
    PURA = "pura"
    VIHARA = "vihara"
    SEKOLAH = "sekolah"
    PASAR = "pasar"
    PUSKESMAS = "puskesmas"
    RUMAH_SAKIT = "rumah_sakit"
    JEMBATAN = "jembatan"
    SPBU = "spbu"
    MAKAM = "makam"
    PABRIK = "pabrik"
    KANTOR = "kantor"
    TERMINAL = "terminal"
    STASIUN = "stasiun"
    WISATA = "wisata"
    LAINNYA = "lainnya"


class PlaceIn(Strict):
    name: Text = Field(min_length=1, max_length=120)
    kind: PlaceKind
    location: Location
    aliases: list[Line] = Field(default_factory=list, max_length=20)
    estimate: bool = Field(default=False, description="The point is an estimate")
    note: FreeText = Field(default="", max_length=500)

    _kind = field_validator("kind", mode="before")(enum_member(PlaceKind, "kind"))

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v.strip()

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        out = [a.strip() for a in v]
        if any(not a or len(a) > 120 for a in out):
            raise ValueError("every alias must be 1-120 characters")
        return out


class ImportIn(Strict):
    format: str = Field(pattern="^(csv|geojson)$")
    content: str = Field(min_length=1, max_length=2_000_000)


class SearchQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    q: Line = Field(min_length=1, max_length=120)
    limit: QueryInt = Field(default=10, ge=1, le=50)


class ListQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    retired: bool = False
    limit: QueryInt = Field(default=500, ge=1, le=5000)
