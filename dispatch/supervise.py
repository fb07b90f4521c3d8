"""Supervised background loops: the dispatcher, the outbox relay and the stream hub.

A loop that raises is never left dead: the supervisor logs the exception with
its traceback, counts it, and starts the loop again after a back-off that grows
while it keeps failing and resets once it makes progress. Each loop beats a
heartbeat whenever it makes progress (a pass, a batch, a read); a loop whose
last beat is older than its limit is *stalled*. The limit is the longest a
healthy loop waits between beats when there is nothing to do (its poll interval)
plus ``supervise.stall_after_s``.

Heartbeats are kept in memory (``/readyz`` answers 503 naming a stalled or
dead loop) and written to the ``worker_heartbeats`` table every
``supervise.heartbeat_write_s``, so ``siap112 check`` can tell a process
manager whether a standalone dispatcher or relay on this host is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from dispatch.settings import SuperviseSettings
from dispatch.store.db import UNAVAILABLE_ERRORS

log = structlog.get_logger(__name__)


UPSERT_HEARTBEATS_SQL = """
INSERT INTO worker_heartbeats AS h (worker, instance, host, pid, beat_at, limit_s,
                                    failures, restarts, last_error, written_at)
SELECT t.worker, $1, $2, $3, clock_timestamp() - make_interval(secs => t.age_s), t.limit_s,
       t.failures, t.restarts, t.last_error, clock_timestamp()
FROM unnest($4::text[], $5::float8[], $6::float8[], $7::bigint[], $8::bigint[], $9::text[])
     AS t(worker, age_s, limit_s, failures, restarts, last_error)
ON CONFLICT (worker, instance) DO UPDATE
SET beat_at = excluded.beat_at, limit_s = excluded.limit_s, failures = excluded.failures,
    restarts = excluded.restarts, last_error = excluded.last_error,
    written_at = excluded.written_at
"""
DELETE_INSTANCE_SQL = "DELETE FROM worker_heartbeats WHERE instance = $1"
# Processes that died without a word leave their rows behind; a day later they go.
PRUNE_SQL = "DELETE FROM worker_heartbeats WHERE written_at < clock_timestamp() - interval '1 day'"
HOST_HEARTBEATS_SQL = """
SELECT worker, instance, pid, failures, restarts, last_error, limit_s,
       extract(epoch FROM clock_timestamp() - beat_at)::float8 AS since_beat_s
FROM worker_heartbeats
WHERE host = $1 AND ($2::text IS NULL OR worker = $2)
ORDER BY worker, beat_at DESC
"""


@dataclass
class LoopHealth:
    """What the supervisor knows about one loop."""

    name: str
    limit_s: float
    started: float = field(default_factory=time.monotonic)
    last_beat: float | None = None
    beats: int = 0
    failures: int = 0
    restarts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        """The loop made progress."""
        self.last_beat = time.monotonic()
        self.beats += 1

    def failed(self, exc: BaseException) -> None:
        """Count a failure (the caller logs it, with its context and traceback)."""
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]

    def since_beat_s(self, now: float) -> float:
        """Seconds since the last beat (or since the start, before the first one)."""
        return now - (self.started if self.last_beat is None else self.last_beat)

    def state(self, now: float) -> str:
        if self.task is None or self.task.done():
            return "dead"
        return "stalled" if self.since_beat_s(now) > self.limit_s else "ok"

    def report(self, now: float) -> dict[str, Any]:
        return {"state": self.state(now), "since_beat_s": round(self.since_beat_s(now), 2),
                "limit_s": self.limit_s, "failures": self.failures,
                "restarts": self.restarts, "last_error": self.last_error}


def instance_name() -> str:
    """This process, as the heartbeat table names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


LoopBody = Callable[[LoopHealth], Awaitable[None]]


class Supervisor:
    """Runs named loops, restarting each one that fails; answers for their health."""

    def __init__(self, cfg: SuperviseSettings) -> None:
        self._cfg = cfg
        self.loops: dict[str, LoopHealth] = {}
        self.instance = instance_name()

    def start(self, name: str, body: LoopBody, *, idle_s: float) -> asyncio.Task[None]:
        """Run ``body(health)`` as a supervised task; ``idle_s`` is its longest quiet wait.

        The body calls ``health.beat()`` on progress, and ``health.failed(exc)`` for a
        failure it survives (the supervisor counts those it does not)."""
        health = LoopHealth(name, round(idle_s + self._cfg.stall_after_s, 3))
        self.loops[name] = health
        health.task = asyncio.create_task(self._keep_running(health, body), name=name)
        return health.task

    async def _keep_running(self, health: LoopHealth, body: LoopBody) -> None:
        delay = self._cfg.restart_delay_s
        while True:
            beats_before = health.beats
            try:
                await body(health)
                raise RuntimeError(f"the {health.name} loop returned")
            except Exception as exc:  # every failure: logged, counted, restarted
                if health.beats > beats_before:
                    delay = self._cfg.restart_delay_s  # it worked for a while: start afresh
                health.failed(exc)
                log.error("loop.failed", loop=health.name, failures=health.failures,
                          error=health.last_error, restart_in_s=delay, exc_info=True)
            health.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._cfg.restart_delay_max_s)

    def problems(self) -> list[str]:
        """One line per loop that is not healthy, naming it: empty when all are."""
        now = time.monotonic()
        out = []
        for h in self.loops.values():
            state = h.state(now)
            if state != "ok":
                out.append(f"{h.name} {state} ({h.since_beat_s(now):.1f} s since its last "
                           f"beat, limit {h.limit_s:g} s, {h.failures} failures)")
        return out

    def report(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return {name: h.report(now) for name, h in self.loops.items()}

    async def stop(self) -> None:
        """Cancel every loop and wait for each to end."""
        tasks = [h.task for h in self.loops.values() if h.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the heartbeat table ---------------------------------------------
    async def write_heartbeats(self, pool: asyncpg.Pool) -> None:
        """Write every loop's heartbeat to the database, forever (until cancelled)."""
        with contextlib.suppress(*UNAVAILABLE_ERRORS, asyncpg.PostgresError):
            async with pool.acquire(timeout=5) as conn:
                await conn.execute(PRUNE_SQL)
        while True:
            try:
                async with pool.acquire(timeout=5) as conn:
                    await self._write(conn)
            except (*UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("heartbeat.write_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._cfg.heartbeat_write_s)

    async def _write(self, conn: asyncpg.Connection) -> None:
        now = time.monotonic()
        loops = list(self.loops.values())
        # A dead loop's beat is aged past its limit, so `siap112 check` fails it too.
        ages = [h.since_beat_s(now) if h.state(now) != "dead" else h.limit_s * 10
                for h in loops]
        await conn.execute(
            UPSERT_HEARTBEATS_SQL, self.instance, socket.gethostname(), os.getpid(),
            [h.name for h in loops], ages,
            [h.limit_s + self._cfg.heartbeat_write_s for h in loops],
            [h.failures for h in loops], [h.restarts for h in loops],
            [h.last_error for h in loops])

    async def forget(self, pool: asyncpg.Pool) -> None:
        """On a clean exit: remove this process's rows (best effort)."""
        with contextlib.suppress(*UNAVAILABLE_ERRORS, asyncpg.PostgresError):
            async with asyncio.timeout(2), pool.acquire(timeout=2) as conn:
                await conn.execute(DELETE_INSTANCE_SQL, self.instance)


async def check_host(conn: asyncpg.Connection, worker: str | None) -> tuple[bool, list[Any]]:
    """(healthy, findings) for the loops on this host, from their heartbeat rows.

    Each loop name's newest row decides: healthy when it beat within its limit.
    No row at all is unhealthy (the process never started, or never wrote).
    """
    rows = await conn.fetch(HOST_HEARTBEATS_SQL, socket.gethostname(), worker)
    newest: dict[str, asyncpg.Record] = {}
    for r in rows:
        newest.setdefault(r["worker"], r)
    findings = [{"worker": name, "instance": r["instance"],
                 "healthy": r["since_beat_s"] <= r["limit_s"],
                 "since_beat_s": round(r["since_beat_s"], 2), "limit_s": r["limit_s"],
                 "failures": r["failures"], "restarts": r["restarts"],
                 "last_error": r["last_error"]}
                for name, r in newest.items()]
    healthy = bool(findings) and all(f["healthy"] for f in findings)
    return healthy, findings
