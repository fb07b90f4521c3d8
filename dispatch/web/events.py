"""GET /api/v1/events: the live status stream to consoles, as Server-Sent Events.

Each SSE ``id`` is the Redis stream entry id. A console that reconnects with
``Last-Event-ID`` (header, or ``last_event_id`` query parameter for the first
connection) receives exactly the entries it missed, then live ones. When the
entries after its id are no longer in the stream (trimmed, or Redis restarted
empty) it receives a ``resync`` event: reload the board, then carry on.
"""

from __future__ import annotations

import asyncio

import orjson
import structlog
from aiohttp import web
from aiohttp_sse import EventSourceResponse
from redis.exceptions import RedisError

from dispatch import keys
from dispatch.errors import DomainError
from dispatch.privacy import PERSONAL_DATA_ROLES, mask
from dispatch.stream import RESYNC, StreamHub, Subscriber, parse_id

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)


def _kind(payload: bytes) -> str:
    kind = orjson.loads(payload).get("kind", "message")
    return str(kind)


async def _send(resp: EventSourceResponse, entry: tuple[str, bytes], masked: bool) -> None:
    sid, payload = entry
    if masked:  # a role that may not see caller numbers (dispatch/privacy.py)
        payload = orjson.dumps(mask(orjson.loads(payload)))
    await resp.send(payload.decode(), id=sid, event=_kind(payload))


async def _resume(resp: EventSourceResponse, hub: StreamHub, last_id: str,
                  masked: bool) -> str:
    """Send the backlog after ``last_id`` (or a resync); return the last id sent."""
    try:
        if not await hub.resume_is_possible(last_id):
            await resp.send(orjson.dumps({"reason": "gap", "last_event_id": last_id}).decode(),
                            event="resync")
            return last_id
        async for entry in hub.backlog(last_id):
            await _send(resp, entry, masked)
            last_id = entry[0]
    except RedisError as exc:
        log.warning("sse.backlog_unavailable", error=str(exc))
        await resp.send(orjson.dumps({"reason": "stream_unavailable"}).decode(),
                        event="resync")
    return last_id


async def _live(resp: EventSourceResponse, sub: Subscriber, sent_upto: str | None,
                check_every_s: float, masked: bool) -> None:
    upto = parse_id(sent_upto) if sent_upto else None
    while True:
        try:
            async with asyncio.timeout(check_every_s):
                entry = await sub.queue.get()
        except TimeoutError:
            if not resp.is_connected():  # the console went away while all was quiet
                return
            continue
        if entry is None:  # this console fell too far behind; it resumes by Last-Event-ID
            return
        if entry is RESYNC:  # Redis came back without entries it may not have sent
            await resp.send(entry[1].decode(), event="resync")
            upto = None
            continue
        if upto is not None and parse_id(entry[0]) <= upto:
            continue
        upto = None
        await _send(resp, entry, masked)


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    last_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if last_id:
        try:
            parse_id(last_id)
        except ValueError:
            raise DomainError("Last-Event-ID must be a stream id like 1700000000000-0",
                              code="invalid_last_event_id", field="Last-Event-ID") from None
    hub = request.app[keys.HUB]
    settings = request.app[keys.SETTINGS]
    masked = request[keys.PRINCIPAL].role not in PERSONAL_DATA_ROLES
    sub = hub.subscribe()  # before the backlog, so nothing falls between the two
    resp = EventSourceResponse(ping_interval=settings.sse.heartbeat_s)
    try:
        await resp.prepare(request)
        await resp.send(orjson.dumps({"stream_connected": hub.connected}).decode(),
                        event="hello")
        if last_id:
            last_id = await _resume(resp, hub, last_id, masked)
        await _live(resp, sub, last_id, settings.sse.heartbeat_s, masked)
    except ConnectionResetError:
        pass  # the console closed the connection
    finally:
        hub.unsubscribe(sub)
        if resp.prepared:
            resp.stop_streaming()
    return resp
