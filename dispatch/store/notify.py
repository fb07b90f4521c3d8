"""Wake-ups through PostgreSQL LISTEN/NOTIFY, with a reconnecting listener.

NOTIFY is only a hint that there may be work: every loop that waits on a
:class:`Waker` also polls, so a lost notification costs latency, never work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from dispatch.store.db import UNAVAILABLE_ERRORS

log = structlog.get_logger(__name__)


class Waker:
    """Listens on one channel; :meth:`wait` returns when notified or after a timeout."""

    def __init__(self, dsn: str, channel: str) -> None:
        self._dsn = dsn
        self._channel = channel
        self._event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    def _on_notify(self, *_: Any) -> None:
        self._event.set()

    async def _ensure_listening(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        self._conn = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.add_listener(self._channel, self._on_notify)
        except UNAVAILABLE_ERRORS as exc:
            log.warning("listen.unavailable", channel=self._channel, error=str(exc))
            return
        self._conn = conn
        # Anything may have happened while we were not listening.
        self._event.set()

    async def wait(self, timeout: float) -> None:
        await self._ensure_listening()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the event is set, and the worker never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()

    def poke(self) -> None:
        self._event.set()

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(*UNAVAILABLE_ERRORS):
                await self._conn.close(timeout=2)
        self._conn = None
