"""The audit log: every change with who, when, before and after; append-only; refusals too.

The log outlives the per-test truncation of the operational tables (it refuses
TRUNCATE), so each test looks only at the actors it created.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import KANIGORO, WLINGI, bearer, create_incident, create_unit


async def _get(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url(path))) as resp:
        return resp.status, await resp.json()


async def test_a_status_change_is_audited_with_before_and_after(
        client: TestClient, db: asyncpg.Connection) -> None:
    unit = await create_unit(client, "AMB-AUD", "ambulance", KANIGORO)
    dispatcher = await bearer(db, "dispatcher", name="audit-dispatcher")
    async with aiohttp.ClientSession(headers=dispatcher) as http, http.post(
            str(client.make_url(f"/api/v1/units/{unit['id']}/status")),
            json={"status": "out_of_service"}) as resp:
        assert resp.status == 200, await resp.text()
    supervisor = await bearer(db, "supervisor", name="audit-supervisor")
    status, page = await _get(client, "/api/v1/audit?actor=audit-dispatcher&subject_type=units",
                              supervisor)
    assert status == 200, page
    [row] = page["items"]
    assert row["action"] == "update" and row["subject_id"] == unit["id"]
    assert row["before"]["status"] == "available"
    assert row["after"]["status"] == "out_of_service"
    assert row["at"]
    # The dispatcher may not read the log.
    status, body = await _get(client, "/api/v1/audit", dispatcher)
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_a_responder_moving_another_unit_is_refused_and_audited(
        client: TestClient, db: asyncpg.Connection) -> None:
    mine = await create_unit(client, "AMB-R1", "ambulance", KANIGORO)
    other = await create_unit(client, "AMB-R2", "ambulance", WLINGI)
    responder = await bearer(db, "responder", name="audit-responder", unit_id=mine["id"])
    async with aiohttp.ClientSession(headers=responder) as http, http.put(
            str(client.make_url(f"/api/v1/units/{other['id']}/location")),
            json={"lat": -8.2, "lon": 112.3}) as resp:
        assert resp.status == 403
    assert await db.fetchval("SELECT lat FROM units WHERE id = $1", other["id"]) == WLINGI[0]
    supervisor = await bearer(db, "supervisor", name="audit-supervisor")
    status, page = await _get(client, "/api/v1/audit?actor=audit-responder&action=refused",
                              supervisor)
    assert status == 200
    [row] = page["items"]
    assert row["subject_type"] == "PUT /api/v1/units/{id}/location"
    assert row["subject_id"] == other["id"]
    assert row["after"] == {"code": "not_your_unit", "role": "responder", "kind": "token"}


async def test_the_log_is_append_only_and_keeps_no_personal_data(
        client: TestClient, db: asyncpg.Connection) -> None:
    incident = await create_incident(client, WLINGI)
    rows = await db.fetch("SELECT before, after FROM audit_log WHERE subject_type = 'incidents' "
                          "AND subject_id = $1 AND actor = 'operator'", incident["id"])
    assert rows and all("081234567890" not in str(r["after"]) for r in rows)
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log",
                "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(sql)


async def test_filters_and_paging(client: TestClient, db: asyncpg.Connection) -> None:
    for n in range(3):
        await create_unit(client, f"AMB-P{n}", "ambulance", KANIGORO)
    supervisor = await bearer(db, "supervisor", name="audit-supervisor")
    base = "/api/v1/audit?actor=operator&subject_type=units&action=insert"
    status, first = await _get(client, base + "&limit=2", supervisor)
    assert status == 200 and first["count"] == 2 and first["next_before_id"]
    status, rest = await _get(client, f"{base}&limit=2&before_id={first['next_before_id']}",
                              supervisor)
    assert status == 200
    ids = [r["id"] for r in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) >= 3
    status, body = await _get(client, "/api/v1/audit?limit=0", supervisor)
    assert status == 422 and body["error"]["fields"][0]["field"] == "limit"
