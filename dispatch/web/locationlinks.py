"""Caller location links: the caller's own phone shares its position with the call-taker.

From a logged call the call-taker asks for a link (``POST /api/v1/calls/{id}/location-link``):
a one-time token bound to that call, valid for ``calls.location_link_ttl_s``. The link is
sent by SMS through the configured gateway (an HTTP webhook taking ``{to, text}``) when
asked and configured, and is always returned to copy, with a WhatsApp link prefilled in
Bahasa Indonesia. The gateway is called after the link is committed and within
``sms.timeout_s``: a gateway that is down only makes the answer say so, the link works.

The caller opens ``/l/<token>`` with no login; the page posts each position of
``watchPosition`` to ``POST /api/v1/l/{token}/fixes``. Both are public and bound to the
token: an unknown token gets 404, an expired, replaced or used-up one 410 with a clear
page in Bahasa Indonesia. The caller is shown no personal data. Each position is a
``call.location_fix`` event that the call's consoles receive (never responders), and
``POST /api/v1/location-fixes/{id}/use`` moves the call's incident to it.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
import structlog
from aiohttp import web
from pydantic import Field

from dispatch import actions, keys
from dispatch.errors import NotFound
from dispatch.settings import Settings
from dispatch.sms import SmsError, SmsGateway
from dispatch.store import locationlinks as link_sql
from dispatch.web import ratelimit
from dispatch.web.common import (
    actor_of,
    connection,
    incident_out,
    json_response,
    parse_body,
    path_id,
    transact,
)
from dispatch.web.pages import STATIC_DIR
from dispatch.web.schemas import Location, Strict
from dispatch.web.types import EventTime

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)

TOKEN_MAX = 100
# The caller's page: the browser may ask for the position; nothing is cached or framed.
CALLER_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Permissions-Policy": "geolocation=(self)",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the token never leaves in a Referer
    "Cache-Control": "no-store",
}
REFUSALS = {
    "unknown": ("Tautan tidak dikenal",
                "Tautan lokasi ini tidak ada. Periksa kembali tautan dari SMS atau pesan."),
    "expired": ("Tautan sudah kedaluwarsa",
                "Tautan lokasi ini sudah tidak berlaku."),
    "revoked": ("Tautan sudah diganti",
                "Petugas sudah mengirim tautan baru. Gunakan tautan yang terbaru."),
    "used_up": ("Tautan sudah terpakai",
                "Tautan lokasi ini sudah selesai dipakai."),
}
REFUSAL_FOOTER = "Jika Anda masih dalam keadaan darurat, telepon 112."


class LinkIn(Strict):
    send_sms: bool = Field(default=True, description="Send the link to the caller by SMS "
                           "(when a gateway is configured); it is returned to copy either way")


class FixIn(Location):
    accuracy_m: float = Field(ge=0, le=100_000, description="The fix's radius (metres)")
    at: EventTime | None = Field(default=None, description="When the phone took the fix")


class LinkLimits:
    """Positions per link and per client address (per web instance)."""

    def __init__(self, per_minute: int) -> None:
        self.per_link = ratelimit.Limiter(per_minute)
        self.per_address = ratelimit.Limiter(per_minute * 4)


LINK_LIMITS = web.AppKey("location_link_limits", LinkLimits)


def link_text(url: str, ttl_s: float) -> str:
    """The message the caller gets, in Bahasa Indonesia; it carries no personal data."""
    minutes = max(1, round(ttl_s / 60))
    return (f"112 Kabupaten Blitar: buka tautan ini untuk mengirim lokasi Anda ke petugas: "
            f"{url} (berlaku {minutes} menit)")


def whatsapp_number(phone: str) -> str | None:
    """The number as wa.me takes it (country code, digits only); None if it cannot be."""
    digits = phone.lstrip("+")
    if phone.startswith("0"):
        digits = "62" + phone[1:]
    return digits if digits.isdigit() and len(digits) >= 8 else None


def _base_url(request: web.Request, settings: Settings) -> str:
    return settings.calls.location_link_base_url.rstrip("/") or str(request.url.origin())


async def send_sms(settings: Settings, to: str, text: str) -> str | None:
    """Send through the SMS gateway; None when it took the message, else why not."""
    try:
        await SmsGateway(settings.sms).send(to, text)
    except SmsError as exc:
        return str(exc)
    return None


def _link_out(link: dict[str, Any], url: str, text: str, phone: str) -> dict[str, Any]:
    number = whatsapp_number(phone)
    return {
        "link_id": link["id"], "call_id": link["call_id"], "incident_id": link["incident_id"],
        "url": url, "text": text, "expires_at": link["expires_at"],
        "whatsapp_url": f"https://wa.me/{number}?text={quote(text)}" if number else None,
        "sms": {"status": link["sms_status"], "error": link["sms_error"]},
    }


@routes.post("/api/v1/calls/{id}/location-link")
async def make_link(request: web.Request) -> web.Response:
    """A one-time location link for the call's caller, sent by SMS and/or to copy."""
    call_id = path_id(request)
    body = await parse_body(request, LinkIn)
    settings = request.app[keys.SETTINGS]
    token = link_sql.new_token()
    send = body.send_sms and bool(settings.sms.gateway_url)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.create_location_link(
            conn, call_id, token_hash=link_sql.token_hash(token),
            ttl_s=settings.calls.location_link_ttl_s,
            max_fixes=settings.calls.location_link_max_fixes, send_sms=send, actor=actor)

    link = await transact(request, work)
    phone = link.pop("caller_phone")
    url = f"{_base_url(request, settings)}/l/{token}"
    text = link_text(url, settings.calls.location_link_ttl_s)
    if send:
        error = await send_sms(settings, phone, text)

        async def record(conn: asyncpg.Connection) -> dict[str, Any]:
            return await actions.record_link_sms(conn, link["id"], sent=error is None,
                                                 error=error, actor=actor)

        link = await transact(request, record)
        log.info("location_link.sms", link_id=link["id"], sent=error is None, error=error)
    log.info("location_link.created", link_id=link["id"], call_id=call_id,
             sms_status=link["sms_status"])
    return json_response(_link_out(link, url, text, phone), status=201)


@routes.get("/api/v1/calls/{id}/location-fixes")
async def call_fixes(request: web.Request) -> web.Response:
    """The positions the call's caller shared by link, newest first."""
    call_id = path_id(request)
    async with connection(request) as conn:
        rows = await conn.fetch(link_sql.FIXES_FOR_CALL_SQL, call_id, 100)
    return json_response({"items": [_fix_out(dict(r)) for r in rows]})


def _fix_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in {"lat", "lon"}}
    out["location"] = {"lat": row["lat"], "lon": row["lon"]}
    return out


@routes.post("/api/v1/location-fixes/{id}/use")
async def use_fix(request: web.Request) -> web.Response:
    """Move the call's incident to the position its caller shared (source caller_link)."""
    fix_id = path_id(request)
    actor = actor_of(request)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.use_location_fix(conn, fix_id, actor=actor)

    incident = await transact(request, work)
    return json_response(dict(incident_out(incident), location_source="caller_link"))


# --- the caller's side: public, bound to the token -------------------------------

def _token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not 20 <= len(token) <= TOKEN_MAX or not token.replace("-", "").replace("_", "") \
            .isalnum() or not token.isascii():
        raise NotFound("this location link does not exist", code="link_unknown",
                       state="unknown")
    return token


def refusal_page(state: str) -> web.Response:
    """A plain page in Bahasa Indonesia saying why the link no longer works."""
    title, text = REFUSALS.get(state, REFUSALS["unknown"])
    body = (
        '<!doctype html><html lang="id"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title>'
        '<link rel="stylesheet" href="/static/siap112.css"></head>'
        f'<body class="caller-page"><main class="caller" data-state="{html.escape(state)}">'
        f'<h1>{html.escape(title)}</h1><p class="caller-msg">{html.escape(text)}</p>'
        f'<p class="caller-112">{html.escape(REFUSAL_FOOTER)}</p></main></body></html>')
    return web.Response(text=body, content_type="text/html",
                        status=404 if state == "unknown" else 410,
                        headers=CALLER_PAGE_HEADERS)


async def _link_state(request: web.Request, token: str) -> str:
    async with connection(request) as conn:
        row = await conn.fetchrow(link_sql.LINK_BY_TOKEN_SQL, link_sql.token_hash(token))
    return actions.link_state(dict(row) if row else None)


@routes.get("/l/{token}")
async def caller_page(request: web.Request) -> web.StreamResponse:
    """The page the caller opens: one button that shares the phone's position."""
    try:
        token = _token(request)
    except NotFound:
        return refusal_page("unknown")
    state = await _link_state(request, token)
    if state != "open":
        return refusal_page(state)
    return web.FileResponse(STATIC_DIR / "caller.html", headers=CALLER_PAGE_HEADERS)


@routes.post("/api/v1/l/{token}/fixes")
async def post_fix(request: web.Request) -> web.Response:
    """One position from the caller's phone; 410 once the link no longer takes any."""
    token = _token(request)
    limits = request.app[LINK_LIMITS]
    digest = link_sql.token_hash(token)
    ratelimit.check(limits.per_link, f"link:{digest}")
    ratelimit.check(limits.per_address, f"addr:{request.remote}")
    body = await parse_body(request, FixIn)
    at = body.at or datetime.now(UTC)

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        return await actions.add_location_fix(conn, digest, lat=body.lat, lon=body.lon,
                                              accuracy_m=body.accuracy_m, positioned_at=at)

    try:
        fix = await transact(request, work)
    except actions.LinkRefused as exc:
        log.info("location_fix.refused", state=exc.details.get("state"))
        raise
    log.info("location_fix.received", fix_id=fix["id"], call_id=fix["call_id"],
             accuracy_m=fix["accuracy_m"])
    # The caller learns only that the position arrived.
    return json_response({"received": True}, status=201)
