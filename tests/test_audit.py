"""The audit log: every change with who, when, before and after; append-only; refusals too.

The log outlives the per-test truncation of the operational tables (it refuses
TRUNCATE), so each test looks only at the actors it created.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.store.migrate import SQL_DIR, migrate
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


async def test_the_upgrade_scrubs_personal_data_and_positions_from_earlier_rows(
        services: tuple[str, str], tmp_path: Path) -> None:
    """Rows written before sql/007 held the raw AML text and every position report."""
    admin_url = services[0]
    name = f"siap112_upgrade_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(urlunsplit(urlsplit(admin_url)._replace(path="/" + name)))
    try:
        for path in SQL_DIR.iterdir():
            if path.name.endswith(".sql") and int(path.name[:3]) <= 6:
                (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"))
        await migrate(conn, tmp_path)
        await conn.execute(
            "INSERT INTO aml_messages (transport, raw, caller_phone, status, error_code, imsi) "
            "VALUES ('sms', 'si=510101111122222;ei=356938000011111', '0857111', 'rejected', "
            "'bad_header', '510101111122222')")
        unit = await conn.fetchval("INSERT INTO units (callsign, unit_type, agency) "
                                   "VALUES ('AMB-OLD', 'ambulance', 'Test') RETURNING id")
        await conn.execute("UPDATE units SET lat = -8.1, lon = 112.2, position_at = now() "
                           "WHERE id = $1", unit)
        await conn.execute("UPDATE units SET status = 'out_of_service' WHERE id = $1", unit)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE after::text LIKE "
                                   "'%510101111122222%'") == 1
        await migrate(conn)
        rows = await conn.fetch("SELECT subject_type, action, before, after FROM audit_log "
                                "ORDER BY id")
        text = "".join(str(r) for r in rows)
        assert "510101111122222" not in text and "356938000011111" not in text
        assert "-8.1" not in text and "0857111" not in text
        # The position report recorded nothing else and is gone; the rest remain.
        assert [(r["subject_type"], r["action"]) for r in rows] == [
            ("aml_messages", "insert"), ("units", "insert"), ("units", "update")]
        # And the log is append-only again.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
