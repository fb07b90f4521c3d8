"""Request schemas for the call log, AML, duplicate offers and call statistics."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from dispatch.web.schemas import (
    IncidentLocation,
    Location,
    Strict,
    Text,
    enum_member,
    phone_number,
    split_commas,
)
from dispatch.web.types import EventTime, FreeText, Id, Line, PeriodTime, QueryInt


class Disposition(StrEnum):
    EMERGENCY = "emergency"
    DUPLICATE = "duplicate"
    INFORMATION = "information"
    PRANK = "prank"
    GHOST = "ghost"
    WRONG_NUMBER = "wrong_number"
    HANDOVER = "handover"
    TEST = "test"


class NewIncident(Strict):
    """The incident an emergency call opens (the caller's number comes from the call)."""

    category: Text = Field(min_length=1, max_length=48, description="Run-card category code")
    priority: int = Field(ge=1, le=3)
    location: IncidentLocation | None = Field(
        default=None, description="Default: the caller's AML position, when one arrived")
    address: Text = Field(default="", max_length=500)
    description: FreeText = Field(default="", max_length=4000)


# The IP-PBX's id of a call (Asterisk's ${UNIQUEID}, FreeSWITCH's uuid): visible ASCII.
PBX_CALL_ID_PATTERN = r"^[\x21-\x7e]{1,64}$"
PbxCallId = Annotated[str, Field(min_length=1, max_length=64, pattern=PBX_CALL_ID_PATTERN)]


class CallIn(Strict):
    caller_phone: Text = Field(min_length=3, max_length=20)
    disposition: Disposition
    rang_at: EventTime | None = Field(default=None, description="Phone rang (telephony)")
    answered_at: EventTime | None = Field(default=None, description="Call answered")
    note: FreeText = Field(default="", max_length=2000)
    address: Line = Field(default="", max_length=500,
                          description="Where the caller says it is, as typed; kept on the "
                                      "incident's timeline when the call is linked")
    location: Location | None = Field(default=None, description="Where the caller says")
    incident: NewIncident | None = Field(default=None, description="emergency only")
    incident_id: Id | None = Field(default=None, description="duplicate only")
    handover_to: Text | None = Field(default=None, min_length=1, max_length=120,
                                     description="handover only: the centre or agency")
    confirm_new: bool = Field(default=False, description=(
        "emergency only: open a new incident even though open incidents nearby match "
        "(otherwise 409 possible_duplicate with the candidates)"))
    telephony_call_id: PbxCallId | None = Field(default=None, description=(
        "The IP-PBX call this is (POST /api/v1/telephony/events): its ring and answer "
        "times are used"))

    _number = field_validator("caller_phone")(phone_number)

    _disposition = field_validator("disposition", mode="before")(
        enum_member(Disposition, "disposition"))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        d = self.disposition
        if (d is Disposition.EMERGENCY) != (self.incident is not None):
            raise ValueError("'incident' is required for an emergency call and only for one")
        if (d is Disposition.DUPLICATE) != (self.incident_id is not None):
            raise ValueError("'incident_id' is required for a duplicate call and only for one")
        if (d is Disposition.HANDOVER) != (self.handover_to is not None):
            raise ValueError("'handover_to' is required for a handover and only for one")
        if self.confirm_new and d is not Disposition.EMERGENCY:
            raise ValueError("'confirm_new' is for an emergency call only")
        if self.rang_at and self.answered_at and self.answered_at < self.rang_at:
            raise ValueError("answered_at is before rang_at")
        return self


class SmsAmlIn(Strict):
    """An AML SMS as the SMS gateway relays it: the sender's number and the text."""

    sender: Text = Field(min_length=3, max_length=20)
    text: str = Field(min_length=1, max_length=1000)

    _number = field_validator("sender")(phone_number)


class CallQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    since: PeriodTime | None = Field(default=None, alias="from")
    until: PeriodTime | None = Field(default=None, alias="to")
    disposition: list[Disposition] | None = None
    phone: Line | None = Field(default=None, max_length=20)
    limit: QueryInt = Field(default=200, ge=1, le=1000)

    _list = field_validator("disposition", mode="before")(split_commas)


class AmlQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    phone: Line | None = Field(default=None, max_length=20)
    status: str | None = Field(default=None, pattern="^(held|attached|rejected)$")
    limit: QueryInt = Field(default=50, ge=1, le=500)


class DuplicateQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    category: Line | None = Field(default=None, max_length=48)
    radius_m: float | None = Field(default=None, gt=0, le=5000)
    window_min: float | None = Field(default=None, gt=0, le=24 * 60)
