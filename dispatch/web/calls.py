"""The call log, AML caller locations, duplicate offers and handover take-over.

Every contact is logged, not only emergencies: most 112 calls are prank or
silent ones, and the centre must be able to count them and recognise a
number that keeps calling. An emergency call opens an incident in the same
transaction; a duplicate call joins an open incident's timeline instead.
The views validate and shape answers; every write is in dispatch/actions.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from dispatch import actions, keys
from dispatch.core.aml import AmlError, AmlFix, parse_https, parse_sms, phone_key
from dispatch.core.bounds import printable
from dispatch.core.duplicates import OpenIncident, candidates, compatibility, search_box
from dispatch.core.geo import Point
from dispatch.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from dispatch.privacy import PERSONAL_DATA_ROLES
from dispatch.settings import Settings
from dispatch.store import calls as call_sql
from dispatch.web import idempotency
from dispatch.web.calls_schemas import (
    AmlQuery,
    CallIn,
    CallQuery,
    Disposition,
    DuplicateQuery,
    SmsAmlIn,
)
from dispatch.web.common import (
    actor_of,
    connection,
    incident_out,
    json_response,
    location_of,
    parse_body,
    parse_query,
    path_id,
    transact,
)
from dispatch.web.incidents import resolve_location

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)


class AmlRejected(DomainError):
    status = 422
    code = "aml_invalid"


# --- output shapes ----------------------------------------------------------

def aml_out(row: dict[str, Any]) -> dict[str, Any]:
    """An AML fix for consoles: position and accuracy circle; never IMSI or IMEI."""
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = location_of(row)
    return out


def call_out(row: dict[str, Any], aml: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = location_of(row)
    if aml is not None:
        out["aml"] = [aml_out(a) for a in aml]
    return out


# --- logging a call ---------------------------------------------------------

def _report(settings: Settings, body: CallIn) -> actions.CallReport:
    """The call as actions.log_call takes it; the run card decides the unit types."""
    new = None
    if body.incident is not None:
        runcards = settings.runcards
        if body.incident.category not in runcards.categories:
            raise Invalid(f"unknown category {body.incident.category!r}",
                          field="incident.category", allowed=sorted(runcards.categories))
        location = body.incident.location or body.location
        new = actions.NewIncident(
            category=body.incident.category, priority=body.incident.priority,
            required_types=list(runcards.required_types(body.incident.category,
                                                        body.incident.priority)),
            lat=location.lat if location else None, lon=location.lon if location else None,
            address=body.incident.address, description=body.incident.description)
    return actions.CallReport(
        caller_phone=body.caller_phone, phone_key=phone_key(body.caller_phone),
        disposition=body.disposition.value, rang_at=body.rang_at, answered_at=body.answered_at,
        note=body.note, address=body.address or (body.incident.address if body.incident else ""),
        telephony_call_id=body.telephony_call_id, lat=body.location.lat if body.location else None,
        lon=body.location.lon if body.location else None, incident=new,
        incident_id=body.incident_id, handover_to=body.handover_to)


async def _duplicate_offers(request: web.Request, incident: dict[str, Any] | None
                            ) -> list[dict[str, Any]]:
    """Other open incidents near a new one: the call-taker may still link them."""
    if incident is None or incident["lat"] is None:
        return []
    async with connection(request) as conn:
        offers = await nearby(conn, request.app[keys.SETTINGS],
                              Point(incident["lat"], incident["lon"]), incident["category"])
    return [o for o in offers if o["id"] != incident["id"]]


class PossibleDuplicate(Conflict):
    """An emergency matching an open incident by the duplicate rule, not yet confirmed new."""

    code = "possible_duplicate"


def _refuse_duplicate(settings: Settings) -> actions.DuplicateCheck:
    """409 with the candidates when a new incident matches open ones (nothing written)."""
    async def check(conn: asyncpg.Connection, lat: float, lon: float, category: str) -> None:
        found = await nearby(conn, settings, Point(lat, lon), category)
        if found:
            ids = ", ".join(f"#{c['id']}" for c in found)
            raise PossibleDuplicate(
                f"open incidents nearby match this report ({ids}): link the call to one, "
                "or send confirm_new: true for a new incident", field="confirm_new",
                candidates=found)
    return check


@routes.post("/api/v1/calls")
async def log_call(request: web.Request) -> web.Response:
    """Log one contact with its disposition; an emergency opens an incident.

    Honours ``Idempotency-Key`` like POST /api/v1/incidents. An emergency matching an
    open incident (the rule of GET /api/v1/duplicates) is refused with 409
    ``possible_duplicate`` and the candidates unless ``confirm_new`` is true."""
    body = await parse_body(request, CallIn)
    settings = request.app[keys.SETTINGS]
    now = datetime.now(UTC)
    report, actor = _report(settings, body), actor_of(request)
    check = None if body.confirm_new else _refuse_duplicate(settings)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        chosen = report
        location = body.incident.location if body.incident is not None else None
        if report.incident is not None and location is not None:
            lat, lon, source, radius = await resolve_location(conn, location)
            chosen = replace(report, incident=replace(
                report.incident, lat=lat, lon=lon, location_source=source, radius_m=radius))
        return await actions.log_call(conn, chosen, actor=actor, now=now, cfg=settings.calls,
                                      check_duplicate=check)

    # A retry with the same Idempotency-Key gets the first answer, not a second call.
    done, replay_headers = await idempotency.transact_once(
        request, body, work, incident_id=lambda d: d["call"]["incident_id"])
    call, incident = done["call"], done["incident"]
    log.info("call.logged", call_id=call["id"], disposition=call["disposition"],
             incident_id=call["incident_id"], repeat_caller=call["repeat_caller"])
    out = dict(call_out(call, done["aml"]), repeat_caller=done["repeat_caller"],
               incident=incident_out(incident) if incident else None,
               callback_id=done["callback"]["id"] if done.get("callback") else None)
    if body.disposition is Disposition.EMERGENCY:
        out["duplicate_candidates"] = await _duplicate_offers(request, incident)
    return json_response(out, status=201, headers={"Location": f"/api/v1/calls/{call['id']}",
                                                    **replay_headers})


def _may_search_by_phone(request: web.Request, phone: str | None) -> None:
    """Only roles that see caller numbers may search by one: for the others, the
    answer would tell whether a number called even though every number is masked."""
    principal = request.get(keys.PRINCIPAL)
    if phone is not None and principal is not None \
            and principal.role not in PERSONAL_DATA_ROLES:
        raise Forbidden(f"the {principal.role} role sees caller numbers masked and may not "
                        "search by one", code="phone_search_forbidden", field="phone")


@routes.get("/api/v1/calls")
async def list_calls(request: web.Request) -> web.Response:
    q = parse_query(request, CallQuery)
    _may_search_by_phone(request, q.phone)
    dispositions = [d.value for d in q.disposition] if q.disposition else None
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(
            call_sql.LIST_CALLS_SQL, q.since, q.until, dispositions,
            phone_key(q.phone) if q.phone else None, q.limit)]
        aml = await call_sql.aml_for_calls(conn, [r["id"] for r in rows])
    items = [call_out(r, aml[r["id"]]) for r in rows]
    return json_response({"items": items, "count": len(items)})


@routes.get("/api/v1/calls/{id}")
async def get_call(request: web.Request) -> web.Response:
    call_id = path_id(request)
    async with connection(request) as conn:
        row = await conn.fetchrow(call_sql.GET_CALL_SQL, call_id)
        if row is None:
            raise NotFound(f"call {call_id} not found")
        aml = await call_sql.aml_for_calls(conn, [call_id])
    return json_response(call_out(dict(row), aml[call_id]))


# --- AML --------------------------------------------------------------------

async def _read_aml(request: web.Request, now: datetime
                    ) -> tuple[str, str, str, AmlFix | AmlError]:
    """(transport, raw text, caller number, fix or the reason it cannot be used).

    The raw text is kept with control characters written out (printable), so a
    message refused for a NUL byte is still stored for audit."""
    bounds = request.app[keys.SETTINGS].bounds
    earliest, skew_s = bounds.earliest, bounds.future_skew_s
    if request.content_type == "application/x-www-form-urlencoded":
        raw = printable((await request.read()).decode("utf-8", errors="replace"))
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        try:
            phone, fix = parse_https(form, now=now, skew_s=skew_s,
                                     earliest=earliest)
        except AmlError as exc:
            return "https", raw, printable(form.get("device_number", ""))[:40], exc
        return "https", raw, phone, fix
    body = await parse_body(request, SmsAmlIn)
    try:
        return "sms", printable(body.text), body.sender, parse_sms(
            body.text, now=now, skew_s=skew_s, earliest=earliest)
    except AmlError as exc:
        return "sms", printable(body.text), body.sender, exc


@routes.post("/api/v1/aml")
async def receive_aml(request: web.Request) -> web.Response:
    """An AML message (SMS v1 as JSON {sender, text}, or the HTTPS form)."""
    settings = request.app[keys.SETTINGS]
    cfg, now, actor = settings.calls, datetime.now(UTC), actor_of(request)
    transport, raw, phone, parsed = await _read_aml(request, now)
    if isinstance(parsed, AmlError):
        error = parsed

        async def reject(conn: asyncpg.Connection) -> int:
            return await actions.reject_aml(conn, transport=transport, raw=raw, phone=phone,
                                            error=error, actor=actor)

        audit_id = await transact(request, reject)
        log.warning("aml.rejected", aml_id=audit_id, reason=error.code, field=error.field)
        # Kept raw for audit (the one exception to "nothing stored"), then refused.
        raise AmlRejected(f"AML message refused: {error.message}", code=f"aml_{error.code}",
                          field=error.field, audit_id=audit_id)
    fix = parsed

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.receive_aml(conn, fix, raw=raw, phone=phone, cfg=cfg, now=now,
                                         actor=actor)

    row = await transact(request, work)
    log.info("aml.received", aml_id=row["id"], call_id=row["call_id"], method=row["method"])
    return json_response(aml_out(row), status=201)


@routes.get("/api/v1/aml")
async def list_aml(request: web.Request) -> web.Response:
    """Recent AML fixes (e.g. ?phone=…&status=held while the call is still going on)."""
    q = parse_query(request, AmlQuery)
    _may_search_by_phone(request, q.phone)
    async with connection(request) as conn:
        rows = await conn.fetch(call_sql.LIST_AML_SQL, phone_key(q.phone) if q.phone else None,
                                q.status, q.limit)
    items = [aml_out(dict(r)) for r in rows]
    return json_response({"items": items, "count": len(items)})


# --- duplicates -------------------------------------------------------------

async def nearby(conn: asyncpg.Connection, settings: Settings, origin: Point,
                 category: str | None, radius_m: float | None = None,
                 window_min: float | None = None) -> list[dict[str, Any]]:
    """Open incidents a new report at ``origin`` may duplicate, nearest first: the one
    duplicate rule, for GET /api/v1/duplicates and for POST /api/v1/calls' 409 alike."""
    cfg, now = settings.calls, datetime.now(UTC)
    radius = radius_m or cfg.duplicate_radius_m
    window = timedelta(minutes=window_min or cfg.duplicate_window_min)
    box = search_box(origin, radius)
    rows = [dict(r) for r in await conn.fetch(call_sql.NEARBY_OPEN_SQL, *box, now - window)]
    by_id = {r["id"]: r for r in rows}
    found = candidates(
        origin, category,
        [OpenIncident(r["id"], r["category"], Point(r["lat"], r["lon"]), r["received_at"])
         for r in rows],
        now=now, radius_m=radius, window=window,
        table=compatibility(settings.runcards.duplicate_groups))
    return [dict(incident_out(by_id[c.incident.id]), distance_m=round(c.distance_m, 1))
            for c in found]


@routes.get("/api/v1/duplicates")
async def duplicates(request: web.Request) -> web.Response:
    """Duplicate offers for a report being logged: ?lat=&lon=&category=[&radius_m=&window_min=]."""
    q = parse_query(request, DuplicateQuery)
    runcards = request.app[keys.SETTINGS].runcards
    if q.category is not None and q.category not in runcards.categories:
        raise Invalid(f"unknown category {q.category!r}", field="category",
                      allowed=sorted(runcards.categories))
    async with connection(request) as conn:
        items = await nearby(conn, request.app[keys.SETTINGS], Point(q.lat, q.lon),
                             q.category, q.radius_m, q.window_min)
    return json_response({"items": items, "count": len(items)})


# --- handover ---------------------------------------------------------------

@routes.post("/api/v1/incidents/{id}/take-over")
async def take_over(request: web.Request) -> web.Response:
    """The centre decides to serve an incident flagged for handover after all."""
    incident_id = path_id(request)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.take_over(conn, incident_id, actor=actor)

    incident = await transact(request, work)
    return json_response(incident_out(incident))
