"""Handover to and from partner centres (EIDO over HTTPS, sql/018).

Operators: offer an incident to the partner serving its area (one click), see
the offers waiting ("menunggu diterima") with their timers, withdraw one to
phone the partner instead, and accept or decline an offer received.

Partners (``Authorization: Bearer <token_in>`` of ``[partners.<name>]``, the
"partner" role, which can call nothing else): deliver an offer
(``POST /api/v1/exchange/incidents``, idempotent by the EIDO ``$id``), report
on an incident we handed them (``POST …/{id}/updates``, applied once per
``seq``), and retrieve an incident we handed them (``GET …/{id}``). Nothing
but that incident is ever sent, and every exchange is audited (sql/018).
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
import orjson
import structlog
from aiohttp import web
from pydantic import Field

from dispatch import actions, keys
from dispatch.core import eido
from dispatch.errors import DomainError, Invalid, NotFound
from dispatch.settings import PartnerSettings, Settings
from dispatch.store import exchange as ex_sql
from dispatch.web.common import (
    BadJson,
    actor_of,
    connection,
    json_response,
    parse_body,
    path_id,
    transact,
)
from dispatch.web.schemas import Strict
from dispatch.web.types import FreeText, Id, Line

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)
PARTNER_PREFIX = "partner:"


class EidoRejected(DomainError):
    status = 422
    code = "eido_invalid"


class HandoverIn(Strict):
    partner: Line = Field(min_length=1, max_length=48, description="[partners.<name>]")


class NoteIn(Strict):
    note: FreeText = Field(default="", max_length=2000)


class UnitOut(Strict):
    callsign: Line | None = Field(default=None, max_length=40)
    unit_type: Line | None = Field(default=None, max_length=40)
    eta_s: int | None = Field(default=None, ge=0, le=86400 * 7)


class UpdateIn(Strict):
    seq: Id
    eido_id: Line = Field(min_length=1, max_length=300)
    state: Literal["accepted", "declined", "dispatched", "closed"]
    at: Line = Field(max_length=40)
    note: FreeText = Field(default="", max_length=2000)
    by: Line | None = Field(default=None, max_length=120)
    units: list[UnitOut] = Field(default_factory=list, max_length=50)
    disposition: Line | None = Field(default=None, max_length=48)


def partner_of(request: web.Request) -> PartnerSettings:
    """The partner centre the request's token belongs to (web/auth.py)."""
    name = request[keys.PRINCIPAL].name.removeprefix(PARTNER_PREFIX)
    return request.app[keys.SETTINGS].exchange.partners[name]


def partners_out(settings: Settings) -> list[dict[str, Any]]:
    """The partners as operators see them: never their tokens."""
    return [{"name": p.name, "label": p.label, "area_codes": list(p.area_codes),
             "phone": p.phone} for p in settings.exchange.partners.values()]


@routes.get("/api/v1/partners")
async def list_partners(request: web.Request) -> web.Response:
    """Partner centres an incident may be handed over to."""
    return json_response({"partners": partners_out(request.app[keys.SETTINGS])})


@routes.post("/api/v1/incidents/{id}/handover")
async def hand_over(request: web.Request) -> web.Response:
    """Send the incident to a partner centre ("Serahkan ke 112 Kota Blitar")."""
    incident_id = path_id(request)
    body = await parse_body(request, HandoverIn)
    settings = request.app[keys.SETTINGS]
    partner = settings.exchange.partners.get(body.partner)
    if partner is None:
        raise Invalid(f"no partner centre {body.partner!r}; known: "
                      f"{sorted(settings.exchange.partners)}", field="partner")
    ref = eido.eido_id(settings.exchange.centre, incident_id)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.request_handover(conn, incident_id, partner=partner.name,
                                              area_codes=partner.area_codes, eido_ref=ref,
                                              actor=actor_of(request))

    handover = await transact(request, work)
    log.info("handover.requested", incident_id=incident_id, partner=partner.name)
    return json_response(handover, status=202)


@routes.get("/api/v1/handovers")
async def list_handovers(request: web.Request) -> web.Response:
    """Handovers newest first; ``open=true``: only those waiting to be accepted."""
    open_only = request.query.get("open") in {"1", "true"}
    raw = request.query.get("incident_id")
    incident_id = int(raw) if raw and raw.isdigit() and len(raw) < 19 else None
    if raw and incident_id is None:
        raise Invalid("incident_id must be a whole number", field="incident_id")
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(ex_sql.LIST_HANDOVERS_SQL, open_only,
                                                   incident_id, 200)]
    partners = request.app[keys.SETTINGS].exchange.partners
    for r in rows:
        p = partners.get(r["partner"])
        r["partner_label"] = p.label if p else r["partner"]
        r["partner_phone"] = p.phone if p else ""
    return json_response({"handovers": rows})


@routes.post("/api/v1/handovers/{id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    """Stop offering an unanswered handover (fall back to the phone)."""
    handover_id = path_id(request)
    body = await parse_body(request, NoteIn)
    return json_response(await transact(request, lambda c: actions.withdraw_handover(
        c, handover_id, note=body.note, actor=actor_of(request))))


async def _answer(request: web.Request, accept: bool) -> web.Response:
    handover_id = path_id(request)
    body = await parse_body(request, NoteIn)
    return json_response(await transact(request, lambda c: actions.answer_handover(
        c, handover_id, accept=accept, note=body.note, actor=actor_of(request))))


@routes.post("/api/v1/handovers/{id}/accept")
async def accept(request: web.Request) -> web.Response:
    """Take a partner's incident into our queue; the partner hears of it."""
    return await _answer(request, True)


@routes.post("/api/v1/handovers/{id}/decline")
async def decline(request: web.Request) -> web.Response:
    """Refuse a partner's incident; it goes back to the partner's queue."""
    return await _answer(request, False)


# --- the partner-facing exchange service ------------------------------------

@routes.post("/api/v1/exchange/incidents")
async def receive(request: web.Request) -> web.Response:
    """A partner offers an incident as an EIDO document; created once per ``$id``."""
    partner = partner_of(request)
    settings = request.app[keys.SETTINGS]
    raw = await request.read()
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"the body is not valid JSON: {exc}") from None
    try:
        got = eido.parse(doc, settings.runcards)
    except eido.EidoError as exc:
        raise EidoRejected(str(exc), field=exc.field) from None
    offer = actions.ReceivedIncident(
        eido_id=got.eido_id, remote_incident_id=got.remote_incident_id,
        category=got.category, priority=got.priority,
        required_types=list(settings.runcards.required_types(got.category, got.priority)),
        lat=got.lat, lon=got.lon, address=got.address, description=got.description,
        caller_phone=got.caller_phone, received_at=got.received_at)

    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], bool]:
        return await actions.receive_handover(conn, offer, partner=partner.name,
                                              actor=actor_of(request))

    handover, created = await transact(request, work)
    log.info("handover.received", partner=partner.name, created=created,
             incident_id=handover["incident_id"])
    return json_response({"incident_id": handover["incident_id"], "state": handover["state"],
                          "handover_id": handover["id"], "created": created},
                         status=201 if created else 200)


@routes.post("/api/v1/exchange/incidents/{id}/updates")
async def partner_update(request: web.Request) -> web.Response:
    """A partner reports accepted, declined, units dispatched or closed."""
    partner = partner_of(request)
    incident_id = path_id(request)
    body = await parse_body(request, UpdateIn)
    centre = request.app[keys.SETTINGS].exchange.centre
    if body.eido_id != eido.eido_id(centre, incident_id):
        raise Invalid("eido_id does not name this incident", field="eido_id")
    data = body.model_dump()

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.apply_partner_update(
            conn, partner=partner.name, incident_id=incident_id, seq=body.seq,
            state=body.state, body=data, actor=actor_of(request))

    return json_response(await transact(request, work))


@routes.get("/api/v1/exchange/incidents/{id}")
async def retrieve(request: web.Request) -> web.Response:
    """The EIDO document of an incident handed over to this partner, and no other."""
    partner = partner_of(request)
    incident_id = path_id(request)
    settings = request.app[keys.SETTINGS]
    async with connection(request) as conn:
        ours = await conn.fetchval("SELECT 1 FROM handovers WHERE direction = 'out' "
                                   "AND partner = $1 AND incident_id = $2",
                                   partner.name, incident_id)
        if ours is None:
            raise NotFound(f"no incident {incident_id} was handed over to {partner.name}")
        source = await ex_sql.load_source(conn, incident_id)
    assert source is not None
    return json_response(eido.build(source, settings.runcards, centre=settings.exchange.centre,
                                    centre_label=settings.exchange.centre_label))

