"""Supervised loops: a failing loop is logged, counted, reported and restarted, never dead.

The failures are real ones, made in PostgreSQL by the test: a trigger that refuses
one unit's dispatch, one incident's assignment or one event's publication (as a
broken migration or a hand-made trigger could), and a table held by a long lock
that runs every dispatch pass into the statement timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.settings import Settings
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    create_incident,
    create_unit,
    is_kind,
    set_status,
    until,
    until_db,
)

# Short limits so a stall shows within a second or two.
FAST = {"supervise": {"stall_after_s": 1.0, "restart_delay_s": 0.1,
                      "restart_delay_max_s": 0.3, "heartbeat_write_s": 0.2}}
FAST_ENV = {"SIAP112_SUPERVISE_STALL_AFTER_S": "1.0", "SIAP112_SUPERVISE_RESTART_DELAY_S": "0.1",
            "SIAP112_SUPERVISE_RESTART_DELAY_MAX_S": "0.3",
            "SIAP112_SUPERVISE_HEARTBEAT_WRITE_S": "0.2",
            "SIAP112_DISPATCH_POLL_INTERVAL_S": "0.3",
            # A statement waiting on a lock gives up soon (the pool's statement_timeout).
            "SIAP112_DB_STATEMENT_TIMEOUT_MS": "300"}

BREAK_UNIT_SQL = """
CREATE FUNCTION test_refuse_dispatch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = {unit_id} AND NEW.status = 'dispatched' THEN
        RAISE EXCEPTION 'unit % may not be dispatched (broken trigger)', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_refuse_dispatch BEFORE UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION test_refuse_dispatch();
"""
REPAIR_SQL = "DROP TRIGGER test_refuse_dispatch ON units; DROP FUNCTION test_refuse_dispatch();"


async def _readyz(client: TestClient) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    body: dict[str, Any] = await resp.json()
    return resp.status, body


@pytest.fixture
async def clean_heartbeats(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.execute("DELETE FROM worker_heartbeats")
    return db


async def test_a_dispatcher_whose_work_all_fails_is_reported_and_recovers(
        start_app: AppFactory, clean_heartbeats: asyncpg.Connection) -> None:
    db = clean_heartbeats
    client = await start_app(dispatch={"poll_interval_s": 0.3}, **FAST)
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    status, body = await _readyz(client)
    assert status == 200 and body["loops"]["dispatcher"]["failures"] == 0

    await db.execute(BREAK_UNIT_SQL.format(unit_id=int(unit["id"])))
    incident = await create_incident(client, WLINGI)

    async def stalled() -> dict[str, Any] | None:
        status, body = await _readyz(client)
        return body if status == 503 else None

    body = await until(stalled)
    assert body["checks"]["loops"].startswith("dispatcher stalled"), body["checks"]
    assert {"postgresql", "redis", "migrations"} <= {k for k, v in body["checks"].items()
                                                    if v == "ok"}
    dispatcher = body["loops"]["dispatcher"]
    assert dispatcher["state"] == "stalled" and dispatcher["failures"] >= 1
    assert "may not be dispatched" in dispatcher["last_error"]
    assert body["loops"]["relay"]["state"] == body["loops"]["hub"]["state"] == "ok"

    async def failed_again() -> bool:
        _, later = await _readyz(client)
        return bool(later["loops"]["dispatcher"]["failures"] > dispatcher["failures"])

    await until(failed_again)  # tried again after its back-off, and counted again
    assert await db.fetchval("SELECT count(*) FROM assignments") == 0

    await db.execute(REPAIR_SQL)
    await until_db(db, "SELECT unit_id FROM assignments WHERE incident_id = $1",
                   incident["id"])

    async def ready() -> dict[str, Any] | None:
        status, body = await _readyz(client)
        return body if status == 200 else None

    body = await until(ready)
    assert body["loops"]["dispatcher"]["state"] == "ok"
    stored = await db.fetchval("SELECT failures FROM worker_heartbeats "
                               "WHERE worker = 'dispatcher'")
    assert stored is not None and stored >= 2  # the counter reaches the heartbeat table too


async def test_one_incident_that_cannot_be_served_does_not_hold_up_the_queue(
        start_app: AppFactory, clean_heartbeats: asyncpg.Connection) -> None:
    """A trigger refuses any assignment to the most urgent incident: it is logged and
    passed over, the incident below it gets the one unit, even reading the queue one
    incident at a time, and the first is served once repaired and a unit is free."""
    db = clean_heartbeats
    client = await start_app(dispatch={"poll_interval_s": 0.3, "batch": 1}, **FAST)
    # Both wait in the queue: no unit yet.
    stuck = await create_incident(client, WLINGI, priority=1)
    behind = await create_incident(client, WLINGI, priority=2)
    await until_db(db, "SELECT count(*) = 2 FROM incidents WHERE status = 'queued'")
    await db.execute(f"""
        CREATE FUNCTION test_refuse_incident() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.incident_id = {int(stuck["id"])} THEN
                RAISE EXCEPTION 'incident % may not be served (broken trigger)',
                    NEW.incident_id;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_refuse_incident BEFORE INSERT ON assignments
            FOR EACH ROW EXECUTE FUNCTION test_refuse_incident();""")
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    await until_db(db, "SELECT 1 FROM assignments WHERE incident_id = $1", behind["id"])
    assert await db.fetchval("SELECT count(*) FROM assignments WHERE incident_id = $1",
                             stuck["id"]) == 0
    _, body = await _readyz(client)
    assert body["loops"]["dispatcher"]["failures"] >= 1
    assert f"incident {stuck['id']} may not be served" in body["loops"]["dispatcher"][
        "last_error"]

    await db.execute("DROP TRIGGER test_refuse_incident ON assignments; "
                     "DROP FUNCTION test_refuse_incident();")
    for status in ("en_route", "on_scene", "available"):  # the unit comes free again
        await set_status(client, unit["id"], status)
    await until_db(db, "SELECT 1 FROM assignments WHERE incident_id = $1", stuck["id"])


async def test_a_failing_relay_is_named_by_readyz_and_publishes_once_repaired(
        start_app: AppFactory, clean_heartbeats: asyncpg.Connection) -> None:
    """The relay cannot mark one event published (a trigger refuses it): it stalls,
    /readyz names it, and once repaired it marks the event published and is ready."""
    db = clean_heartbeats
    client = await start_app(relay={"poll_interval_s": 0.3}, **FAST)
    await db.execute("""
        CREATE FUNCTION test_refuse_publish() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.data->>'callsign' = 'AMB-STUCK' AND NEW.published_at IS NOT NULL THEN
                RAISE EXCEPTION 'event % may not be published (broken trigger)', NEW.id;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_refuse_publish BEFORE UPDATE ON events
            FOR EACH ROW EXECUTE FUNCTION test_refuse_publish();""")
    async with Console(client) as console:
        await create_unit(client, "AMB-STUCK", "ambulance", KANIGORO)

        async def stalled() -> dict[str, Any] | None:
            status, body = await _readyz(client)
            return body if status == 503 else None

        body = await until(stalled)
        assert body["checks"]["loops"].startswith("relay stalled"), body["checks"]
        assert body["loops"]["relay"]["failures"] >= 1
        assert body["loops"]["dispatcher"]["state"] == "ok"
        await db.execute("DROP TRIGGER test_refuse_publish ON events; "
                         "DROP FUNCTION test_refuse_publish();")

        async def all_published() -> bool:
            return bool(await db.fetchval(
                "SELECT count(*) = 0 FROM events WHERE published_at IS NULL"))

        await until(all_published)
        # Each failed attempt had already added the entry to the stream (at least once).
        [created] = await console.wait_for(is_kind("unit.created"))
    assert created.data["data"]["callsign"] == "AMB-STUCK"

    async def ready() -> bool:
        return (await _readyz(client))[0] == 200

    await until(ready)


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, json.loads(out or b"{}") if out.strip() else {"stderr": err.decode()}


class Worker:
    """A standalone `siap112 dispatcher` process whose JSON log lines are kept."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self._new = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"raw": raw.decode(errors="replace")}
            async with self._new:
                self.lines.append(line)
                self._new.notify_all()

    async def logged(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        async def first() -> dict[str, Any]:
            async with self._new:
                await self._new.wait_for(lambda: any(x.get("event") == event
                                                     for x in self.lines))
                return next(x for x in self.lines if x.get("event") == event)

        return await asyncio.wait_for(first(), timeout)


@pytest.fixture
async def standalone_dispatcher(make_settings: Callable[..., Settings]
                                ) -> AsyncIterator[tuple[Worker, dict[str, str]]]:
    settings = make_settings()
    env = {"SIAP112_DATABASE_URL": settings.database_url,
           "SIAP112_REDIS_URL": settings.redis_url,
           "SIAP112_REDIS_STREAM_KEY": settings.redis.stream_key,
           "SIAP112_LOG_FORMAT": "json", "SIAP112_LOG_LEVEL": "info", **FAST_ENV}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "dispatcher", env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    worker = Worker(proc)
    await worker.logged("dispatcher.started")
    yield worker, env
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    worker._reader.cancel()


async def test_siap112_check_follows_a_standalone_dispatcher(
        start_app: AppFactory, clean_heartbeats: asyncpg.Connection,
        standalone_dispatcher: tuple[Worker, dict[str, str]],
        make_settings: Callable[..., Settings]) -> None:
    """A table held by a long lock (a migration, a VACUUM FULL) makes every pass run
    into the statement timeout: the loop fails, is logged with its traceback and
    restarted, `siap112 check` exits 1; once the lock goes it serves and exits 0."""
    db = clean_heartbeats
    worker, env = standalone_dispatcher
    client = await start_app(dispatch={"run_in_web": False})

    async def check_exits(code: int) -> dict[str, Any] | None:
        rc, report = await _cli("check", "--worker", "dispatcher", env=env)
        return report if rc == code else None

    healthy = await until(lambda: check_exits(0))
    assert healthy["healthy"] is True
    assert [f["worker"] for f in healthy["loops"]] == ["dispatcher"]

    holder = await asyncpg.connect(make_settings().database_url)
    lock = holder.transaction()
    await lock.start()
    await holder.execute("LOCK TABLE assignments IN ACCESS EXCLUSIVE MODE")
    try:
        await create_unit(client, "AMB-1", "ambulance", KANIGORO)
        incident = await create_incident(client, WLINGI)
        failed = await worker.logged("loop.failed")
        assert failed["level"] == "error" and failed["loop"] == "dispatcher"
        assert failed["exception"].startswith("Traceback (most recent call last)")
        assert "QueryCanceledError" in failed["exception"]
        assert "statement timeout" in failed["exception"]
        sick = await until(lambda: check_exits(1))
        assert sick["healthy"] is False and sick["loops"][0]["failures"] >= 1
        assert "QueryCanceledError" in sick["loops"][0]["last_error"]
        assert sick["loops"][0]["restarts"] >= 1
    finally:
        await lock.rollback()
        await holder.close()
    await until_db(db, "SELECT unit_id FROM assignments WHERE incident_id = $1",
                   incident["id"])
    await until(lambda: check_exits(0))
    assert worker.proc.returncode is None  # restarted in place, never exited

    worker.proc.send_signal(signal.SIGTERM)
    assert await worker.proc.wait() == 0
    # Gone cleanly: its heartbeat row went with it, so nothing vouches for it any more.
    rc, report = await _cli("check", "--worker", "dispatcher", env=env)
    assert (rc, report["loops"]) == (1, [])


async def test_a_request_held_up_by_a_long_lock_is_refused_with_503_and_retried(
        start_app: AppFactory, db: asyncpg.Connection,
        make_settings: Callable[..., Settings]) -> None:
    """A statement that runs into statement_timeout (a migration or VACUUM FULL holding a
    table) is an answer the console can act on: 503 with Retry-After and a code, nothing
    stored; the same request succeeds once the lock goes. Units registered meanwhile read
    nothing of the locked assignments."""
    client = await start_app(db={"statement_timeout_ms": 300},
                             dispatch={"run_in_web": False})
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    holder = await asyncpg.connect(make_settings().database_url)
    lock = holder.transaction()
    await lock.start()
    await holder.execute("LOCK TABLE assignments IN ACCESS EXCLUSIVE MODE")
    try:
        # A new unit is on no incident: its snapshot does not wait for assignments.
        await create_unit(client, "AMB-2", "ambulance", WLINGI)
        resp = await client.post(f"/api/v1/units/{unit['id']}/status",
                                 json={"status": "out_of_service"})
        body = await resp.json()
        assert resp.status == 503, body
        assert body["error"]["code"] == "database_busy"
        assert resp.headers["Retry-After"] == "2"
    finally:
        await lock.rollback()
        await holder.close()
    assert await db.fetchval("SELECT status FROM units WHERE id = $1", unit["id"]) == "available"
    await set_status(client, unit["id"], "out_of_service")
    assert await db.fetchval("SELECT status FROM units WHERE id = $1",
                             unit["id"]) == "out_of_service"
