"""Request field types that carry their bounds: times, ids, integers and text.

Every request model (schemas.py, calls_schemas.py, reports_schemas.py, …) builds
on these, so each kind of input is checked by one validator and described in
the OpenAPI document by one schema. The time window comes from the settings
(``[bounds]``), passed by parse_body/parse_query as the validation context.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

from dispatch.core.bounds import (
    DEFAULT_BOUNDS,
    INT64_MAX,
    LATEST,
    TimeBounds,
    check_instant,
    clean_text,
    parse_instant,
    strict_int,
)

_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f"
LINE_PATTERN = f"^[^{_CONTROLS}]*$"
FREE_TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"


def _bounds(info: ValidationInfo) -> TimeBounds:
    context = info.context
    return context if isinstance(context, TimeBounds) else DEFAULT_BOUNDS


def _instant(v: object) -> object:
    """An RFC 3339 string becomes an aware datetime; a number is never a time."""
    if isinstance(v, str):
        return parse_instant(v)
    if isinstance(v, bool | int | float):
        raise ValueError("must be an RFC 3339 date-time string, not a number")
    return v


def _query_instant(v: object) -> object:
    """An unencoded '+' before the offset arrives in a query string as a space."""
    if isinstance(v, str) and len(v) > 6 and v[-6] == " ":
        v = v[:-6] + "+" + v[-5:]
    return _instant(v)


def _event_time(at: datetime, info: ValidationInfo) -> datetime:
    bounds = _bounds(info)
    return check_instant(at, bounds.earliest, bounds.event_latest(datetime.now(UTC)))


def _period_time(at: datetime, info: ValidationInfo) -> datetime:
    bounds = _bounds(info)
    return check_instant(at, bounds.earliest, LATEST)


_TIME_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time"}
_EVENT_DOC = WithJsonSchema(dict(_TIME_SCHEMA, description=(
    "RFC 3339 with a timezone; not before 2000-01-01 (configurable) nor later than now "
    "plus the allowed clock skew")))
_PERIOD_DOC = WithJsonSchema(dict(_TIME_SCHEMA, description=(
    "RFC 3339 with a timezone; from 2000-01-01 (configurable) to 2100-01-01")))

# When something happened (a call rang, a unit took a fix): not in the future.
EventTime = Annotated[datetime, BeforeValidator(_instant), AfterValidator(_event_time),
                      _EVENT_DOC]
# One end of a period asked for in a query string (stats, reports, lists).
PeriodTime = Annotated[datetime, BeforeValidator(_query_instant),
                       AfterValidator(_period_time), _PERIOD_DOC]


def _ascii_int(v: object) -> object:
    """Query strings are text: only ASCII digits make an integer (not '²', '1_0', ' 1')."""
    return strict_int(v) if isinstance(v, str) else v


# A database id (bigint) in a body: a JSON integer 1…2^63-1.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
# The same in a query string.
QueryId = Annotated[int, BeforeValidator(_ascii_int), Field(ge=1, le=INT64_MAX)]
# Any other integer in a query string (its model gives the range).
QueryInt = Annotated[int, BeforeValidator(_ascii_int)]


def _line(v: object) -> object:
    return clean_text(v) if isinstance(v, str) else v


def _free(v: object) -> object:
    return clean_text(v, multiline=True) if isinstance(v, str) else v


def _documented(pattern: str) -> Callable[[dict[str, Any]], None]:
    """The control-character rule in the OpenAPI document, unless the field states a
    stricter pattern of its own. (Enforced by clean_text, not by this pattern: a pattern
    in the type's metadata would silently replace the pattern a field gives.)"""
    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("pattern", pattern)
    return extra


# One line of text: names, codes, addresses, filters. No control characters;
# surrounding blanks (zero-width ones too) dropped, so blank text is empty.
Line = Annotated[str, BeforeValidator(_line),
                 Field(json_schema_extra=_documented(LINE_PATTERN))]
# Free text (descriptions, notes): newline and tab allowed, no other control character.
FreeText = Annotated[str, BeforeValidator(_free),
                     Field(json_schema_extra=_documented(FREE_TEXT_PATTERN))]
