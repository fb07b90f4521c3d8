"""Request schemas: the single place where incoming data is validated (pydantic)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dispatch.core.lifecycle import UnitStatus
from dispatch.web.types import EventTime, FreeText, Id, Line, PeriodTime, QueryInt

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
E = TypeVar("E", bound=StrEnum)
# One line of text, checked and trimmed (dispatch/web/types.py).
Text = Line


# Converters shared by every request model (apply with field_validator(...)(fn)).

def split_commas(v: object) -> object:
    """A comma-separated query value as a list."""
    return [s for s in v.split(",") if s] if isinstance(v, str) else v


def phone_number(v: str) -> str:
    """Digits with an optional leading +; spaces, dashes, dots and brackets dropped."""
    digits = _PHONE_SEPARATORS.sub("", v)
    if not re.fullmatch(r"\+?[0-9]{3,15}", digits):
        raise ValueError("must be a phone number: digits, optionally starting with +")
    return digits


def enum_member(enum: type[E], what: str) -> Callable[[object], object]:
    """A before-validator naming every allowed value when a string is not one."""

    def convert(v: object) -> object:
        if isinstance(v, str):
            try:
                return enum(v)
            except ValueError:
                allowed = ", ".join(m.value for m in enum)
                raise ValueError(f"unknown {what} {v!r}; one of: {allowed}") from None
        return v

    return convert


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LocationSource(StrEnum):
    """Where a position came from: a chosen desa/kecamatan/place or a fix of its own."""

    OPERATOR = "operator"
    DESA = "desa"
    KECAMATAN = "kecamatan"
    PLACE = "place"
    AML = "aml"
    CALLER_LINK = "caller_link"


# Sources whose point and radius the service looks up from ``code`` itself.
NAMED_SOURCES = frozenset({LocationSource.DESA, LocationSource.KECAMATAN, LocationSource.PLACE})


class Location(Strict):
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude in degrees")
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude in degrees")


class IncidentLocation(Location):
    """Where an incident is: typed or clicked, a chosen desa/place, or a fix with its radius."""

    source: LocationSource = Field(
        default=LocationSource.OPERATOR,
        description="desa/kecamatan/place: the point and radius of `code` replace lat/lon")
    radius_m: float | None = Field(default=None, ge=0, le=100_000,
                                   description="Uncertainty in metres, when known")
    code: Line | None = Field(default=None, min_length=1, max_length=40,
                              description="The desa/kecamatan code or the place id chosen")

    _source = field_validator("source", mode="before")(enum_member(LocationSource, "source"))

    @model_validator(mode="after")
    def _code_needed(self) -> IncidentLocation:
        if self.source in NAMED_SOURCES and self.code is None:
            raise ValueError(f"source {self.source.value} needs `code` (the {self.source.value}"
                             " chosen from GET /api/v1/places)")
        return self


class IncidentIn(Strict):
    caller_phone: Text = Field(min_length=3, max_length=20,
                               description="Caller's number, e.g. 081234567890 or +6281234567890")
    category: Text = Field(min_length=1, max_length=48, description="Run-card category code")
    priority: int = Field(ge=1, le=3, description="1 most urgent ... 3 least")
    location: IncidentLocation | None = None
    address: Text = Field(default="", max_length=500, validate_default=True,
                          description="Required without a location; blank text is no address")
    description: FreeText = Field(default="", max_length=4000)
    call_received_at: EventTime | None = Field(
        default=None, description="When the call reached the centre (telephony); default now")

    _number = field_validator("caller_phone")(phone_number)

    @field_validator("address")
    @classmethod
    def _somewhere(cls, address: str, info: ValidationInfo) -> str:
        # Only when the location itself was valid and absent: no second error for one fault.
        if "location" in info.data and info.data["location"] is None and not address:
            raise ValueError("give a location {lat, lon} or an address (or both)")
        return address


class RelocateIn(IncidentLocation):
    """A better fix for an open incident: the location's fields themselves, flat."""

    reevaluate: bool = Field(
        default=False, description="Free assigned units not yet en route; dispatch anew")


class IncidentQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    status: list[str] | None = None
    since: PeriodTime | None = Field(default=None, alias="from")
    until: PeriodTime | None = Field(default=None, alias="to")
    category: Line | None = Field(default=None, max_length=48)
    limit: QueryInt = Field(default=200, ge=1, le=1000)

    _list = field_validator("status", mode="before")(split_commas)

    @field_validator("status")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        allowed = {"pending", "queued", "dispatched", "closed", "open"}
        bad = [s for s in v or [] if s not in allowed]
        if bad:
            raise ValueError(f"unknown status {bad}; allowed: {sorted(allowed)}")
        return v


class CloseIn(Strict):
    disposition: Text = Field(min_length=1, max_length=48)
    note: FreeText = Field(default="", max_length=2000)
    confirm: bool = Field(default=False, description=(
        "Close even though units are still on the incident (they are released); without "
        "it such a close is refused with 409 units_active naming them"))


class AssignIn(Strict):
    unit_id: Id
    take_from_other: bool = Field(
        default=False, description="Take the unit off the incident it is on now")
    replaces_assignment_id: Id | None = Field(
        default=None, description="End this assignment of the incident and free its unit")


class UnitIn(Strict):
    callsign: Text = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}$")
    unit_type: Text = Field(min_length=1, max_length=32)
    agency: Text = Field(min_length=1, max_length=80)
    home_station: Text = Field(default="", max_length=120)
    location: Location | None = None


class PositionSource(StrEnum):
    """Where a unit's fix came from."""

    GPS = "gps"
    NETWORK = "network"
    MANUAL = "manual"
    UNKNOWN = "unknown"


class LocationIn(Location):
    at: EventTime | None = Field(default=None, description="Fix time; default now")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000,
                                     description="Radius of the fix's uncertainty, metres")
    source: PositionSource = PositionSource.UNKNOWN

    _source = field_validator("source", mode="before")(enum_member(PositionSource, "source"))


class StatusIn(Strict):
    status: UnitStatus

    _status = field_validator("status", mode="before")(enum_member(UnitStatus, "status"))


class UnitQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    status: UnitStatus | None = None
    unit_type: Line | None = Field(default=None, alias="type", max_length=32)


class StatsQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    since: PeriodTime | None = Field(default=None, alias="from",
                                     description="Default: 30 days before 'to'")
    until: PeriodTime | None = Field(default=None, alias="to", description="Default: now")
    category: Line | None = Field(default=None, max_length=48)

    @field_validator("until")
    @classmethod
    def _order(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if since is not None and until is not None and until <= since:
            raise ValueError("'to' must be after 'from'")
        return until
