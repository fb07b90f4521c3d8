"""The call-taker's side of a call: the caller's history while the number is typed,
notes and the timeline of an incident, and calls announced by the IP-PBX.

Caller history. ``GET /api/v1/callers/{phone}`` answers for any number, known or
not (a new caller is normal, never a 404): its recent calls, its open incidents,
and the repeat-caller flag by the one rule logging a call records
(dispatch/actions.py repeat_caller), so the flag shows before the call is saved.

Telephony. The IP-PBX (Asterisk, FreeSWITCH) posts ``ringing``, ``answered`` and
``ended`` with its machine token (role ``telephony``); each is stored once per
call and published as ``telephony.<event>``. A free call-taker's console claims a
ringing call (one call-taker only) and logs it with ``telephony_call_id``, which
takes the ring and answer times from the PBX.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import structlog
from aiohttp import web
from pydantic import Field, field_validator

from dispatch import actions, keys
from dispatch.core.aml import phone_key
from dispatch.errors import DomainError, NotFound
from dispatch.store import calls as call_sql
from dispatch.store import telephony as tel_sql
from dispatch.store.timeline import build as build_timeline
from dispatch.web.calls_schemas import PbxCallId
from dispatch.web.common import (
    actor_of,
    connection,
    json_response,
    parse_body,
    path_id,
    transact,
)
from dispatch.web.incidents import readable_incident
from dispatch.web.schemas import Strict, Text, phone_number
from dispatch.web.types import EventTime, FreeText, Line

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)

HISTORY_LIMIT = 20
PHONE_MAX = 20  # as typed, separators included (the body field's bound)


class InvalidPhone(DomainError):
    status = 422
    code = "invalid_phone"


def typed_phone(raw: str) -> str:
    """The number as intake stores it (separators dropped), or 422 ``invalid_phone``."""
    if len(raw) > PHONE_MAX:
        raise InvalidPhone(f"a phone number is at most {PHONE_MAX} characters",
                           field="phone")
    try:
        return phone_number(raw)
    except ValueError as exc:
        raise InvalidPhone(str(exc), field="phone") from None


# --- caller history ---------------------------------------------------------

@routes.get("/api/v1/callers/{phone}")
async def caller(request: web.Request) -> web.Response:
    """A number's recent calls, open incidents and repeat-caller flag (unknown: empty)."""
    phone = typed_phone(request.match_info["phone"])
    key, cfg, now = phone_key(phone), request.app[keys.SETTINGS].calls, datetime.now(UTC)
    async with connection(request) as conn:
        calls = [dict(r) for r in await conn.fetch(
            call_sql.CALLER_HISTORY_SQL, key, now - timedelta(days=cfg.history_days),
            HISTORY_LIMIT)]
        open_incidents = [dict(r) for r in await conn.fetch(
            call_sql.CALLER_OPEN_INCIDENTS_SQL, key)]
        repeat = await actions.repeat_caller(conn, key, now, cfg)
        warned = await conn.fetchval(call_sql.WARNED_SQL, key,
                                     now - timedelta(days=cfg.repeat_caller_days))
    return json_response({
        "phone": phone, "calls": calls, "open_incidents": open_incidents,
        "repeat": {"flagged": repeat["flagged"],
                   "calls_in_window": repeat["prank_or_ghost_calls"],
                   "window_s": cfg.repeat_caller_days * 86400,
                   "threshold": repeat["threshold"],
                   "blocked": repeat["block_requested_until"] is not None,
                   "block_requested_until": repeat["block_requested_until"],
                   "warned": bool(warned)}})


# --- notes and the timeline ---------------------------------------------------

class NoteIn(Strict):
    text: FreeText = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/incidents/{id}/notes")
async def add_note(request: web.Request) -> web.Response:
    """A note on the incident: audited, published, on its timeline as kind "note"."""
    incident_id = path_id(request)
    body = await parse_body(request, NoteIn)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.add_note(conn, incident_id, text=body.text, actor=actor)

    note = await transact(request, work)
    return json_response({"note": note}, status=201)


@routes.get("/api/v1/incidents/{id}/timeline")
async def incident_timeline(request: web.Request) -> web.Response:
    """Everything that happened to the incident, oldest first (dispatch/store/timeline.py)."""
    incident_id = path_id(request)
    async with connection(request) as conn:
        await readable_incident(request, conn, incident_id)
        items = await build_timeline(conn, incident_id)
    return json_response({"items": items})


# --- telephony ------------------------------------------------------------------

class TelephonyEventIn(Strict):
    event: Literal["ringing", "answered", "ended"]
    call_id: PbxCallId = Field(description="The PBX's id of the call (Asterisk ${UNIQUEID})")
    caller: Text = Field(min_length=3, max_length=20, description="The caller's number")
    line: Line = Field(default="", max_length=32, description="Trunk or line it came on")
    at: EventTime
    agent: Line | None = Field(default=None, max_length=64, description=(
        "answered: the call-taker's username or extension (empty: not known)"))

    _number = field_validator("caller")(phone_number)


@routes.post("/api/v1/telephony/events")
async def telephony_event(request: web.Request) -> web.Response:
    """A ring, answer or hang-up from the IP-PBX; a repeated one changes nothing (200)."""
    body = await parse_body(request, TelephonyEventIn)
    ev = actions.PbxEvent(event=body.event, call_id=body.call_id, caller_phone=body.caller,
                          phone_key=phone_key(body.caller), line=body.line, at=body.at,
                          agent=body.agent or None)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], bool]:
        return await actions.telephony_event(conn, ev, actor=actor)

    call, new = await transact(request, work)
    log.info("telephony.event", pbx_event=body.event, call_id=body.call_id, new=new)
    return json_response({"call": call, "recorded": new}, status=201 if new else 200)


def _pbx_call_id(request: web.Request) -> str:
    raw = request.match_info["call"]
    if not (1 <= len(raw) <= 64 and raw.isascii() and raw.isprintable() and " " not in raw):
        raise NotFound(f"no telephony call {raw[:64]!r}", code="unknown_telephony_call",
                       field="call_id")
    return raw


@routes.post("/api/v1/telephony/calls/{call}/claim")
async def claim(request: web.Request) -> web.Response:
    """Take a ringing call on this console: the first call-taker gets it, others 409."""
    call_id = _pbx_call_id(request)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.claim_telephony_call(conn, call_id, actor=actor)

    call = await transact(request, work)
    return json_response(call)


@routes.get("/api/v1/telephony/calls")
async def active_calls(request: web.Request) -> web.Response:
    """Calls ringing or in progress, not yet logged (the last hour): for a console that
    (re)connects and missed their ``telephony.ringing`` events."""
    since = datetime.now(UTC) - timedelta(hours=1)
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(tel_sql.ACTIVE_CALLS_SQL, since)]
    return json_response({"items": rows})


# Path ids that are not {id}: for the OpenAPI document.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "phone": {"type": "string", "minLength": 3, "maxLength": PHONE_MAX,
              "pattern": r"^\+?[0-9 ().-]{3,20}$"},
    "call": {"type": "string", "minLength": 1, "maxLength": 64,
                "pattern": r"^[!-~]{1,64}$"},
}
