"""Query models for the supervisor reports and the console's candidate list."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from dispatch.web.schemas import StatsQuery, Strict, split_commas
from dispatch.web.types import Line, QueryId, QueryInt


class GroupedQuery(StatsQuery):
    group: Literal["day", "hour", "kecamatan", "desa", "unit_type"]


class HistogramQuery(StatsQuery):
    bin_s: QueryInt = Field(default=60, ge=10, le=3600, description="Bin width in seconds")


class ExportQuery(StatsQuery):
    sep: Literal[",", ";"] = Field(
        default=",", description="';' for Excel with Indonesian settings (numbers then take "
                                 "a decimal comma)")
    lang: Literal["id", "en"] = Field(default="id", description="Column names and labels")
    tz: Literal["WIB", "UTC"] = Field(default="WIB", description="Times as the centre's "
                                                                 "wall clock, or UTC")


class CandidatesQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    # "type=" names no type at all: refused rather than read as "the run card's".
    unit_types: list[Line] | None = Field(default=None, alias="type", min_length=1,
                                         description="Comma-separated; default the run card's")
    limit: QueryInt = Field(default=20, ge=1, le=200)

    _list = field_validator("unit_types", mode="before")(split_commas)


class RouteQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    unit_id: QueryId = Field(description="The unit whose road route to the incident is drawn")
