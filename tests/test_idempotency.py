"""Idempotent intake: a console retrying after a timeout never creates a second incident."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import AppFactory
from tests.helpers import KANIGORO, WLINGI

REPORT: dict[str, Any] = {
    "caller_phone": "081234567890",
    "category": "medis",
    "priority": 1,
    "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]},
    "description": "Pingsan di pasar",
}


async def _post(client: TestClient, key: str | None, body: dict[str, Any] = REPORT
                ) -> tuple[int, dict[str, Any], Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    resp = await client.post("/api/v1/incidents", json=body, headers=headers)
    return resp.status, await resp.json(), resp.headers


async def _incidents(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM incidents"))


async def test_retry_with_the_same_key_gets_the_first_answer(
        client: TestClient, db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    status1, first, headers1 = await _post(client, key)
    status2, second, headers2 = await _post(client, key)
    assert (status1, status2) == (201, 201)
    assert second == first
    assert headers2["Location"] == f"/api/v1/incidents/{first['id']}"
    assert (headers1["Idempotent-Replayed"], headers2["Idempotent-Replayed"]) == ("false", "true")
    assert await _incidents(db) == 1
    created = await db.fetchval("SELECT count(*) FROM events WHERE kind = 'incident.created'")
    assert created == 1
    # Another key is another report.
    status3, third, _ = await _post(client, str(uuid.uuid4()))
    assert status3 == 201 and third["id"] != first["id"]


async def test_simultaneous_retries_create_one_incident(
        client: TestClient, db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(_post(client, key) for _ in range(8)))
    assert {status for status, _, _ in answers} == {201}
    assert len({body["id"] for _, body, _ in answers}) == 1
    assert sorted(h["Idempotent-Replayed"] for _, _, h in answers) == ["false"] + ["true"] * 7
    assert await _incidents(db) == 1


async def test_a_key_reused_for_a_different_report_is_refused(
        client: TestClient, db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    assert (await _post(client, key))[0] == 201
    other = dict(REPORT, location={"lat": WLINGI[0], "lon": WLINGI[1]})
    status, body, _ = await _post(client, key, other)
    assert status == 422, body
    assert body["error"]["code"] == "idempotency_key_reused"
    assert body["error"]["field"] == "Idempotency-Key"
    assert await _incidents(db) == 1


async def test_bad_keys_are_refused_and_nothing_is_stored(
        client: TestClient, db: asyncpg.Connection) -> None:
    for bad in ("x" * 201, "kunci dengan spasi", "ключ"):
        resp = await client.post("/api/v1/incidents", json=REPORT,
                                 headers={"Idempotency-Key": bad.encode().decode("latin-1")})
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"]["code"] == "invalid_idempotency_key"
    # An invalid report with a key is refused as usual and the key stays unused.
    key = str(uuid.uuid4())
    status, body, _ = await _post(client, key, dict(REPORT, priority=7))
    assert status == 422 and body["error"]["code"] == "validation_failed"
    assert await _incidents(db) == 0
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    assert (await _post(client, key))[0] == 201


async def test_an_expired_key_starts_a_new_report(client: TestClient,
                                                  db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    _, first, _ = await _post(client, key)
    # A day and a bit later (the default time to remember a key is one day):
    await db.execute("UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'")
    status, second, headers = await _post(client, key)
    assert status == 201 and headers["Idempotent-Replayed"] == "false"
    assert second["id"] != first["id"]
    assert await db.fetchval("SELECT incident_id FROM idempotency_keys WHERE key = $1",
                             key) == second["id"]
    status, third, headers = await _post(client, key)
    assert third == second and headers["Idempotent-Replayed"] == "true"


async def test_expired_keys_are_purged(start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app(http={"idempotency_ttl_s": 0.0})  # nothing is remembered
    key = str(uuid.uuid4())
    _, first, _ = await _post(client, key)
    status, second, headers = await _post(client, key)
    assert status == 201 and headers["Idempotent-Replayed"] == "false"
    assert second["id"] != first["id"]
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0
