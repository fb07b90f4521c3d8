"""The call log, AML caller locations, duplicate offers and handover take-over.

Every contact is logged, not only emergencies: most 112 calls are prank or
silent ones, and the centre must be able to count them and recognise a
number that keeps calling. An emergency call opens an incident in the same
transaction; a duplicate call joins an open incident's timeline instead.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from dispatch.core.jurisdiction import HANDOVER_PREFIX
from dispatch.errors import Conflict, DomainError, Invalid, NotFound
from dispatch.geodata import locate
from dispatch.settings import CallsSettings, Settings
from dispatch.store import calls as call_sql
from dispatch.store import incidents as inc_sql
from dispatch.store.events import add_event
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

routes = web.RouteTableDef()
# Phone and server clocks may differ by this much when comparing a fix with a call log time.
AML_CLOCK_MARGIN = timedelta(seconds=30)
log = structlog.get_logger(__name__)
CLOCK_SKEW = timedelta(seconds=60)


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

@dataclass
class CallContext:
    """What the view knows before the transaction: validated input and configuration."""

    body: CallIn
    key: str
    actor: str
    now: datetime
    settings: Settings
    required: list[str]


def _check_times(body: CallIn, now: datetime) -> None:
    for name in ("rang_at", "answered_at"):
        at = getattr(body, name)
        if at is not None and at > now + CLOCK_SKEW:
            raise Invalid(f"{name} is in the future", field=name)


def _required_types(settings: Settings, body: CallIn) -> list[str]:
    if body.incident is None:
        return []
    runcards = settings.runcards
    if body.incident.category not in runcards.categories:
        raise Invalid(f"unknown category {body.incident.category!r}", field="incident.category",
                      allowed=sorted(runcards.categories))
    return list(runcards.required_types(body.incident.category, body.incident.priority))


async def _repeat_caller(conn: asyncpg.Connection, ctx: CallContext) -> dict[str, Any]:
    """The number's prank and silent calls before this one; flagged, never blocked."""
    cfg = ctx.settings.calls
    since = ctx.now - timedelta(days=cfg.repeat_caller_days)
    count = int(await conn.fetchval(call_sql.PRANK_COUNT_SQL, ctx.key, since))
    return {"flagged": count >= cfg.repeat_caller_calls, "prank_or_ghost_calls": count,
            "threshold": cfg.repeat_caller_calls, "days": cfg.repeat_caller_days}


def _best_fix(held: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest held fix that has a position (pm=N fixes locate nothing)."""
    return next((h for h in held if h["lat"] is not None), None)


async def _open_incident(conn: asyncpg.Connection, ctx: CallContext,
                         fix: dict[str, Any] | None) -> dict[str, Any]:
    new = ctx.body.incident
    assert new is not None
    location = new.location or ctx.body.location
    lat, lon = (location.lat, location.lon) if location else (None, None)
    if lat is None and fix is not None:
        lat, lon = fix["lat"], fix["lon"]
    if lat is None and not new.address:
        raise Invalid("give incident.location or incident.address: no AML position arrived "
                      "for this number", field="incident.location")
    return await actions.create_incident(
        conn, actor=ctx.actor, required_types=ctx.required, caller_phone=ctx.body.caller_phone,
        category=new.category, priority=new.priority, lat=lat, lon=lon, address=new.address,
        description=new.description, received_at=ctx.body.rang_at)


async def _linked_incident(conn: asyncpg.Connection, incident_id: int) -> dict[str, Any]:
    incident = await inc_sql.get_incident(conn, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found", field="incident_id")
    if incident["status"] == "closed":
        raise Conflict(f"incident {incident_id} is closed; log the call as a new emergency",
                       code="incident_closed")
    return incident


def _call_location(ctx: CallContext, incident: dict[str, Any] | None,
                   fix: dict[str, Any] | None) -> tuple[Any, ...]:
    """(lat, lon, accuracy_m, source, kecamatan_code) of the call itself."""
    loc = ctx.body.location
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    source: str | None = None
    if loc is not None:
        lat, lon, source = loc.lat, loc.lon, "operator"
    elif fix is not None:
        lat, lon, accuracy, source = fix["lat"], fix["lon"], fix["radius_m"], "aml"
    kecamatan = (incident or {}).get("kecamatan_code")
    if kecamatan is None and lat is not None and lon is not None:
        kecamatan = locate(lat, lon).kecamatan_code
    return lat, lon, accuracy, source, kecamatan


async def _log_call(conn: asyncpg.Connection, ctx: CallContext) -> dict[str, Any]:
    body, cfg = ctx.body, ctx.settings.calls
    await conn.execute(call_sql.LOCK_PHONE_SQL, ctx.key)
    repeat = await _repeat_caller(conn, ctx)
    held = [dict(r) for r in await conn.fetch(
        call_sql.HELD_AML_SQL, ctx.key, ctx.now - timedelta(seconds=cfg.aml_match_window_s))]
    fix = _best_fix(held)
    incident = None
    if body.disposition is Disposition.EMERGENCY:
        incident = await _open_incident(conn, ctx, fix)
    elif body.disposition is Disposition.DUPLICATE:
        assert body.incident_id is not None
        incident = await _linked_incident(conn, body.incident_id)
    lat, lon, accuracy, source, kecamatan = _call_location(ctx, incident, fix)
    call = await call_sql.insert_call(
        conn, caller_phone=body.caller_phone, phone_key=ctx.key,
        disposition=body.disposition.value, incident_id=incident["id"] if incident else None,
        handover_to=body.handover_to, rang_at=body.rang_at, answered_at=body.answered_at,
        logged_by=ctx.actor, note=body.note, lat=lat, lon=lon, accuracy_m=accuracy,
        location_source=source, kecamatan_code=kecamatan, repeat_caller=repeat["flagged"])
    if held:
        await conn.execute(call_sql.ATTACH_AML_SQL, [h["id"] for h in held], call["id"])
        for h in held:
            h.update(status="attached", call_id=call["id"])
    await _call_events(conn, ctx, call, incident, repeat)
    return {"call": call, "incident": incident, "repeat_caller": repeat, "aml": held}


async def _call_events(conn: asyncpg.Connection, ctx: CallContext, call: dict[str, Any],
                       incident: dict[str, Any] | None, repeat: dict[str, Any]) -> None:
    incident_id = incident["id"] if incident else None
    await add_event(conn, "call.logged", actor=ctx.actor, incident_id=incident_id,
                    data={"call_id": call["id"], "disposition": call["disposition"],
                          "repeat_caller": repeat["flagged"], "location": location_of(call),
                          "accuracy_m": call["accuracy_m"], "kecamatan_code":
                          call["kecamatan_code"], "handover_to": call["handover_to"]})
    if ctx.body.disposition is Disposition.DUPLICATE:
        # The caller joins the existing incident's timeline; nothing is dispatched again.
        await add_event(conn, "caller.linked", actor=ctx.actor, incident_id=incident_id,
                        data={"call_id": call["id"], "caller_phone": call["caller_phone"],
                              "note": call["note"], "location": location_of(call)})


async def _duplicate_offers(request: web.Request, incident: dict[str, Any] | None
                            ) -> list[dict[str, Any]]:
    """Other open incidents near a new one: the call-taker may still link them."""
    if incident is None or incident["lat"] is None:
        return []
    offers = await nearby(request, Point(incident["lat"], incident["lon"]),
                          incident["category"], None, None)
    return [o for o in offers if o["id"] != incident["id"]]


@routes.post("/api/v1/calls")
async def log_call(request: web.Request) -> web.Response:
    """Log one contact with its disposition; an emergency opens an incident."""
    body = await parse_body(request, CallIn)
    settings = request.app[keys.SETTINGS]
    now = datetime.now(UTC)
    _check_times(body, now)
    ctx = CallContext(body, phone_key(body.caller_phone), actor_of(request), now, settings,
                      _required_types(settings, body))

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await _log_call(conn, ctx)

    done = await transact(request, work)
    call, incident = done["call"], done["incident"]
    log.info("call.logged", call_id=call["id"], disposition=call["disposition"],
             incident_id=call["incident_id"], repeat_caller=call["repeat_caller"])
    out = dict(call_out(call, done["aml"]), repeat_caller=done["repeat_caller"],
               incident=incident_out(incident) if incident else None)
    if body.disposition is Disposition.EMERGENCY:
        out["duplicate_candidates"] = await _duplicate_offers(request, incident)
    return json_response(out, status=201, headers={"Location": f"/api/v1/calls/{call['id']}"})


@routes.get("/api/v1/calls")
async def list_calls(request: web.Request) -> web.Response:
    q = parse_query(request, CallQuery)
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

async def _read_aml(request: web.Request, now: datetime, cfg: CallsSettings
                    ) -> tuple[str, str, str, AmlFix | AmlError]:
    """(transport, raw text, caller number, fix or the reason it cannot be used).

    The raw text is kept with control characters written out (printable), so a
    message refused for a NUL byte is still stored for audit."""
    earliest = request.app[keys.SETTINGS].bounds.earliest
    if request.content_type == "application/x-www-form-urlencoded":
        raw = printable((await request.read()).decode("utf-8", errors="replace"))
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        try:
            phone, fix = parse_https(form, now=now, skew_s=cfg.aml_future_skew_s,
                                     earliest=earliest)
        except AmlError as exc:
            return "https", raw, printable(form.get("device_number", ""))[:40], exc
        return "https", raw, phone, fix
    body = await parse_body(request, SmsAmlIn)
    try:
        return "sms", printable(body.text), body.sender, parse_sms(
            body.text, now=now, skew_s=cfg.aml_future_skew_s, earliest=earliest)
    except AmlError as exc:
        return "sms", printable(body.text), body.sender, exc


async def _store_fix(conn: asyncpg.Connection, fix: AmlFix, raw: str, phone: str,
                     cfg: CallsSettings, now: datetime, actor: str) -> dict[str, Any]:
    key = phone_key(phone)
    # A call logged before the phone took this fix is an earlier call of the same number
    # (a prankster calling back with a real emergency): hold the fix for the call in progress.
    since = max(now - timedelta(seconds=cfg.aml_match_window_s),
                fix.positioned_at - AML_CLOCK_MARGIN)
    await conn.execute(call_sql.LOCK_PHONE_SQL, key)
    call = await conn.fetchrow(call_sql.RECENT_CALL_SQL, key, since)
    row = await call_sql.insert_aml(conn, fix, raw=raw, caller_phone=phone, phone_key=key,
                                    call_id=call["id"] if call else None)
    if (call is not None and call["location_source"] != "operator"
            and fix.lat is not None and fix.lon is not None):
        kecamatan = locate(fix.lat, fix.lon).kecamatan_code
        await conn.execute(call_sql.SET_CALL_LOCATION_SQL, call["id"], fix.lat, fix.lon,
                           fix.radius_m, "aml", kecamatan)
    await add_event(conn, "aml.received", actor=actor,
                    incident_id=call["incident_id"] if call else None,
                    data={"aml_id": row["id"], "call_id": row["call_id"],
                          "status": row["status"], "location": location_of(row),
                          "radius_m": row["radius_m"], "method": row["method"],
                          "positioned_at": row["positioned_at"]})
    return row


@routes.post("/api/v1/aml")
async def receive_aml(request: web.Request) -> web.Response:
    """An AML message (SMS v1 as JSON {sender, text}, or the HTTPS form)."""
    settings = request.app[keys.SETTINGS]
    cfg, now, actor = settings.calls, datetime.now(UTC), actor_of(request)
    transport, raw, phone, parsed = await _read_aml(request, now, cfg)
    if isinstance(parsed, AmlError):
        error = parsed

        async def reject(conn: asyncpg.Connection) -> int:
            audit_id: int = await conn.fetchval(call_sql.INSERT_REJECTED_AML_SQL, transport,
                                                raw[:8000], phone or None, error.code,
                                                error.message)
            await add_event(conn, "aml.rejected", actor=actor,
                            data={"aml_id": audit_id, "reason": error.code})
            return audit_id

        audit_id = await transact(request, reject)
        log.warning("aml.rejected", aml_id=audit_id, reason=error.code, field=error.field)
        # Kept raw for audit (the one exception to "nothing stored"), then refused.
        raise AmlRejected(f"AML message refused: {error.message}", code=f"aml_{error.code}",
                          field=error.field, audit_id=audit_id)
    fix = parsed

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await _store_fix(conn, fix, raw, phone, cfg, now, actor)

    row = await transact(request, work)
    log.info("aml.received", aml_id=row["id"], call_id=row["call_id"], method=row["method"])
    return json_response(aml_out(row), status=201)


@routes.get("/api/v1/aml")
async def list_aml(request: web.Request) -> web.Response:
    """Recent AML fixes (e.g. ?phone=…&status=held while the call is still going on)."""
    q = parse_query(request, AmlQuery)
    async with connection(request) as conn:
        rows = await conn.fetch(call_sql.LIST_AML_SQL, phone_key(q.phone) if q.phone else None,
                                q.status, q.limit)
    items = [aml_out(dict(r)) for r in rows]
    return json_response({"items": items, "count": len(items)})


# --- duplicates -------------------------------------------------------------

async def nearby(request: web.Request, origin: Point, category: str | None,
                 radius_m: float | None, window_min: float | None) -> list[dict[str, Any]]:
    """Open incidents a new report at ``origin`` may duplicate, nearest first."""
    settings = request.app[keys.SETTINGS]
    cfg, now = settings.calls, datetime.now(UTC)
    radius = radius_m or cfg.duplicate_radius_m
    window = timedelta(minutes=window_min or cfg.duplicate_window_min)
    box = search_box(origin, radius)
    async with connection(request) as conn:
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
    items = await nearby(request, Point(q.lat, q.lon), q.category, q.radius_m, q.window_min)
    return json_response({"items": items, "count": len(items)})


# --- handover ---------------------------------------------------------------

@routes.post("/api/v1/incidents/{id}/take-over")
async def take_over(request: web.Request) -> web.Response:
    """The centre decides to serve an incident flagged for handover after all."""
    incident_id = path_id(request)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        incident = await inc_sql.get_incident(conn, incident_id, lock=True)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        reason = incident["queue_reason"] or ""
        if incident["status"] == "closed" or not reason.startswith(HANDOVER_PREFIX):
            raise Conflict(f"incident {incident_id} is not waiting for a handover",
                           code="not_handover")
        # 'pending' wakes the dispatcher (NOTIFY trigger) and puts it back in its queue.
        await conn.execute(inc_sql.SET_STATUS_SQL, incident_id, "pending", None)
        await add_event(conn, "incident.taken_over", actor=actor, incident_id=incident_id,
                        data={"status": "pending", "queue_reason": None, "previous": reason})
        incident.update(status="pending", queue_reason=None)
        return incident

    incident = await transact(request, work)
    return json_response(incident_out(incident))
