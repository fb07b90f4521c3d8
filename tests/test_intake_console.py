"""The call-taker's console over the API: retried call logs, "same incident or new?",
caller history while the number is typed, notes and the timeline, closing with
units still out, and calls announced by the IP-PBX's webhook."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from dispatch.core.duplicates import area_cells, search_box
from dispatch.core.geo import Point
from tests.conftest import AppFactory
from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    get_json,
    is_kind,
    post_json,
)
from tests.test_aml import sms as aml_sms

FIRE: dict[str, Any] = {
    "caller_phone": "081234500001", "disposition": "emergency",
    "incident": {"category": "kebakaran", "priority": 1, "address": "Jl. Merdeka 12",
                 "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}},
}
# 40 m north of the first report: the same fire by the duplicate rule.
NEAR = {"lat": KANIGORO[0] + 0.00036, "lon": KANIGORO[1]}


async def _call(client: TestClient, body: dict[str, Any], key: str | None = None
                ) -> tuple[int, dict[str, Any], Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    resp = await client.post("/api/v1/calls", json=body, headers=headers)
    return resp.status, await resp.json(), resp.headers


async def _count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608


# --- Idempotency-Key -----------------------------------------------------------

async def test_ctrl_enter_twice_with_one_key_logs_one_call_and_one_incident(
        client: TestClient, db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(_call(client, FIRE, key) for _ in range(4)))
    assert {status for status, _, _ in answers} == {201}
    assert len({body["id"] for _, body, _ in answers}) == 1
    assert len({body["incident"]["id"] for _, body, _ in answers}) == 1
    assert sorted(h["Idempotent-Replayed"] for _, _, h in answers) == ["false"] + ["true"] * 3
    assert (await _count(db, "calls"), await _count(db, "incidents")) == (1, 1)
    # The retry is the first answer, field for field.
    _, again, headers = await _call(client, FIRE, key)
    first = next(b for _, b, h in answers if h["Idempotent-Replayed"] == "false")
    assert {k: v for k, v in again.items() if k != "duplicate_candidates"} == \
        {k: v for k, v in first.items() if k != "duplicate_candidates"}
    assert headers["Location"] == f"/api/v1/calls/{first['id']}"


async def test_a_key_reused_for_another_call_is_refused(client: TestClient,
                                                        db: asyncpg.Connection) -> None:
    key = str(uuid.uuid4())
    prank = {"caller_phone": "081234500002", "disposition": "prank"}
    status, first, _ = await _call(client, prank, key)
    assert status == 201 and first["incident"] is None   # no incident: still remembered
    status, again, _ = await _call(client, prank, key)
    assert (status, again["id"]) == (201, first["id"])
    status, refused, _ = await _call(client, dict(prank, note="lain"), key)
    assert (status, refused["error"]["code"]) == (422, "idempotency_key_reused")
    status, bad, _ = await _call(client, prank, "kunci dengan spasi")
    assert (status, bad["error"]["code"]) == (400, "invalid_idempotency_key")
    assert await _count(db, "calls") == 1


async def test_ring_and_answer_times_are_kept_and_checked(client: TestClient) -> None:
    now = datetime.now(UTC)
    rang, answered = now - timedelta(seconds=40), now - timedelta(seconds=31)
    body = {"caller_phone": "081234500003", "disposition": "information",
            "rang_at": rang.isoformat(), "answered_at": answered.isoformat()}
    status, call, _ = await _call(client, body)
    assert status == 201 and call["answer_s"] == 9.0
    status, bad, _ = await _call(client, dict(body, answered_at=(rang - timedelta(seconds=1))
                                              .isoformat()))
    assert status == 422 and "answered_at is before rang_at" in bad["error"]["message"]
    status, bad, _ = await _call(client, dict(body, rang_at=(now + timedelta(hours=1))
                                              .isoformat(), answered_at=None))
    assert status == 422 and bad["error"]["fields"][0]["field"] == "rang_at"


# --- "same incident or a new one?" ----------------------------------------------------

async def test_a_second_report_of_the_same_fire_asks_before_opening_another(
        client: TestClient, db: asyncpg.Connection) -> None:
    await create_unit(client, "DMK-1", "fire", WLINGI)
    status, first, _ = await _call(client, FIRE)
    assert status == 201
    second = {"caller_phone": "081234500004", "disposition": "emergency",
              "incident": {"category": "kebakaran", "priority": 1, "location": NEAR}}
    status, asked, _ = await _call(client, second, str(uuid.uuid4()))
    assert (status, asked["error"]["code"]) == (409, "possible_duplicate")
    [candidate] = asked["error"]["candidates"]
    assert candidate["id"] == first["incident"]["id"]
    assert candidate["address"] == "Jl. Merdeka 12" and candidate["callers"] == 1
    assert 30 < candidate["distance_m"] < 50
    assert (await _count(db, "calls"), await _count(db, "incidents")) == (1, 1)
    # The choice "Kejadian baru": a new incident after all.
    status, new, _ = await _call(client, dict(second, confirm_new=True))
    assert status == 201 and new["incident"]["id"] != first["incident"]["id"]
    assert await _count(db, "incidents") == 2
    # A report far away, or of an unrelated kind, is not asked about.
    far = dict(second, incident={"category": "kebakaran", "priority": 1,
                                 "location": {"lat": WLINGI[0], "lon": WLINGI[1]}})
    assert (await _call(client, far))[0] == 201


async def test_two_callers_of_one_fire_at_one_instant_open_one_incident(
        client: TestClient, db: asyncpg.Connection) -> None:
    reports = [dict(FIRE, caller_phone=f"08123450010{i}") for i in range(3)]
    answers = await asyncio.gather(*(_call(client, r) for r in reports))
    assert sorted(status for status, _, _ in answers) == [201, 409, 409]
    assert await _count(db, "incidents") == 1
    [opened] = [body["incident"]["id"] for status, body, _ in answers if status == 201]
    assert all(body["error"]["candidates"][0]["id"] == opened
               for status, body, _ in answers if status == 409)


def test_reports_either_side_of_a_grid_line_lock_a_common_cell() -> None:
    a, b = Point(-8.129995, 112.215), Point(-8.130005, 112.219999)   # ~500 m apart
    cells_a, cells_b = (area_cells(search_box(p, 300.0)) for p in (a, b))
    assert cells_a != cells_b and set(cells_a) & set(cells_b)
    assert area_cells(search_box(a, 50_000.0)) == ["all"]   # a huge radius: one lock


async def test_a_report_placed_by_its_aml_fix_is_asked_about_too(
        client: TestClient, db: asyncpg.Connection) -> None:
    status, first, _ = await _call(client, FIRE)
    # The second caller's phone sends its AML SMS 15 m from the fire; nothing is typed.
    await post_json(client, "/api/v1/aml", {"sender": "085712340000", "text": aml_sms(
        "-8.134120", "+112.215030")}, 201)
    second = {"caller_phone": "085712340000", "disposition": "emergency",
              "incident": {"category": "kebakaran", "priority": 1}}
    status, asked, _ = await _call(client, second)
    assert (status, asked["error"]["code"]) == (409, "possible_duplicate")
    assert [c["id"] for c in asked["error"]["candidates"]] == [first["incident"]["id"]]
    # The fix is still held for the call, which is then logged as a new incident.
    assert await db.fetchval("SELECT status FROM aml_messages") == "held"
    status, new, _ = await _call(client, dict(second, confirm_new=True))
    assert status == 201 and new["location_source"] == "aml"


async def test_a_linked_caller_keeps_address_and_note_on_the_timeline(
        client: TestClient) -> None:
    status, first, _ = await _call(client, FIRE)
    incident_id = first["incident"]["id"]
    linked = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081234500005", "disposition": "duplicate",
        "incident_id": incident_id, "address": "Gang Melati, belakang masjid",
        "note": "Api sudah sampai atap rumah sebelah", "location": NEAR}, 201)
    items = (await get_json(client, f"/api/v1/incidents/{incident_id}/timeline"))["items"]
    callers = [i for i in items if i["kind"] in {"call", "caller"}]
    assert [(i["kind"], i["call_id"]) for i in callers] == [
        ("call", first["id"]), ("caller", linked["id"])]
    assert callers[1]["address"] == "Gang Melati, belakang masjid"
    assert callers[1]["text"] == "Api sudah sampai atap rumah sebelah"
    assert items[0]["kind"] == "created"
    # The incident's detail carries the same list.
    detail = await get_json(client, f"/api/v1/incidents/{incident_id}")
    assert detail["timeline"] == items


# --- caller history -----------------------------------------------------------------

async def test_caller_history_shows_the_flag_while_the_number_is_typed(
        client: TestClient, db: asyncpg.Connection) -> None:
    number = "0813 5555 0001"
    unknown = await get_json(client, "/api/v1/callers/081355550001")
    assert unknown["calls"] == [] and unknown["open_incidents"] == []
    assert unknown["repeat"]["flagged"] is False
    for disposition in ("prank", "ghost", "prank"):
        await post_json(client, "/api/v1/calls", {"caller_phone": "+6281355550001",
                                                  "disposition": disposition}, 201)
    # Typed again, in another form, nothing saved yet: flagged already.
    history = await get_json(client, f"/api/v1/callers/{number}")
    assert history["phone"] == "081355550001"
    assert [c["disposition"] for c in history["calls"]] == ["prank", "ghost", "prank"]
    repeat = history["repeat"]
    assert (repeat["flagged"], repeat["calls_in_window"], repeat["threshold"]) == (True, 3, 3)
    assert repeat["window_s"] == 7 * 86400 and repeat["blocked"] is False
    # Saving the call records the same count and flag the console showed.
    saved = await post_json(client, "/api/v1/calls", {
        "caller_phone": number, "disposition": "emergency", "incident": {
            "category": "medis", "priority": 2, "address": "Pasar Kanigoro",
            "location": {"lat": WLINGI[0], "lon": WLINGI[1]}}}, 201)
    assert saved["repeat_caller"]["flagged"] is True
    assert saved["repeat_caller"]["prank_or_ghost_calls"] == repeat["calls_in_window"]
    after = await get_json(client, f"/api/v1/callers/{number}")
    assert [i["id"] for i in after["open_incidents"]] == [saved["incident"]["id"]]
    assert after["calls"][0]["address"] == "Pasar Kanigoro"
    assert after["calls"][0]["category"] == "medis"
    # An incident logged directly under the number counts as its own too.
    direct = await create_incident(client, KANIGORO, caller_phone="+62 813-5555-0001")
    listed = await get_json(client, f"/api/v1/callers/{number}")
    assert direct["id"] in [i["id"] for i in listed["open_incidents"]]


async def test_caller_history_refuses_what_is_no_number(client: TestClient,
                                                       db: asyncpg.Connection,
                                                       start_app: AppFactory) -> None:
    for bad in ("12", "08123abc", "0" * 21):
        resp = await client.get(f"/api/v1/callers/{bad}")
        assert resp.status == 422, bad
        assert (await resp.json())["error"]["code"] == "invalid_phone"
    supervisor = await start_app()
    supervisor._session.headers.update(await bearer(db, "supervisor", "sari"))
    resp = await supervisor.get("/api/v1/callers/081355550001")
    assert resp.status == 403   # sees numbers masked: may not look one up


# --- notes, the timeline, closing -------------------------------------------------------

async def test_notes_are_audited_published_and_on_the_timeline(
        client: TestClient, db: asyncpg.Connection, start_app: AppFactory) -> None:
    # The audit log outlives each test's emptied tables (it is append-only): only this
    # test's rows are read, as ids start again at 1.
    began = await db.fetchval("SELECT clock_timestamp()")
    unit = await create_unit(client, "AMB-1", "ambulance", KANIGORO)
    dispatcher = await start_app()
    dispatcher._session.headers.update(await bearer(db, "dispatcher", "night-dispatcher"))
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        await console.wait_for(is_kind("unit.assigned"))
        note = await post_json(dispatcher, f"/api/v1/incidents/{incident['id']}/notes",
                               {"text": "Pelapor: korban\nsudah sadar"}, 201)
        published = await console.wait_for(is_kind("incident.note_added"))
    assert note["note"]["author"] == "night-dispatcher"
    assert note["note"]["text"] == "Pelapor: korban\nsudah sadar"
    assert published[0].data["data"]["note_id"] == note["note"]["id"]
    audit = await db.fetch("SELECT actor, action FROM audit_log WHERE subject_type = "
                           "'incident_notes' AND subject_id = $1 AND at >= $2",
                           note["note"]["id"], began)
    assert [(a["actor"], a["action"]) for a in audit] == [("night-dispatcher", "insert")]
    for status in ("acknowledged", "en_route"):
        await post_json(client, f"/api/v1/units/{unit['id']}/status", {"status": status}, 200)
    asked = await post_json(dispatcher, f"/api/v1/incidents/{incident['id']}/close",
                            {"disposition": "selesai"}, 409)
    assert (asked["error"]["code"], asked["error"]["units"]) == ("units_active", ["AMB-1"])
    await post_json(dispatcher, f"/api/v1/incidents/{incident['id']}/close",
                    {"disposition": "selesai", "note": "Dibawa ke RSUD", "confirm": True}, 200)
    items = (await get_json(client, f"/api/v1/incidents/{incident['id']}/timeline"))["items"]
    kinds = [i["kind"] for i in items]
    assert kinds[0] == "created" and kinds[-1] == "closed"
    assert [i.get("callsign") for i in items if i["kind"] == "unit_assigned"] == ["AMB-1"]
    assert [(i["callsign"], i["status"]) for i in items if i["kind"] == "unit_status"] == [
        ("AMB-1", "dispatched"), ("AMB-1", "acknowledged"), ("AMB-1", "en_route"),
        ("AMB-1", "available")]
    [noted] = [i for i in items if i["kind"] == "note"]
    assert (noted["text"], noted["author"]) == ("Pelapor: korban\nsudah sadar",
                                                "night-dispatcher")
    assert items[-1]["text"] == "Dibawa ke RSUD" and items[-1]["status"] == "selesai"
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)


async def test_bad_notes_are_refused_with_their_field(client: TestClient) -> None:
    incident = await create_incident(client, WLINGI)
    path = f"/api/v1/incidents/{incident['id']}/notes"
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 2001}, {"text": "a\x00b"},
                 {"text": 5}, {}, {"text": "ok", "extra": 1}):
        refused = await post_json(client, path, body, 422)
        assert refused["error"]["code"] == "validation_failed", body
    missing = await post_json(client, "/api/v1/incidents/999999/notes", {"text": "halo"}, 404)
    assert missing["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/incidents/999999/timeline")).status == 404


# --- calls announced by the IP-PBX ---------------------------------------------------

async def _pbx(client: TestClient, db: asyncpg.Connection, start_app: AppFactory
               ) -> TestClient:
    """A client acting as the IP-PBX with its own machine token (role telephony)."""
    pbx = await start_app()
    pbx._session.headers.update(await bearer(db, "telephony", "asterisk-1"))
    return pbx


def _event(event: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"event": event, "call_id": "1701234567.42", "caller": "0812 3450 0009",
            "line": "SIP/trunk-telkom", "at": at.isoformat(), **extra}


async def test_a_ringing_call_reaches_the_consoles_and_one_call_taker_takes_it(
        client: TestClient, db: asyncpg.Connection, start_app: AppFactory) -> None:
    pbx = await _pbx(client, db, start_app)
    rang = datetime.now(UTC) - timedelta(seconds=20)
    siti, budi = await start_app(), await start_app()
    siti._session.headers.update(await bearer(db, "call_taker", "siti"))
    budi._session.headers.update(await bearer(db, "call_taker", "budi"))
    supervisor = await start_app()
    supervisor._session.headers.update(await bearer(db, "supervisor", "sari"))
    async with Console(client) as console, Console(supervisor) as board:
        first = await post_json(pbx, "/api/v1/telephony/events", _event("ringing", rang), 201)
        [ringing] = await console.wait_for(is_kind("telephony.ringing"))
        # The PBX retries when unsure: the same event again changes nothing.
        again = await post_json(pbx, "/api/v1/telephony/events", _event("ringing", rang), 200)
        # A supervisor's stream shows the ringing call with the number masked.
        [seen] = await board.wait_for(is_kind("telephony.ringing"))
    assert seen.data["data"]["caller"] == "*********009"
    assert first["recorded"] is True and again["recorded"] is False
    assert ringing.data["data"]["call_id"] == "1701234567.42"
    assert ringing.data["data"]["caller"] == "081234500009"
    assert ringing.data["data"]["line"] == "SIP/trunk-telkom"
    assert await db.fetchval("SELECT count(*) FROM events WHERE kind = 'telephony.ringing'") == 1
    waiting = await get_json(siti, "/api/v1/telephony/calls")
    assert [c["call_id"] for c in waiting["items"]] == ["1701234567.42"]
    # Two free call-takers press "Terima panggilan" at once: one gets the call.
    answers = await asyncio.gather(
        siti.post("/api/v1/telephony/calls/1701234567.42/claim"),
        budi.post("/api/v1/telephony/calls/1701234567.42/claim"))
    statuses = sorted(r.status for r in answers)
    assert statuses == [200, 409]
    refused = await next(r for r in answers if r.status == 409).json()
    assert refused["error"]["code"] == "already_claimed"
    winner = next(r for r in answers if r.status == 200)
    claimed = await winner.json()
    assert claimed["caller"] == "081234500009" and claimed["rang_at"] is not None
    taker = siti if claimed["claimed_by"] == "siti" else budi
    assert (await taker.post("/api/v1/telephony/calls/1701234567.42/claim")).status == 200
    # Answered on the PBX nine seconds after it rang; the call logged takes both times.
    answered = rang + timedelta(seconds=9)
    await post_json(pbx, "/api/v1/telephony/events",
                    _event("answered", answered, agent=claimed["claimed_by"]), 201)
    call = await post_json(taker, "/api/v1/calls", {
        "caller_phone": "081234500009", "disposition": "information",
        "telephony_call_id": "1701234567.42"}, 201)
    assert call["answer_s"] == 9.0
    assert datetime.fromisoformat(call["rang_at"]) == rang
    twice = await post_json(taker, "/api/v1/calls", {
        "caller_phone": "081234500009", "disposition": "information",
        "telephony_call_id": "1701234567.42"}, 409)
    assert twice["error"]["code"] == "telephony_call_logged"
    await post_json(pbx, "/api/v1/telephony/events", _event("ended", answered), 201)
    assert (await get_json(siti, "/api/v1/telephony/calls"))["items"] == []


async def test_the_telephony_token_reports_calls_and_does_nothing_else(
        client: TestClient, db: asyncpg.Connection, start_app: AppFactory) -> None:
    pbx = await _pbx(client, db, start_app)
    now = datetime.now(UTC)
    assert (await pbx.get("/api/v1/incidents")).status == 403
    assert (await pbx.get("/api/v1/events")).status == 403
    assert (await pbx.post("/api/v1/calls", json={})).status == 403
    # The call-takers' side refuses the machine token, and the PBX's side people.
    assert (await client.post("/api/v1/telephony/events",
                              json=_event("ringing", now))).status == 403
    bad_inputs = [
        (_event("ringing", now, call_id="id dengan spasi"), "call_id"),
        (_event("ringing", now, call_id="x" * 65), "call_id"),
        (_event("ringing", now, caller="bukan nomor"), "caller"),
        (_event("ringing", now, line="L" * 33), "line"),
        (_event("ringing", now + timedelta(hours=1)), "at"),
        (dict(_event("ringing", now), at="kemarin"), "at"),
        (_event("hung_up", now), "event"),
        (_event("ringing", now, secret=True), "secret"),
    ]
    for body, field in bad_inputs:
        refused = await post_json(pbx, "/api/v1/telephony/events", body, 422)
        assert refused["error"]["fields"][0]["field"] == field, body
    await post_json(pbx, "/api/v1/telephony/events", _event("ringing", now), 201)
    early = await post_json(pbx, "/api/v1/telephony/events",
                            _event("answered", now - timedelta(seconds=5)), 422)
    assert early["error"]["code"] == "answered_before_ringing"
    unknown = await client.post("/api/v1/telephony/calls/no-such-call/claim")
    assert unknown.status == 404
    assert (await unknown.json())["error"]["code"] == "unknown_telephony_call"
    logged = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081234500009", "disposition": "test",
        "telephony_call_id": "no-such-call"}, 422)
    assert logged["error"]["code"] == "unknown_telephony_call"
    assert await db.fetchval("SELECT count(*) FROM telephony_calls") == 1
