"""The stream hub: one Redis reader per web process, fanned out to every console in memory.

Each entry is decoded once and its SSE message encoded once per audience (full, or
masked for the roles that may not see caller numbers: :class:`Frame`); a console's
cost per entry is then its scope check (responders) and one write.

A console that connects with ``Last-Event-ID`` first subscribes to the live
feed, then reads the backlog after its id with XRANGE, then drains the live
feed skipping what the backlog already sent: nothing between the two is lost.
A console more than ``sse.queue_size`` entries behind is cut off, but only after
every entry it was given: it resumes after the last by ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dispatch.constants import STREAM_FIELD
from dispatch.privacy import mask

log = structlog.get_logger(__name__)

StreamEntry = tuple[str, bytes]  # (stream id, JSON payload)
# How long one XREAD waits for new entries; the hub's heartbeat beats at least this often.
READ_BLOCK_MS = 5000


class Frame:
    """One stream entry, decoded once, with its SSE message encoded once per audience.

    Every console gets the same bytes as the others of its audience: the full frame
    (roles that may see caller numbers) or the masked one (everyone else, supervisors
    and responders alike; a responder's stream only chooses which frames it passes on,
    by the decoded ``event``). Sending is then one write per console.
    """

    __slots__ = ("_full", "_masked", "event", "kind", "payload", "sid")

    def __init__(self, sid: str, payload: bytes, kind: str | None = None) -> None:
        self.sid = sid
        self.payload = payload
        self.event: dict[str, Any] = orjson.loads(payload) if kind is None else {}
        self.kind = kind or str(self.event.get("kind", "message"))
        self._full: bytes | None = None
        self._masked: bytes | None = None

    @property
    def seq(self) -> int | None:
        seq = self.event.get("seq")
        return seq if isinstance(seq, int) else None

    def wire(self, masked: bool) -> bytes:
        """The whole SSE message for one audience (built on first use, then shared)."""
        if masked:
            if self._masked is None:
                self._masked = _message(self.sid, self.kind, orjson.dumps(mask(self.event)))
            return self._masked
        if self._full is None:
            self._full = _message(self.sid, self.kind, self.payload)
        return self._full


def _message(sid: str, kind: str, data: bytes) -> bytes:
    """An SSE message; the JSON from orjson holds no raw line breaks, so one data line."""
    head = f"id: {sid}\nevent: {kind}\n" if sid else f"event: {kind}\n"
    return head.encode() + b"data: " + data + b"\n\n"


# Not a stream entry: tells each console that the stream lost entries (reload the board).
RESYNC = Frame("", b'{"reason": "stream_reset"}', kind="resync")


def parse_id(stream_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; raises ValueError when malformed."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _decode(entries: Any) -> list[StreamEntry]:
    """Stream entries from redis-py's reply, as (id, payload) pairs."""
    out = []
    for sid, fields in entries:
        key = sid.decode() if isinstance(sid, bytes) else sid
        payload = fields.get(STREAM_FIELD.encode()) or fields.get(STREAM_FIELD)
        if payload is not None:
            out.append((key, payload))
    return out


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[Frame | None]
    overflowed: bool = field(default=False)


class StreamHub:
    """Reads the events stream once and hands every entry to each subscriber."""

    def __init__(self, redis: Redis, stream_key: str, queue_size: int) -> None:
        self._redis = redis
        self._key = stream_key
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._last_id = "0-0"
        self._positioned = False  # False until the newest entry at start-up is known
        self.connected = False
        self.started = asyncio.Event()
        self.overflows = 0  # consoles cut off for falling behind, since start

    # --- reading --------------------------------------------------------
    async def _initial_position(self) -> str:
        newest = await self._redis.xrevrange(self._key, count=1)
        return _decode(newest)[0][0] if newest else "0-0"

    async def run(self, beat: Callable[[], None] = lambda: None) -> None:
        """Read forever (until cancelled), reconnecting with back-off; ``beat`` per read.

        Redis being away is waited out here; anything else is raised to the
        supervisor (dispatch/supervise.py), which starts this again: reading then
        resumes after the last entry read, as after an outage.
        """
        delay = 0.2
        while True:
            try:
                if not self._positioned:
                    self._last_id = await self._initial_position()
                    self._positioned = True
                elif not self.connected:
                    await self._check_continuity()
                self.connected = True
                self.started.set()
                delay = 0.2
                beat()
                await self._read_loop(beat)
            except RedisError as exc:
                if self.connected:
                    log.warning("hub.redis_unavailable", error=str(exc) or type(exc).__name__)
                self.connected = False
                self.started.set()
                await asyncio.sleep(delay)  # back-off while Redis is away
                delay = min(delay * 2, 2.0)
            except BaseException:
                self.connected = False  # on a restart, check nothing was lost meanwhile
                raise

    async def _check_continuity(self) -> None:
        """After an outage: if the stream lost the last entry read, consoles must resync.

        Redis may come back empty, or from a snapshot older than what was read.
        Entries published after the last one read and before the outage may be
        gone, and a console cannot know; every console is sent ``resync`` (reload
        the board) and its stream goes on. Reading goes on from the start of the
        new stream, whose ids are newer than any old one.
        """
        if self._last_id == "0-0" or await self.resume_is_possible(self._last_id):
            return
        log.warning("hub.stream_reset", last_id=self._last_id,
                    consoles=len(self._subscribers))
        self._fan_out(RESYNC)
        self._last_id = "0-0"

    async def _read_loop(self, beat: Callable[[], None]) -> None:
        while True:
            reply: Any = await self._redis.xread({self._key: self._last_id},
                                                 block=READ_BLOCK_MS, count=500)
            for _stream, entries in reply or []:
                for sid, payload in _decode(entries):
                    self._last_id = sid
                    self._fan_out(Frame(sid, payload))
            beat()

    def _fan_out(self, entry: Frame) -> None:
        for sub in list(self._subscribers):
            if sub.queue.qsize() >= self._queue_size:
                # A console this far behind is cut off, keeping every entry it was
                # given: it reads them all, then resumes after the last by Last-Event-ID.
                sub.overflowed = True
                self.overflows += 1
                log.warning("hub.console_overflow", queue_size=self._queue_size)
                self._end(sub)
            else:
                sub.queue.put_nowait(entry)

    def _end(self, sub: Subscriber) -> None:
        """Tell one console's stream to finish after what it holds (it will resume).

        Each queue has one slot beyond ``queue_size`` for this marker, so nothing
        given to the console is ever taken back.
        """
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            sub.queue.put_nowait(None)

    def close_all(self) -> None:
        """End every console stream, so a shutting-down server does not wait on them."""
        for sub in list(self._subscribers):
            self._end(sub)

    # --- subscribing ----------------------------------------------------
    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self._queue_size + 1))  # + the end marker
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def resume_is_possible(self, last_id: str) -> bool:
        """True while the console's last entry is still in the stream.

        Trimming removes entries from the head only, so if that entry is still
        there, everything after it is too. If it is gone (trimmed, or Redis came
        back empty) the console must reload its board.
        """
        return bool(await self._redis.xrange(self._key, min=last_id, max=last_id, count=1))

    async def seq_of(self, stream_id: str) -> int | None:
        """The event seq of one stream entry; None when it is gone or Redis is away."""
        try:
            entries = _decode(await self._redis.xrange(self._key, min=stream_id,
                                                       max=stream_id, count=1))
        except RedisError:
            return None
        if not entries:
            return None
        seq = orjson.loads(entries[0][1]).get("seq")
        return seq if isinstance(seq, int) else None

    async def backlog(self, after_id: str) -> AsyncIterator[StreamEntry]:
        """Entries strictly after ``after_id``, oldest first, in pages."""
        cursor = "(" + after_id
        while True:
            page = _decode(await self._redis.xrange(self._key, min=cursor, max="+", count=500))
            for entry in page:
                yield entry
            if len(page) < 500:
                return
            cursor = "(" + page[-1][0]
