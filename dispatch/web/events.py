"""GET /api/v1/events: the live status stream to consoles, as Server-Sent Events.

Each SSE ``id`` is the Redis stream entry id. A console that reconnects with
``Last-Event-ID`` (header, or ``last_event_id`` query parameter for the first
connection) receives exactly the entries it missed, then live ones. When the
entries after its id are no longer in the stream (trimmed, or Redis restarted
empty) it receives a ``resync`` event: reload the board, then carry on.

A stream follows its holder's access: every ``sse.recheck_s`` it checks the
session or token again and, once that no longer grants the same access (user
disabled, token revoked, session expired or ended), sends ``event: logout`` and
ends. A responder's stream carries only the events of its own unit and of the
incidents that unit is assigned to: the set is read when the stream opens, kept
up to date from the unit's own ``unit.assigned`` and ``assignment.ended``
events, and read again at every re-check. One user or token may hold at most
``sse.max_streams_per_principal`` streams on one web instance (429 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp_sse import EventSourceResponse
from redis.exceptions import RedisError

from dispatch import keys
from dispatch.errors import DomainError
from dispatch.privacy import PERSONAL_DATA_ROLES
from dispatch.store.accounts import Principal
from dispatch.store.db import UNAVAILABLE_ERRORS
from dispatch.stream import RESYNC, Frame, StreamHub, Subscriber, parse_id
from dispatch.web.auth import principal_of
from dispatch.web.common import connection, json_response
from dispatch.web.middleware import error_body

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)

# Not an entry: the console's own timer, due every heartbeat (see ConsoleStream.live).
QUIET = Frame("", b"{}", kind="quiet")
# aiohttp's StreamWriter.write drains once this many bytes went out since the last drain.
DRAIN_AFTER_BYTES = 0x10000


class FrameResponse(EventSourceResponse):
    """An SSE response that sends ready-made frame bytes in one write."""

    async def send_frame(self, wire: bytes) -> None:
        """Like ``send``, without building the message again for each console.

        aiohttp's writer hands the bytes to the socket at once and waits (drains)
        only when 64 KiB have gone out since its last drain; only such a write can
        block on a console that stopped reading, so only it carries the send
        timeout (a timer per write would cost every console every event).
        """
        writer = self._payload_writer
        try:
            if writer is not None and writer.buffer_size + len(wire) <= DRAIN_AFTER_BYTES:
                await self.write(wire)
                return
            async with asyncio.timeout(self._send_timeout):
                await self.write(wire)
        except ConnectionResetError:
            self.stop_streaming()
            raise
        except TimeoutError:
            self.stop_streaming()
            self._abort_transport()
            raise


UNIT_INCIDENTS_SQL = """
SELECT incident_id FROM assignments WHERE unit_id = $1 AND ended_at IS NULL
"""

# The incidents the unit was on as of event ``$2`` (the last one a console was given):
# the last of the unit's unit.assigned / assignment.ended events for each incident
# up to that event decides. The assignments table narrows the search to those near
# that moment, so a long history is not read.
UNIT_INCIDENTS_AT_SQL = """
WITH at AS (SELECT occurred_at FROM events WHERE id = $2)
SELECT a.incident_id FROM assignments a, at
WHERE a.unit_id = $1
  AND a.dispatched_at <= at.occurred_at + interval '1 minute'
  AND (a.ended_at IS NULL OR a.ended_at >= at.occurred_at - interval '1 minute')
  AND (SELECT e.kind FROM events e
       WHERE e.incident_id = a.incident_id AND e.unit_id = $1 AND e.id <= $2
         AND e.kind IN ('unit.assigned', 'assignment.ended')
       ORDER BY e.id DESC LIMIT 1) = 'unit.assigned'
GROUP BY a.incident_id
"""


class OpenStreams:
    """Open event streams per principal on this web instance."""

    def __init__(self) -> None:
        self._count: dict[str, int] = {}

    def enter(self, owner: str, limit: int) -> bool:
        """Count one more stream for ``owner``; False (and nothing counted) at the limit."""
        held = self._count.get(owner, 0)
        if 0 < limit <= held:
            return False
        self._count[owner] = held + 1
        return True

    def leave(self, owner: str) -> None:
        held = self._count.get(owner, 0) - 1
        if held > 0:
            self._count[owner] = held
        else:
            self._count.pop(owner, None)

    def held(self, owner: str) -> int:
        return self._count.get(owner, 0)


OPEN_STREAMS = web.AppKey("sse_open_streams", OpenStreams)


@dataclass
class Scope:
    """Which events one console receives: all, or one unit's and its incidents'."""

    unit_id: int | None
    incidents: set[int] = field(default_factory=set)

    def admits(self, event: dict[str, Any]) -> bool:
        """Whether ``event`` goes to this console; follows the unit's assignments."""
        if self.unit_id is None:
            return True
        if event.get("kind") in CALL_TAKER_ONLY:
            return False
        if event.get("unit_id") == self.unit_id:
            incident_id = event.get("incident_id")
            if isinstance(incident_id, int):
                if event.get("kind") == "unit.assigned":
                    self.incidents.add(incident_id)
                elif event.get("kind") == "assignment.ended":
                    self.incidents.discard(incident_id)
            return True
        return event.get("incident_id") in self.incidents


# Where the caller's own phone says they are: for the centre's consoles, never a unit.
CALL_TAKER_ONLY = frozenset({"call.location_fix", "call.location_link"})


class AccessEnded(Exception):
    """The stream's session or token no longer grants the access it opened with."""


class ConsoleStream:
    """One open stream: what it may see, and whether its holder still may."""

    def __init__(self, request: web.Request, resp: FrameResponse,
                 principal: Principal) -> None:
        self._request = request
        self._resp = resp
        self._principal = principal
        self._masked = principal.role not in PERSONAL_DATA_ROLES
        bound = principal.unit_id if principal.role == "responder" else None
        self.scope = Scope(bound)
        # The seq of the last entry this console was given or passed over: the
        # scope is rebuilt as of that event, not as of the database's present,
        # which the stream may not have reached yet.
        self.seq: int | None = None

    async def load_scope(self, at_seq: int | None = None) -> None:
        """The incidents the responder's unit is on as of event ``at_seq`` (now if None);
        nothing to do for other roles."""
        if self.scope.unit_id is None:
            return
        async with connection(self._request) as conn:
            if at_seq is None:
                rows = await conn.fetch(UNIT_INCIDENTS_SQL, self.scope.unit_id)
            else:
                rows = await conn.fetch(UNIT_INCIDENTS_AT_SQL, self.scope.unit_id, at_seq)
        self.scope.incidents = {r["incident_id"] for r in rows}
        if at_seq is not None:
            self.seq = at_seq

    async def recheck(self) -> None:
        """Raise AccessEnded unless the session or token still grants the same access.

        While PostgreSQL does not answer, the stream goes on: an outage is not a
        logout, and the next re-check decides.
        """
        try:
            now = await principal_of(self._request, fresh=True)
            if now is None or (now.kind, now.id, now.role, now.unit_id) != (
                    self._principal.kind, self._principal.id, self._principal.role,
                    self._principal.unit_id):
                raise AccessEnded()
            await self.load_scope(self.seq)
        except UNAVAILABLE_ERRORS as exc:
            log.warning("sse.recheck_unavailable", error=f"{type(exc).__name__}: {exc}")

    def wire_of(self, frame: Frame) -> bytes | None:
        """The bytes this console is sent for ``frame``; None when not in its scope."""
        if frame.seq is not None:
            self.seq = frame.seq
        if not self.scope.admits(frame.event):
            return None
        # Masked for a role that may not see caller numbers (dispatch/privacy.py).
        return frame.wire(self._masked)

    async def send(self, frame: Frame) -> None:
        wire = self.wire_of(frame)
        if wire is not None:
            await self._resp.send_frame(wire)

    async def resume(self, hub: StreamHub, last_id: str) -> str:
        """Send the backlog after ``last_id`` (or a resync); return the last id sent."""
        resp = self._resp
        try:
            if not await hub.resume_is_possible(last_id):
                await resp.send(orjson.dumps({"reason": "gap",
                                              "last_event_id": last_id}).decode(),
                                event="resync")
                return last_id
            async for sid, payload in hub.backlog(last_id):
                await self.send(Frame(sid, payload))
                last_id = sid
        except RedisError as exc:
            log.warning("sse.backlog_unavailable", error=str(exc))
            await resp.send(orjson.dumps({"reason": "stream_unavailable"}).decode(),
                            event="resync")
        return last_id

    def _wires(self, batch: list[Frame | None], upto: tuple[int, int] | None
               ) -> tuple[list[bytes], bool, tuple[int, int] | None]:
        """What to send for a batch of queued entries; whether the stream ends after it
        (the hub cut this console off); the live id still to skip up to."""
        wires: list[bytes] = []
        for entry in batch:
            if entry is QUIET:
                continue
            if entry is None:  # this console fell too far behind: it resumes by
                return wires, True, upto  # Last-Event-ID after what it was given
            if entry is RESYNC:  # Redis came back without entries it may not have sent
                wires.append(entry.wire(False))
                upto = None
                continue
            if upto is not None and parse_id(entry.sid) <= upto:
                continue  # the backlog sent it already
            upto = None
            wire = self.wire_of(entry)
            if wire is not None:
                wires.append(wire)
        return wires, False, upto

    async def live(self, sub: Subscriber, sent_upto: str | None, heartbeat_s: float,
                   recheck_s: float) -> None:
        """Live entries until the console goes, falls behind, or loses its access.

        Each wake-up takes every entry already queued and sends them in one write.
        Quiet periods are noticed by one timer per heartbeat (it queues QUIET), not
        by a timeout around every wait: at hundreds of events a second a timer per
        entry per console was a large part of the fan-out's cost.
        """
        loop = asyncio.get_running_loop()
        queue = sub.queue
        upto = parse_id(sent_upto) if sent_upto else None
        next_check = loop.time() + recheck_s
        tick_s = max(0.05, min(heartbeat_s, recheck_s))

        timer: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal timer
            if queue.empty():  # a busy console wakes anyway; a tick never crowds it out
                queue.put_nowait(QUIET)
            timer = loop.call_later(tick_s, tick)

        tick()
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if loop.time() >= next_check:
                    await self.recheck()
                    next_check = loop.time() + recheck_s
                wires, ended, upto = self._wires(batch, upto)
                if wires:
                    await self._resp.send_frame(wires[0] if len(wires) == 1
                                                else b"".join(wires))
                if ended:
                    return
                if not wires and not self._resp.is_connected():  # gone while all was quiet
                    return
        finally:
            if timer is not None:
                timer.cancel()


def _too_many(limit: int, retry_after_s: float) -> web.Response:
    return json_response(
        error_body("too_many_streams",
                   f"this login already holds {limit} open event streams, the most "
                   "allowed; close one (another tab or device) and try again",
                   limit=limit, retry_after_s=retry_after_s),
        status=429, headers={"Retry-After": str(math.ceil(retry_after_s))})


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
    cfg = request.app[keys.SETTINGS].sse
    principal = request[keys.PRINCIPAL]
    owner = f"{principal.kind}:{principal.id}"
    streams = request.app[OPEN_STREAMS]
    if not streams.enter(owner, cfg.max_streams_per_principal):
        log.warning("sse.too_many_streams", principal=principal.name,
                    limit=cfg.max_streams_per_principal)
        return _too_many(cfg.max_streams_per_principal, cfg.recheck_s)
    sub = hub.subscribe()  # before the backlog, so nothing falls between the two
    resp = FrameResponse(ping_interval=cfg.heartbeat_s)
    console = ConsoleStream(request, resp, principal)
    try:
        # A resuming responder's scope is the one it had at its last entry.
        await console.load_scope(await hub.seq_of(last_id) if last_id else None)
        await resp.prepare(request)
        await resp.send(orjson.dumps({"stream_connected": hub.connected}).decode(),
                        event="hello")
        if last_id:
            last_id = await console.resume(hub, last_id)
        await console.live(sub, last_id, cfg.heartbeat_s, cfg.recheck_s)
    except AccessEnded:
        log.info("sse.logout", principal=principal.name, kind=principal.kind)
        with contextlib.suppress(ConnectionResetError):
            await resp.send(orjson.dumps({"reason": "access_ended"}).decode(), event="logout")
    except ConnectionResetError:
        pass  # the console closed the connection
    finally:
        hub.unsubscribe(sub)
        streams.leave(owner)
        if resp.prepared:
            resp.stop_streaming()
    return resp
