"""The exchange outbox sender: delivers handover offers and status updates to partners.

Each partner's rows go in id order, one at a time: a row not yet delivered holds
back the later ones, so updates arrive in the order they happened. A row is
leased while it is being sent (several processes may run this loop); a failed
attempt is retried with a doubling back-off up to ``exchange.retry_max_s``.
The receiver creates nothing twice (handovers are unique per partner and EIDO
id; updates are applied once per sequence number), so delivering a row again
after a crash between sending and marking it is harmless.

The same loop reports back on incidents received from partners: their new
dispatches and closing become 'update' rows for the sender.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import asyncpg
import structlog

from dispatch import actions
from dispatch.constants import EVENTS_CHANNEL
from dispatch.core import eido
from dispatch.settings import PartnerSettings, Settings
from dispatch.store import exchange as ex_sql
from dispatch.store.db import UNAVAILABLE_ERRORS, in_transaction
from dispatch.store.notify import Waker
from dispatch.supervise import LoopHealth

log = structlog.get_logger(__name__)
T = TypeVar("T")
ACTOR = "exchange:outbox"  # a name no user or token may have (sql/009)
BATCH = 20
OFFER_PATH = "/api/v1/exchange/incidents"


def update_path(remote_incident_id: int) -> str:
    return f"/api/v1/exchange/incidents/{remote_incident_id}/updates"


class ExchangeSender:
    """Delivers the exchange outbox (sql/018) until cancelled."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._cfg = settings.exchange

    async def _tx(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def as_actor(conn: asyncpg.Connection) -> T:
            await conn.execute("SELECT set_config('siap112.actor', $1, true)", ACTOR)
            return await work(conn)
        return await in_transaction(self._pool, as_actor,
                                    timeout=self._settings.db.acquire_timeout_s)

    async def supervised(self, health: LoopHealth) -> None:
        """``run_forever`` as a supervised loop (dispatch/supervise.py)."""
        await self.run_forever(health.beat)

    async def run_forever(self, beat: Callable[[], None] = lambda: None) -> None:
        waker = Waker(self._settings.database_url, EVENTS_CHANNEL)
        timeout = aiohttp.ClientTimeout(total=self._cfg.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while True:
                    try:
                        await self.report_back()
                        busy = await self.deliver(http)
                    except UNAVAILABLE_ERRORS as exc:
                        log.warning("exchange.db_unavailable", error=str(exc))
                        busy = 0
                    beat()
                    if busy < BATCH:
                        await waker.wait(self._cfg.poll_interval_s)
        finally:
            await waker.close()

    async def report_back(self) -> int:
        """Queue updates for received incidents' new dispatches and closing."""
        async with self._pool.acquire() as conn:
            ids = [r["id"] for r in await conn.fetch(ex_sql.WATCHED_SQL, BATCH)]
        total = 0
        for handover_id in ids:
            async def work(conn: asyncpg.Connection, hid: int = handover_id) -> int:
                return await actions.report_back(conn, hid)
            total += await self._tx(work)
        return total

    async def deliver(self, http: aiohttp.ClientSession) -> int:
        """One pass over the due rows; how many were attempted."""
        async with self._pool.acquire() as conn:
            due = [dict(r) for r in await conn.fetch(ex_sql.DUE_SQL, BATCH)]
        attempted = 0
        for row in due:
            partner = self._cfg.partners.get(row["partner"])
            if partner is None:
                continue  # a partner taken out of the configuration: its rows wait
            async with self._pool.acquire() as conn:
                if await conn.fetchval(ex_sql.LEASE_SQL, row["id"],
                                       self._cfg.timeout_s * 2) is None:
                    continue
                prepared = await self._request(conn, row, partner)
            attempted += 1
            if prepared is None:
                continue
            url, body = prepared
            await self._send(http, row, partner, url, body)
        return attempted

    async def _request(self, conn: asyncpg.Connection, row: dict[str, Any],
                       partner: PartnerSettings) -> tuple[str, dict[str, Any]] | None:
        handover = await conn.fetchrow(ex_sql.GET_HANDOVER_SQL, row["handover_id"])
        if row["kind"] == "offer":
            source = await ex_sql.load_source(conn, handover["incident_id"])
            assert source is not None
            doc = eido.build(source, self._settings.runcards, centre=self._cfg.centre,
                             centre_label=self._cfg.centre_label)
            return partner.base_url + OFFER_PATH, doc
        if handover["remote_incident_id"] is None:
            log.error("exchange.update_without_remote_id", outbox_id=row["id"])
            return None
        return (partner.base_url + update_path(handover["remote_incident_id"]),
                {**row["body"], "seq": row["id"]})

    async def _send(self, http: aiohttp.ClientSession, row: dict[str, Any],
                    partner: PartnerSettings, url: str, body: dict[str, Any]) -> None:
        started = time.perf_counter()
        status: int | None = None
        answer: dict[str, Any] = {}
        error = ""
        try:
            async with http.post(url, json=body, headers={
                    "Authorization": f"Bearer {partner.token_out}"}) as resp:
                status = resp.status
                if resp.content_type == "application/json":
                    answer = await resp.json()
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {str(answer.get('error', ''))[:300]}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        took_ms = round((time.perf_counter() - started) * 1000, 1)
        if not error:
            remote = answer.get("incident_id")
            remote_id = remote if isinstance(remote, int) else None

            async def ok(conn: asyncpg.Connection) -> None:
                await actions.handover_delivered(conn, row["id"], row["handover_id"],
                                                 status=status or 0,
                                                 remote_incident_id=remote_id, actor=ACTOR)
            await self._tx(ok)
            log.info("exchange.delivered", partner=partner.name, kind=row["kind"],
                     outbox_id=row["id"], took_ms=took_ms)
            return
        retry = min(self._cfg.retry_max_s, self._cfg.retry_initial_s * 2 ** row["attempts"])

        async def failed(conn: asyncpg.Connection) -> None:
            await actions.handover_failed(conn, row["id"], row["handover_id"], status=status,
                                          error=error, retry_s=retry, actor=ACTOR)
        await self._tx(failed)
        log.warning("exchange.delivery_failed", partner=partner.name, kind=row["kind"],
                    outbox_id=row["id"], error=error, retry_in_s=retry)
