"""The outbox relay: publishes committed event rows, in id order, to the Redis stream.

Delivery is at least once: a batch is marked published only after XADD
succeeded, in the same transaction that read it, so a crash between the two
republishes the batch (consumers drop duplicates by the event ``seq``). While
Redis is down nothing is marked and the relay retries with back-off; when
Redis returns it catches up in order. Several relays may run: a transaction
advisory lock lets one publish at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dispatch.board import write_snapshots
from dispatch.constants import EVENTS_CHANNEL, RELAY_LOCK_KEY, STREAM_FIELD
from dispatch.settings import Settings
from dispatch.store.db import UNAVAILABLE_ERRORS
from dispatch.store.events import MARK_PUBLISHED_SQL, UNPUBLISHED_SQL
from dispatch.store.notify import Waker
from dispatch.store.units import CLAIM_DUE_POSITIONS_SQL, POSITION_EVENTS_SQL
from dispatch.supervise import LoopHealth

log = structlog.get_logger(__name__)
SERVICE_ERRORS: tuple[type[BaseException], ...] = (RedisError, *UNAVAILABLE_ERRORS)


# The advisory lock is taken once (a CTE is evaluated once); without it, no rows.
LOCKED_UNPUBLISHED_SQL = f"""
WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS held)
{UNPUBLISHED_SQL.replace("WHERE published_at IS NULL",
                         "WHERE (SELECT held FROM lock) AND published_at IS NULL")
                .replace("LIMIT $1", "LIMIT $2")}"""
# How often due unit positions are turned into events: they are coalesced per
# units.position_event_s (seconds) anyway, so not on every pass of a busy relay.
POSITIONS_EVERY_S = 0.25


def stream_payload(row: asyncpg.Record | dict[str, Any]) -> bytes:
    """The JSON an event carries on the stream and to consoles."""
    return orjson.dumps({
        "seq": row["id"],
        "at": row["occurred_at"],
        "kind": row["kind"],
        "incident_id": row["incident_id"],
        "unit_id": row["unit_id"],
        "actor": row["actor"],
        "data": row["data"],
    })


class Relay:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many events were published."""
        cfg = self._settings
        async with self._pool.acquire(timeout=cfg.db.acquire_timeout_s) as conn, \
                conn.transaction():
            # Only the relay holding the lock reads (one statement: lock, then the batch).
            rows = await conn.fetch(LOCKED_UNPUBLISHED_SQL, RELAY_LOCK_KEY, cfg.relay.batch)
            if not rows:
                return 0
            pipe = self._redis.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(cfg.redis.stream_key, {STREAM_FIELD: stream_payload(row)},
                          maxlen=cfg.redis.stream_maxlen, approximate=True)
            stream_ids = [sid.decode() if isinstance(sid, bytes) else str(sid)
                          for sid in await pipe.execute()]
            await conn.execute(MARK_PUBLISHED_SQL, [r["id"] for r in rows], stream_ids)
        log.debug("relay.published", count=len(rows), last_seq=rows[-1]["id"])
        return len(rows)

    async def flush_positions(self) -> int:
        """Turn due unit positions into unit.location events (coalesced per unit)."""
        cfg = self._settings
        async with self._pool.acquire(timeout=cfg.db.acquire_timeout_s) as conn, \
                conn.transaction():
            due = [r["id"] for r in await conn.fetch(
                CLAIM_DUE_POSITIONS_SQL, cfg.units.position_event_s, cfg.relay.batch)]
            if due:
                events = await conn.fetch(POSITION_EVENTS_SQL, due)
                # Each unit.location event carries its unit's board snapshot too.
                await write_snapshots(conn, {}, {r["unit_id"]: r["id"] for r in events})
        return len(due)

    async def supervised(self, health: LoopHealth) -> None:
        """``run_forever`` as a supervised loop (dispatch/supervise.py)."""
        await self.run_forever(health.beat)

    async def run_forever(self, beat: Callable[[], None] = lambda: None) -> None:
        """Publish whatever is committed, until cancelled; ``beat`` after every batch.

        Redis or PostgreSQL being away is waited out here; anything else is raised
        to the supervisor (dispatch/supervise.py), which logs it and starts again.
        """
        waker = Waker(self._settings.database_url, EVENTS_CHANNEL)
        loop = asyncio.get_running_loop()
        positions_due = loop.time()
        delay = 0.2
        log.info("relay.started", stream=self._settings.redis.stream_key)
        try:
            while True:
                try:
                    # What is committed goes out first; the positions come due meanwhile
                    # are turned into events after, and published on the next pass.
                    published = await self.publish_batch()
                    now = loop.time()
                    if now >= positions_due:
                        positions_due = now + POSITIONS_EVERY_S
                        if await self.flush_positions():
                            published = self._settings.relay.batch  # go round at once
                    delay = 0.2
                    beat()
                except SERVICE_ERRORS as exc:
                    log.warning("relay.unavailable", error=str(exc) or type(exc).__name__,
                                retry_in_s=delay)
                    await asyncio.sleep(delay)  # back-off while Redis or PostgreSQL is away
                    delay = min(delay * 2, 2.0)
                    continue
                if published < self._settings.relay.batch:
                    await waker.wait(self._settings.relay.poll_interval_s)
        finally:
            await waker.close()
