"""Recently seen API tokens and sessions, so a request need not read them again.

Every API request names its principal by a bearer token or a session cookie; reading
``api_tokens`` or ``sessions`` for each one costs a pooled connection and two round
trips (the query and the pool's reset), a large share of a small request. This cache
keeps the principals of the secrets seen in the last ``auth.principal_cache_s``.

It is only trusted while it hears every change: sql/024 notifies ``siap112_access``
on any change to ``api_tokens``, ``sessions`` or ``users`` (revoke, logout, disable,
role change, purge), and the supervised ``access`` loop empties the cache on each
notification. While that loop has no listening connection (starting, PostgreSQL
away, the loop failed) nothing is served from the cache: every request reads the
tables as before. A read that began before a change and ends after it is not kept
(the generation counter), and a token or session past its ``expires_at`` is never
served, so the cache refuses whatever the tables would refuse.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from dispatch.store.accounts import Principal
from dispatch.store.db import UNAVAILABLE_ERRORS

log = structlog.get_logger(__name__)

CHANNEL = "siap112_access"
# The listener's name in pg_stat_activity.
APPLICATION = "siap112-access"
# The most principals kept; beyond it the cache starts again (a flood of new secrets).
MAX_ENTRIES = 10_000
# How often the idle listener proves its connection alive (and the loop beats).
PROBE_S = 5.0


class PrincipalCache:
    """(kind, secret digest) -> principal, valid while the listener hears every change."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, bytes], tuple[Principal, datetime, float]] = {}
        self.generation = 0
        self._cleared = asyncio.Event()
        self.listening = False
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.listening and self.ttl_s > 0

    def get(self, kind: str, key: bytes) -> Principal | None:
        """The cached principal, or None (then read the tables)."""
        if not self.enabled:
            return None
        entry = self._entries.get((kind, key))
        if entry is None:
            self.misses += 1
            return None
        principal, expires_at, stored = entry
        if time.monotonic() - stored > self.ttl_s or datetime.now(UTC) >= expires_at:
            del self._entries[(kind, key)]
            self.misses += 1
            return None
        self.hits += 1
        return principal

    def put(self, kind: str, key: bytes, principal: Principal, expires_at: datetime,
            generation: int) -> None:
        """Keep what a read found, unless access changed since the read began."""
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(kind, key)] = (principal, expires_at, time.monotonic())

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._cleared.set()
        self._cleared = asyncio.Event()

    async def cleared_since(self, generation: int) -> None:
        """Return once the cache was emptied after ``generation`` (tests await this)."""
        while self.generation == generation:
            await self._cleared.wait()

    def _stop_listening(self) -> None:
        self.listening = False
        self.clear()

    async def listen(self, dsn: str, beat: Callable[[], None]) -> None:
        """The supervised ``access`` loop: hold a LISTEN connection, empty on each change.

        PostgreSQL away is waited out here (the cache off meanwhile); anything else
        is raised to the supervisor, with the cache off until the loop runs again.
        """
        delay = 0.5
        try:
            while True:
                try:
                    conn = await asyncpg.connect(
                        dsn, timeout=5, server_settings={"application_name": APPLICATION})
                except UNAVAILABLE_ERRORS as exc:
                    log.warning("access.listen_unavailable", error=str(exc) or type(exc).__name__,
                                retry_in_s=delay)
                    await asyncio.sleep(delay)  # back-off while PostgreSQL is away
                    delay = min(delay * 2, 10.0)
                    continue
                try:
                    await self._hold(conn, beat)
                except UNAVAILABLE_ERRORS as exc:
                    log.warning("access.listen_lost", error=str(exc) or type(exc).__name__)
                finally:
                    self._stop_listening()
                    if not conn.is_closed():
                        conn.terminate()
                delay = 0.5
        finally:
            self._stop_listening()

    async def _hold(self, conn: asyncpg.Connection, beat: Callable[[], None]) -> None:
        def changed(*_: Any) -> None:
            self.clear()

        lost = asyncio.Event()

        def closed(_conn: object) -> None:
            self._stop_listening()
            lost.set()

        conn.add_termination_listener(closed)
        await conn.add_listener(CHANNEL, changed)
        # Whatever changed before this connection listened is not in the cache.
        self.clear()
        self.listening = True
        log.info("access.listening")
        while not lost.is_set():
            beat()
            try:
                async with asyncio.timeout(PROBE_S):
                    await lost.wait()
            except TimeoutError:
                # Quiet: prove the connection is still there (a dead peer may say nothing).
                await conn.fetchval("SELECT 1", timeout=PROBE_S)
        raise ConnectionError("the access listener's connection closed")
