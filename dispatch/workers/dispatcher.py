"""The dispatcher: serves waiting incidents with the nearest available units.

Each pass reads the free units, then every waiting incident one of them could
serve, page by page in queue order whatever the queue's length (see
``dispatch.core.planner``), without locks; it plans in pure
Python (queue order, nearest by geodesic distance), then serves each incident
in its own short transaction: the incident row is locked with SKIP LOCKED (so
two dispatchers never work the same incident at once) and each unit is claimed
with a conditional UPDATE (so a unit taken meanwhile by another dispatcher is
skipped for the next candidate). The partial unique index on open assignments
is the last line: a unit can never be on two open incidents.

An incident whose transaction fails for another reason than PostgreSQL being
away (a bad row, a refusing trigger) is logged with its traceback, counted, and
retried after a back-off (``supervise.restart_delay_s`` doubling up to
``restart_delay_max_s``) without holding a unit in the plan meanwhile, so it never
holds up the rest of the queue. While some incident keeps failing and nothing
else is served, the loop does not beat: a dispatcher that achieves nothing shows
as stalled. Any other failure ends the pass and goes to the supervisor.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from dispatch import actions
from dispatch.constants import DISPATCH_CHANNEL
from dispatch.core.geo import Point, Ranked, travel_time_s
from dispatch.core.planner import (
    WaitingIncident,
    free_left,
    plan_fleet,
    plan_fleet_reranked,
    queue_order,
    unmet_needs,
)
from dispatch.core.spatial import FleetIndex
from dispatch.roads import RoadEngine, RoadPass
from dispatch.settings import Settings
from dispatch.store import incidents as inc_sql
from dispatch.store import units as unit_sql
from dispatch.store.db import UNAVAILABLE_ERRORS, in_transaction
from dispatch.store.fleet import FleetCache
from dispatch.store.notify import Waker
from dispatch.supervise import LoopHealth

log = structlog.get_logger(__name__)


def _waiting(row: asyncpg.Record) -> WaitingIncident:
    location = Point(row["lat"], row["lon"]) if row["lat"] is not None else None
    return WaitingIncident(
        id=row["id"], priority=row["priority"], received_at=row["received_at"],
        location=location, unmet=unmet_needs(row["required_types"], row["covered"]),
    )


class Dispatcher:
    """One dispatcher; any number may run against the same database."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings,
                 roads: RoadEngine | None = None) -> None:
        self._pool = pool
        self._settings = settings
        # Travel time by road when routing data was built; else geodesic x road_factor.
        self.roads = roads if roads is not None else RoadEngine(settings.roads)
        self._timeout = settings.db.acquire_timeout_s
        # Which dispatcher process acted, for the timeline and for audits.
        self.actor = f"dispatcher:{socket.gethostname()}:{os.getpid()}"
        # The available fleet between passes: each pass reads only what changed.
        self._fleet = FleetCache()
        self._health: LoopHealth | None = None  # set when run by the supervisor
        # Incidents whose last attempt failed: id -> (monotonic time of the next, back-off).
        self._failing: dict[int, tuple[float, float]] = {}
        self.progressing = True  # False after a pass where only failures happened
        self.pass_again = False  # True after a pass where an incident failed

    async def run_once(self) -> int:
        """One pass over the queue; returns the number of units assigned."""
        async with self._pool.acquire(timeout=self._timeout) as conn:
            fleet = await self._fleet.refresh(conn)
            rows = await self._waiting_rows(conn, fleet.free_by_type())
        now = time.monotonic()
        # Incidents that failed lately wait out their back-off, and plan on no unit.
        read = {r["id"] for r in rows}
        self._failing = {i: f for i, f in self._failing.items() if i in read}
        due = [_waiting(r) for r in rows if not self._backing_off(r["id"], now)]
        plans = await self._plan(due, fleet) if due else {}
        already_queued = {r["id"] for r in rows if r["status"] == "queued"}
        assigned = served = failed = 0
        for incident in queue_order(due):
            ranked = plans.get(incident.id, [])
            if incident.id in already_queued and not any(ranked):
                continue  # nothing new to offer it; skip the transaction
            try:
                assigned += await self._serve_one(incident, ranked)
            except UNAVAILABLE_ERRORS:
                raise
            except Exception as exc:
                self._failed(incident.id, exc)
                failed += 1
                continue
            self._failing.pop(incident.id, None)
            served += 1
            if self._health is not None:
                self._health.beat()  # each incident served is progress, however long the pass
        # Progress, unless some incident keeps failing and nothing else was served.
        self.progressing = served > 0 or not self._failing
        # The units planned for an incident that failed are free for the next pass.
        self.pass_again = failed > 0
        log.debug("dispatcher.pass", considered=len(rows), served=served,
                  failing=len(self._failing), assigned=assigned)
        return assigned

    async def _plan(self, due: list[WaitingIncident], fleet: FleetIndex
                    ) -> dict[int, list[list[Ranked]]]:
        """The geodesic plan; with routing data, each need's K nearest re-ranked by road
        time first, before any transaction (no row is locked while the engine works)."""
        cfg = self._settings.dispatch
        road_pass = RoadPass(self.roads)
        if road_pass.failed:  # no routing data: geodesic, as always
            return plan_fleet(due, fleet, now=datetime.now(UTC),
                              stale_after_s=cfg.stale_position_s)
        return await plan_fleet_reranked(due, fleet, now=datetime.now(UTC),
                                         stale_after_s=cfg.stale_position_s,
                                         k=self._settings.roads.k, rerank=road_pass.rerank)

    def _backing_off(self, incident_id: int, now: float) -> bool:
        failing = self._failing.get(incident_id)
        return failing is not None and failing[0] > now

    def _failed(self, incident_id: int, exc: Exception) -> None:
        """One incident that cannot be served (a bad row, a refusing trigger) must not
        hold up the rest of the queue: logged, counted, and retried after a back-off."""
        cfg = self._settings.supervise
        previous = self._failing.get(incident_id, (0.0, 0.0))[1]
        delay = min(max(previous * 2, cfg.restart_delay_s), cfg.restart_delay_max_s)
        self._failing[incident_id] = (time.monotonic() + delay, delay)
        if self._health is not None:
            self._health.failed(exc)
        log.error("dispatcher.serve_failed", incident_id=incident_id,
                  error=f"{type(exc).__name__}: {exc}", retry_in_s=delay, exc_info=True)

    async def _serve_one(self, incident: WaitingIncident, ranked: list[list[Ranked]]) -> int:
        async def serve(conn: asyncpg.Connection) -> int:
            return await self._serve(conn, incident, ranked)

        return await in_transaction(self._pool, serve, timeout=self._timeout)

    async def _waiting_rows(self, conn: asyncpg.Connection, free: dict[str, int]
                            ) -> list[asyncpg.Record]:
        """The queue, page by page, as far as the free units reach (and every new one).

        Each page holds only incidents that are new or that need a type still free;
        once the free units are spoken for, later pages hold only the new ones. An
        incident waiting out a failure's back-off is read but takes no unit.
        """
        batch = self._settings.dispatch.batch
        now = time.monotonic()
        left = {t: n for t, n in free.items() if n > 0}
        rows: list[asyncpg.Record] = []
        after: tuple[Any, Any, Any] = (None, None, None)
        while True:
            page = await conn.fetch(inc_sql.WAITING_PAGE_SQL, sorted(left), *after, batch)
            rows.extend(page)
            if len(page) < batch:
                return rows
            left = free_left([_waiting(r) for r in page if not self._backing_off(r["id"], now)],
                             left)
            last = page[-1]
            after = (last["priority"], last["received_at"], last["id"])

    async def _serve(self, conn: asyncpg.Connection, waiting: WaitingIncident,
                     ranked: list[list[Ranked]]) -> int:
        row = await conn.fetchrow(inc_sql.LOCK_WAITING_INCIDENT_SQL, waiting.id)
        if row is None:  # closed, or another dispatcher is serving it right now
            return 0
        incident = dict(row)
        covered = await inc_sql.covered_types(conn, waiting.id)
        unmet = list(unmet_needs(incident["required_types"], covered))
        options: dict[str, list[list[Ranked]]] = {}
        for per_need in ranked:
            if per_need:
                options.setdefault(per_need[0].candidate.unit_type, []).append(per_need)
        assigned = 0
        for unit_type in unmet:
            choices = options.get(unit_type, [])
            if choices and await self._claim_first(conn, incident, choices.pop(0)):
                assigned += 1
        await actions.refresh_incident_status(conn, incident, actor=self.actor)
        return assigned

    async def _claim_first(self, conn: asyncpg.Connection, incident: dict[str, Any],
                           choices: list[Ranked]) -> bool:
        cfg = self._settings.dispatch
        for choice in choices:
            unit = await conn.fetchrow(unit_sql.CLAIM_UNIT_SQL, choice.candidate.unit_id)
            if unit is None:
                continue  # taken meanwhile; try the next nearest
            await actions.unit_status_event(conn, dict(unit), incident_id=incident["id"],
                                            actor=self.actor, previous="available")
            if choice.road_eta_s is not None:
                plan_ = actions.AssignmentPlan(
                    choice.distance_m, choice.road_eta_s, choice.stale, ranked_by="road",
                    road_distance_m=choice.road_distance_m, road_eta_s=choice.road_eta_s)
            else:
                eta = travel_time_s(choice.distance_m, cfg.speed_for(unit["unit_type"]),
                                    cfg.road_factor)
                plan_ = actions.AssignmentPlan(choice.distance_m, eta, choice.stale,
                                               ranked_by="geodesic")
            await actions.insert_assignment(conn, incident, dict(unit), plan_, method="auto",
                                            actor=self.actor)
            return True
        return False

    async def run_forever(self, health: LoopHealth | None = None) -> None:
        """Serve the queue whenever work may have appeared, until cancelled.

        ``health`` (the supervisor's, dispatch/supervise.py) hears a beat after every
        incident served and every pass that made progress, and of every incident that
        failed. PostgreSQL
        being away is waited out here; anything else ends the pass and is raised to
        the supervisor, which logs it and starts the loop again.
        """
        self._health = health
        self._fleet = FleetCache()  # a restart after a failure reads the fleet whole
        waker = Waker(self._settings.database_url, DISPATCH_CHANNEL)
        delay = 0.5
        log.info("dispatcher.started", actor=self.actor, roads=self.roads.state)
        await self.roads.warm()
        try:
            while True:
                try:
                    assigned = await self.run_once()
                    delay = 0.5
                except UNAVAILABLE_ERRORS as exc:
                    log.warning("dispatcher.db_unavailable", error=str(exc), retry_in_s=delay)
                    self._fleet = FleetCache()  # whatever comes back, read it whole
                    await asyncio.sleep(delay)  # back-off while PostgreSQL is away
                    delay = min(delay * 2, 5.0)
                    continue
                if health is not None and self.progressing:
                    health.beat()
                if assigned or self.pass_again:
                    continue  # freed capacity may serve more of the queue
                await waker.wait(self._settings.dispatch.poll_interval_s)
        finally:
            await waker.close()
