"""Personal data: caller numbers masked for roles that do not need them; purged after the
retention period with the response-time figures intact."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp.test_utils import TestClient

from dispatch.privacy import mask
from tests.helpers import (
    WLINGI,
    bearer,
    create_incident,
    get_json,
    post_json,
    run_purge,
    sse_events,
)


async def _get(client: TestClient, path: str, headers: dict[str, str]) -> object:
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url(path))) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_caller_numbers_are_masked_for_roles_that_do_not_need_them(
        client: TestClient, db: asyncpg.Connection) -> None:
    incident = await create_incident(client, WLINGI)  # caller 081234567890
    path = f"/api/v1/incidents/{incident['id']}"
    for role, expected in (("dispatcher", "081234567890"), ("call_taker", "081234567890"),
                           ("supervisor", "*********890")):
        body = await _get(client, path, await bearer(db, role, name=f"p-{role}"))
        assert body["caller_phone"] == expected, role  # type: ignore[index]
    listed = await _get(client, "/api/v1/incidents", await bearer(db, "supervisor"))
    assert {i["caller_phone"] for i in listed["items"]} == {"*********890"}  # type: ignore[index]
    # The stored number is untouched.
    assert await db.fetchval("SELECT caller_phone FROM incidents") == "081234567890"


def test_mask_reaches_nested_fields() -> None:
    data = {"items": [{"caller_phone": "+6281234", "imsi": "510101234567890", "id": 7}],
            "eido": {"callbackNumber": "0812"}, "n": None}
    assert mask(data) == {"items": [{"caller_phone": "*****234", "imsi": "************890",
                                     "id": 7}], "eido": {"callbackNumber": "*812"}, "n": None}


async def test_purge_anonymises_old_calls_and_keeps_response_times(
        client: TestClient, db: asyncpg.Connection, database_url: str) -> None:
    old = await create_incident(client, WLINGI)
    recent = await create_incident(client, WLINGI)
    await db.execute("UPDATE incidents SET received_at = received_at - interval '400 days', "
                     "logged_at = logged_at - interval '400 days', status = 'closed', "
                     "disposition = 'selesai', closed_at = now() - interval '399 days' "
                     "WHERE id = $1", old["id"])
    stats_path = ("/api/v1/stats/response-times?from=2000-01-01T00:00:00Z"
                  "&to=2100-01-01T00:00:00Z")
    before_stats = await get_json(client, stats_path)
    before = await db.fetchrow("SELECT received_at, logged_at, closed_at FROM incidents "
                               "WHERE id = $1", old["id"])
    # Its events are as old; their board snapshots repeat the caller's number.
    await db.execute("UPDATE events SET occurred_at = occurred_at - interval '400 days' "
                     "WHERE incident_id = $1", old["id"])
    snapshot_phone = ("SELECT data #>> '{snapshot,incident,caller_phone}' FROM events "
                      "WHERE incident_id = $1 AND data ? 'snapshot' ORDER BY id LIMIT 1")
    assert await db.fetchval(snapshot_phone, old["id"]) == "081234567890"
    out = await run_purge(database_url)
    assert await db.fetchval(snapshot_phone, old["id"]) is None
    assert await db.fetchval(snapshot_phone, recent["id"]) == "081234567890"
    assert "incidents=1" in out
    rows = {r["id"]: r["caller_phone"] for r in await db.fetch(
        "SELECT id, caller_phone FROM incidents")}
    assert rows == {old["id"]: "000", recent["id"]: "081234567890"}
    after = await db.fetchrow("SELECT received_at, logged_at, closed_at FROM incidents "
                              "WHERE id = $1", old["id"])
    assert after == before
    assert await get_json(client, stats_path) == before_stats



async def _call_as_seen_by(client: TestClient, headers: dict[str, str], incident_id: int
                           ) -> dict[str, Any]:
    """A second caller for ``incident_id`` logged once this console's stream is open;
    the caller.linked event as the console receives it."""
    async with aiohttp.ClientSession(headers=headers) as http, http.get(
            str(client.make_url("/api/v1/events"))) as resp:
        assert resp.status == 200
        async for event in sse_events(resp.content):
            if event.event == "hello":
                await post_json(client, "/api/v1/calls", {
                    "caller_phone": "081234567890", "disposition": "duplicate",
                    "incident_id": incident_id}, 201)
            if event.event == "caller.linked":
                return event.data
    raise AssertionError("the stream ended before caller.linked")


async def test_the_live_stream_masks_numbers_for_roles_that_do_not_need_them(
        client: TestClient, db: asyncpg.Connection) -> None:
    incident = await create_incident(client, WLINGI)
    supervisor, dispatcher = await bearer(db, "supervisor"), await bearer(db, "dispatcher")
    seen = await asyncio.wait_for(_call_as_seen_by(client, supervisor, incident["id"]), 15)
    assert seen["data"]["caller_phone"] == "*********890"
    seen = await asyncio.wait_for(_call_as_seen_by(client, dispatcher, incident["id"]), 15)
    assert seen["data"]["caller_phone"] == "081234567890"


# --- nothing personal left anywhere after a purge ---------------------------

def _aml_sms(imsi: str, imei: str) -> str:
    top = (datetime.now(UTC) - timedelta(seconds=20)).strftime("%Y%m%d%H%M%S")
    body = (f'A"ML=1;lt=-8.079120;lg=+112.325100;rd=25;top={top};lc=68;pm=G;'
            f"si={imsi};ei={imei};mcc=510;mnc=10;ml=")
    return body + str(len(body) + 3)


async def _log_personal_data(client: TestClient, phone: str, imsi: str, imei: str,
                             raw: str) -> int:
    """A caller's trail through every intake path; the incident id."""
    await post_json(client, "/api/v1/aml", {"sender": phone, "text": raw}, 201)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": phone, "disposition": "emergency",
        "incident": {"category": "medis", "priority": 2}}, 201)
    incident_id: int = call["incident"]["id"]
    await post_json(client, "/api/v1/calls", {"caller_phone": phone, "disposition": "duplicate",
                                              "incident_id": incident_id}, 201)
    # A malformed message is kept raw (to be purged like the rest).
    resp = await client.post("/api/v1/aml", json={"sender": phone, "text": raw[:-9]})
    assert resp.status == 422
    ms = str(int((datetime.now(UTC) - timedelta(seconds=3)).timestamp() * 1000))
    resp = await client.post("/api/v1/aml", data={
        "v": "3", "device_number": phone, "location_latitude": "-8.0791",
        "location_longitude": "112.3252", "location_accuracy": "40", "location_time": ms,
        "location_source": "wifi", "device_imsi": imsi, "device_imei": imei})
    assert resp.status == 201, await resp.text()
    resp = await client.post("/api/v1/incidents", headers={"Idempotency-Key": f"k-{phone}"},
                             json={"caller_phone": phone, "category": "medis", "priority": 2,
                                   "location": {"lat": WLINGI[0], "lon": WLINGI[1]}})
    assert resp.status == 201, await resp.text()
    for closing in (incident_id, (await resp.json())["id"]):
        await post_json(client, f"/api/v1/incidents/{closing}/close",
                        {"disposition": "selesai", "confirm": True}, 200)
    return incident_id


BACKDATE_SQL = (
    "UPDATE incidents SET received_at = received_at - interval '400 days', "
    "logged_at = logged_at - interval '400 days', closed_at = closed_at - interval '399 days'",
    "UPDATE calls SET logged_at = logged_at - interval '400 days', "
    "rang_at = rang_at - interval '400 days', answered_at = answered_at - interval '400 days'",
    "UPDATE aml_messages SET received_at = received_at - interval '400 days'",
    "UPDATE events SET occurred_at = occurred_at - interval '400 days'",
    "UPDATE idempotency_keys SET created_at = created_at - interval '400 days'",
)
# Every column that can hold text: text, varchar, json(b) and arrays of them.
TEXT_COLUMNS_SQL = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'public'
  AND (data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
       OR (data_type = 'ARRAY' AND udt_name IN ('_text', '_varchar', '_jsonb')))
ORDER BY table_name, column_name
"""


async def _where_found(db: asyncpg.Connection, needles: list[str]) -> list[str]:
    found = []
    columns = await db.fetch(TEXT_COLUMNS_SQL)
    assert {"audit_log", "aml_messages", "events", "calls"} <= {c["table_name"] for c in columns}
    for col in columns:
        sql = (f'SELECT count(*) FROM "{col["table_name"]}" '  # noqa: S608 (catalogue names)
               f'WHERE strpos("{col["column_name"]}"::text, $1) > 0')
        for needle in needles:
            if await db.fetchval(sql, needle):
                found.append(f"{col['table_name']}.{col['column_name']}: {needle}")
    return found


async def test_after_a_purge_no_table_holds_the_callers_number_imsi_imei_or_raw_text(
        client: TestClient, db: asyncpg.Connection, database_url: str) -> None:
    rng = random.Random()
    phone = "0857" + "".join(rng.choices("0123456789", k=8))
    imsi = "51011" + "".join(rng.choices("0123456789", k=10))
    imei = "35693" + "".join(rng.choices("0123456789", k=10))
    raw = _aml_sms(imsi, imei)
    await _log_personal_data(client, phone, imsi, imei, raw)
    needles = [phone, phone[1:], imsi, imei, raw, raw[:-9]]
    before = await _where_found(db, needles)
    # The intake really stored it (else the search below proves nothing).
    assert {"aml_messages.raw", "calls.caller_phone", "events.data",
            "idempotency_keys.response"} <= {f.split(":")[0] for f in before}
    assert not [f for f in before if f.startswith("audit_log.")]
    for sql in BACKDATE_SQL:
        await db.execute(sql)
    out = await run_purge(database_url)
    assert "aml_messages=3" in out and "calls=2" in out and "incidents=2" in out
    assert await _where_found(db, needles) == []
    # The purge is on record, without the values it removed.
    row = await db.fetchrow("SELECT before, after FROM audit_log WHERE action = 'purge' "
                            "ORDER BY id DESC LIMIT 1")
    assert row["before"] is None and orjson.loads(row["after"])["rows"]["aml_messages"] == 3


async def test_supervisors_read_audit_images_without_aml_text_or_device_ids(
        client: TestClient, db: asyncpg.Connection) -> None:
    imsi, imei = "510109876543210", "356938035600001"
    fix = await post_json(client, "/api/v1/aml",
                          {"sender": "085700000112", "text": _aml_sms(imsi, imei)}, 201)
    page = await _get(client, f"/api/v1/audit?subject_type=aml_messages&subject_id={fix['id']}",
                      await bearer(db, "supervisor", name="p-supervisor"))
    rows = page["items"]  # type: ignore[index]
    assert any(r["action"] == "insert" and r["after"]["status"] == "held" for r in rows)
    text = str(rows)
    assert imsi not in text and imei not in text and "A\"ML" not in text
    assert "085700000112" not in text
