"""Ghost-call callbacks for call-takers, and the prank numbers list for supervisors.

A silent or dropped call ('ghost') opens a callback task (dispatch/actions.py
log_call) on a list every call-taker sees: the number, when, its previous calls.
Taking one records who; finishing it records the outcome, and an emergency
reached that way is logged as a call as usual (its id is the outcome's call_id).

Numbers past the repeat threshold ([calls] repeat_caller_calls within
repeat_caller_days) appear on the "nomor iseng" list with their history. A
supervisor may send a warning SMS (dispatch/sms.py; without a gateway the text
is offered to copy) or record a block request that always expires, for the
IP-PBX or the operator (the telephony webhook, and the admin's export). The
system never blocks anything; a listed number's emergency is answered and
flagged (``repeat_caller`` of the call). Every step is audited (sql/019).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import aiohttp
import structlog
from aiohttp import web
from pydantic import Field

from dispatch import actions, keys
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.settings import Settings
from dispatch.sms import SmsError, SmsGateway
from dispatch.store import callbacks as cb_sql
from dispatch.store import calls as call_sql
from dispatch.web.common import actor_of, connection, json_response, parse_body, path_id, transact
from dispatch.web.schemas import Strict
from dispatch.web.types import FreeText, Id

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)


class OutcomeIn(Strict):
    outcome: Literal["emergency", "no_answer", "prank", "resolved"]
    call_id: Id | None = Field(default=None, description="The call logged for an emergency")
    note: FreeText = Field(default="", max_length=500)


class BlockIn(Strict):
    hours: float = Field(gt=0, description="Until the request expires (at most "
                                           "[pranks] block_max_hours)")
    reason: FreeText = Field(min_length=1, max_length=500)


def _days(request: web.Request, default: int) -> int:
    raw = request.query.get("days", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 366:
        raise Invalid("days must be a whole number 1…366", field="days")
    return int(raw)


@routes.get("/api/v1/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    """Callback tasks, open ones first (oldest due first); ``open=true``: only those."""
    open_only = request.query.get("open") in {"1", "true"}
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(cb_sql.LIST_TASKS_SQL, open_only, 200)]
    return json_response({"callbacks": rows})


@routes.post("/api/v1/callbacks/{id}/take")
async def take(request: web.Request) -> web.Response:
    """Take a callback task (the caller's number is yours to call back)."""
    task_id = path_id(request)
    task = await transact(request, lambda c: actions.take_callback(
        c, task_id, actor=actor_of(request)))
    return json_response(task)


@routes.post("/api/v1/callbacks/{id}/outcome")
async def outcome(request: web.Request) -> web.Response:
    """How the callback went: emergency (with its logged call), no answer, prank."""
    task_id = path_id(request)
    body = await parse_body(request, OutcomeIn)
    task = await transact(request, lambda c: actions.finish_callback(
        c, task_id, outcome=body.outcome, call_id=body.call_id, note=body.note,
        actor=actor_of(request)))
    return json_response(task)


@routes.get("/api/v1/callbacks/stats")
async def callback_stats(request: web.Request) -> web.Response:
    """Silent calls called back: how many, how soon, with what outcome (``days``, 7)."""
    days = _days(request, 7)
    since = datetime.now(UTC) - timedelta(days=days)
    async with connection(request) as conn:
        row = dict(await conn.fetchrow(cb_sql.STATS_SQL, since))
        ghosts = int(await conn.fetchval(cb_sql.GHOST_CALLS_SQL, since))
    tasks = row["tasks"]
    return json_response({
        "days": days, "ghost_calls": ghosts, **row,
        "callback_rate": round(row["done"] / tasks, 4) if tasks else None,
        "in_time_share": round(row["in_time"] / tasks, 4) if tasks else None,
        "target_s": request.app[keys.SETTINGS].calls.callback_within_s})


@routes.get("/api/v1/pranks")
async def list_pranks(request: web.Request) -> web.Response:
    """The "nomor iseng" list: numbers past the repeat threshold, with their history."""
    cfg = request.app[keys.SETTINGS]
    now = datetime.now(UTC)
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(
            cb_sql.PRANK_LIST_SQL, now - timedelta(days=cfg.calls.repeat_caller_days),
            cfg.calls.repeat_caller_calls, now - timedelta(days=cfg.pranks.list_days))]
    for r in rows:
        r.pop("phone_key")
        r["warning_text"] = warning_text(cfg, r["recent"])
    return json_response({"numbers": rows, "threshold": cfg.calls.repeat_caller_calls,
                          "days": cfg.calls.repeat_caller_days,
                          "sms_gateway": bool(cfg.sms.gateway_url)})


def warning_text(settings: Settings, count: int) -> str:
    return settings.pranks.warning_template.format(count=count)[:480]


async def _listed_number(request: web.Request) -> tuple[int, str, str, int]:
    """(call id, number, key, recent prank calls) of a listed number, by one of its calls."""
    call_id = path_id(request)
    cfg = request.app[keys.SETTINGS]
    async with connection(request) as conn:
        call = await conn.fetchrow("SELECT caller_phone, phone_key FROM calls WHERE id = $1",
                                   call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found", field="id")
        # The repeat-caller rule's own count (dispatch/actions.py repeat_caller).
        count = int(await conn.fetchval(
            call_sql.PRANK_COUNT_SQL, call["phone_key"],
            datetime.now(UTC) - timedelta(days=cfg.calls.repeat_caller_days)))
    if count < cfg.calls.repeat_caller_calls:
        raise Conflict(f"the number of call {call_id} is not on the prank list "
                       f"({count} of {cfg.calls.repeat_caller_calls} calls)", code="not_listed")
    return call_id, call["caller_phone"], call["phone_key"], count


@routes.post("/api/v1/pranks/{id}/warning")
async def send_warning(request: web.Request) -> web.Response:
    """Send the Bahasa Indonesia warning SMS (or give its text to copy, without a gateway)."""
    call_id, phone, key, count = await _listed_number(request)
    settings = request.app[keys.SETTINGS]
    text = warning_text(settings, count)
    gateway = SmsGateway(settings.sms)
    delivery, error = "copy", None
    if gateway.configured:
        try:
            await gateway.send(phone, text)
            delivery = "sent"
        except SmsError as exc:
            delivery, error = "failed", str(exc)
    row = await transact(request, lambda c: actions.record_prank_action(
        c, phone=phone, key=key, kind="warning_sms", message=text, delivery=delivery,
        expires_in_s=None, reason="", call_id=call_id, actor=actor_of(request)))
    log.info("prank.warning", call_id=call_id, delivery=delivery)
    return json_response({**row, "text": text, "error": error}, status=201)


@routes.post("/api/v1/pranks/{id}/block")
async def request_block(request: web.Request) -> web.Response:
    """Record a time-limited block request for the IP-PBX or the operator."""
    body = await parse_body(request, BlockIn)
    settings = request.app[keys.SETTINGS]
    if body.hours > settings.pranks.block_max_hours:
        raise Invalid(f"hours must be at most {settings.pranks.block_max_hours:g}",
                      field="hours")
    call_id, phone, key, _ = await _listed_number(request)
    until = datetime.now(UTC) + timedelta(hours=body.hours)
    delivery = "listed"
    if settings.pranks.telephony_webhook_url:
        delivery = await _notify_telephony(settings, phone, until, body.reason)
    row = await transact(request, lambda c: actions.record_prank_action(
        c, phone=phone, key=key, kind="block_request", message="", delivery=delivery,
        expires_in_s=body.hours * 3600, reason=body.reason, call_id=call_id,
        actor=actor_of(request)))
    log.info("prank.block_requested", call_id=call_id, hours=body.hours, delivery=delivery)
    return json_response(row, status=201)


async def _notify_telephony(settings: Settings, phone: str, until: datetime,
                            reason: str) -> str:
    cfg = settings.pranks
    headers = {"X-Siap112-Secret": cfg.telephony_secret} if cfg.telephony_secret else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                http.post(cfg.telephony_webhook_url, headers=headers, json={
                    "action": "block", "number": phone, "until": until.isoformat(),
                    "reason": reason}) as resp:
            return "notified" if 200 <= resp.status < 300 else "failed"
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("prank.telephony_failed", error=str(exc))
        return "failed"


@routes.get("/api/v1/pranks/blocks")
async def export_blocks(request: web.Request) -> web.Response:
    """Block requests in force, with the real numbers: for the IP-PBX or the operator."""
    async with connection(request) as conn:
        rows = [dict(r) for r in await conn.fetch(cb_sql.ACTIVE_BLOCKS_SQL)]
    if request.query.get("format") == "csv":
        lines = ["number,expires_at,reason"] + [
            f"{r['number']},{r['expires_at'].isoformat()},\"{r['reason'].replace(chr(34), '')}\""
            for r in rows]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/csv")
    return json_response({"blocks": rows})



