"""The alerts loop: every ``alerts.check_s`` it raises the alerts whose condition
holds (dispatch/core/alerts.py) and clears those whose condition ended.

It reads the watched rows without locks (open assignments, open incidents:
bounded by the work in hand, never by history), decides in pure Python on the
database's clock, then raises and clears in one short transaction through
dispatch/actions.py, each change with its event. Any number of web processes
may run it: the partial unique index on open alerts lets one raise each alert,
and a conditional update lets one clear it. A condition that ends between the
read and the write is cleared on the next pass.

Run by the supervisor (dispatch/supervise.py): it beats after every pass, so
/readyz names it when it fails or stalls.
"""

from __future__ import annotations

import asyncio
import os
import socket

import asyncpg
import structlog

from dispatch import actions
from dispatch.core.alerts import due_alerts
from dispatch.settings import Settings
from dispatch.store import alerts as alert_sql
from dispatch.store.db import UNAVAILABLE_ERRORS, in_transaction
from dispatch.supervise import LoopHealth

log = structlog.get_logger(__name__)
SET_ACTOR_SQL = "SELECT set_config('siap112.actor', $1, true)"


class AlertChecker:
    """Raises and clears alerts; one per web process (or more: they agree)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self.actor = f"alerts:{socket.gethostname()}:{os.getpid()}"

    async def check_once(self) -> tuple[int, int]:
        """One pass; returns (alerts raised, alerts cleared)."""
        timeout = self._settings.db.acquire_timeout_s
        async with self._pool.acquire(timeout=timeout) as conn:
            now = await conn.fetchval(alert_sql.NOW_SQL)
            units = await conn.fetch(alert_sql.WATCHED_UNITS_SQL)
            incidents = await conn.fetch(alert_sql.WATCHED_INCIDENTS_SQL)
            open_alerts = await conn.fetch(alert_sql.OPEN_ALERTS_SQL)
        due = due_alerts(now, [dict(u) for u in units], [dict(i) for i in incidents],
                         self._settings.alerts)
        held = {(a["kind"], a["incident_id"], a["unit_id"]): a["id"] for a in open_alerts}
        to_raise = [d for key, d in due.items() if key not in held]
        to_clear = [alert_id for key, alert_id in held.items() if key not in due]
        if not (to_raise or to_clear):
            return 0, 0

        async def work(conn: asyncpg.Connection) -> tuple[int, int]:
            await conn.execute(SET_ACTOR_SQL, self.actor)
            raised = cleared = 0
            for d in to_raise:
                raised += await actions.raise_alert(
                    conn, kind=d.kind, incident_id=d.incident_id, unit_id=d.unit_id,
                    callsign=d.callsign, since=d.since, threshold_s=d.threshold_s,
                    actor=self.actor) is not None
            for alert_id in to_clear:
                cleared += await actions.clear_alert(conn, alert_id,
                                                     actor=self.actor) is not None
            return raised, cleared

        return await in_transaction(self._pool, work, timeout=timeout)

    async def run_forever(self, health: LoopHealth | None = None) -> None:
        """Check every ``alerts.check_s`` until cancelled; PostgreSQL away is waited out
        (without a beat, so a long outage shows as stalled); anything else is raised
        to the supervisor, which logs it and starts the loop again."""
        log.info("alerts.started", actor=self.actor, check_s=self._settings.alerts.check_s)
        while True:
            try:
                raised, cleared = await self.check_once()
            except UNAVAILABLE_ERRORS as exc:
                log.warning("alerts.db_unavailable", error=str(exc))
            else:
                if health is not None:
                    health.beat()
                if raised or cleared:
                    log.debug("alerts.pass", raised=raised, cleared=cleared)
            await asyncio.sleep(self._settings.alerts.check_s)
