"""A fixed corpus of hostile and clumsy requests: each is refused with a 4xx whose JSON
body names the field, nothing is stored or changed, and the dispatcher keeps serving.

The cases are the ones found against a running service: a location fix of year 1
that stopped automatic dispatch, unbounded times that broke every statistics
query, NUL bytes that PostgreSQL refuses in text, and ids written with digits
that are not ASCII or do not fit a bigint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import (
    KANIGORO,
    WLINGI,
    Console,
    bearer,
    create_incident,
    create_unit,
    get_json,
)

BIG = 2**63  # one past the largest bigint
YEAR_1 = "0001-01-01T00:00:00Z"
YEAR_9999 = "9999-12-31T23:59:59.999999Z"
FROM_YEAR_1 = "0001-01-01T00:00:00%2B14:00"
TO_YEAR_9999 = "9999-12-31T23:59:59-14:00"
STATS = ("/api/v1/stats/response-times", "/api/v1/stats/calls",
         "/api/v1/reports/response-times?group=day", "/api/v1/reports/histogram",
         "/api/v1/reports/incidents.csv")
PHONE = "081234567890"
# Tables a refused request must leave exactly as they were.
TABLES = ("incidents", "units", "assignments", "calls", "aml_messages", "audit_log", "users",
          "sessions", "idempotency_keys")


@dataclass(frozen=True)
class Case:
    """One request; ``{unit}`` and ``{incident}`` in the path are filled in."""

    name: str
    method: str
    path: str
    json: Any = None
    form: bytes | None = None
    status: int = 422
    field: str = ""
    # An AML message is the one refusal that is kept: (reason code, field).
    aml_kept: str | None = None


def _ms_now() -> str:
    return str(int(datetime.now(UTC).timestamp() * 1000))


def _aml_form(**fields: str) -> bytes:
    base = {"v": "1", "device_number": PHONE, "location_latitude": "-8.1",
            "location_longitude": "112.2", "location_accuracy": "10",
            "location_time": "{now_ms}", "location_source": "gps"}
    return "&".join(f"{k}={v}" for k, v in (base | fields).items()).encode()


def _sms(**fields: str) -> dict[str, str]:
    top = "{top}"
    parts = {"lt": "-8.10000", "lg": "+112.20000", "rd": "50", "top": top, "lc": "68",
             "pm": "G"} | fields
    return {"sender": PHONE, "text": 'A"ML=1;' + ";".join(f"{k}={v}" for k, v in parts.items())}


def with_length(text: str) -> str:
    """An AML SMS ending in ``;ml=N`` where N is the whole message's length."""
    for digits in range(1, 5):
        total = len(text) + len(";ml=") + digits
        if len(str(total)) == digits:
            return f"{text};ml={total}"
    raise AssertionError("message too long")


NEW_INCIDENT = {"caller_phone": PHONE, "category": "medis", "priority": 1,
                "location": {"lat": WLINGI[0], "lon": WLINGI[1]}}
NEW_UNIT = {"callsign": "AMB-NEW", "unit_type": "ambulance", "agency": "PSC 119"}

LOCATION_CASES = [
    Case("location at year 1", "PUT", "/api/v1/units/{unit}/location",
         {"lat": -8.1, "lon": 112.2, "at": YEAR_1}, field="at"),
    Case("location at the end of year 9999", "PUT", "/api/v1/units/{unit}/location",
         {"lat": -8.1, "lon": 112.2, "at": YEAR_9999}, field="at"),
    Case("location an hour ahead", "PUT", "/api/v1/units/{unit}/location",
         {"lat": -8.1, "lon": 112.2, "at": "{hour_ahead}"}, field="at"),
    Case("location time without timezone", "PUT", "/api/v1/units/{unit}/location",
         {"lat": -8.1, "lon": 112.2, "at": "2026-12-02T10:00:00"}, field="at"),
    Case("location time as a number", "PUT", "/api/v1/units/{unit}/location",
         {"lat": -8.1, "lon": 112.2, "at": 1764669600}, field="at"),
]

TIME_CASES = [
    Case("call received in year 1", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"call_received_at": YEAR_1}, field="call_received_at"),
    Case("call received in 1970", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"call_received_at": "1970-01-01T00:00:00Z"}, field="call_received_at"),
    Case("call received at offset +14 of year 1", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"call_received_at": "0001-01-01T00:00:00+14:00"},
         field="call_received_at"),
    Case("call received as a number", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"call_received_at": 12345}, field="call_received_at"),
    Case("call rang in 1970", "POST", "/api/v1/calls",
         {"caller_phone": PHONE, "disposition": "prank", "rang_at": "1970-01-01T00:00:00Z"},
         field="rang_at"),
    Case("call answered in year 9999", "POST", "/api/v1/calls",
         {"caller_phone": PHONE, "disposition": "prank", "answered_at": YEAR_9999},
         field="answered_at"),
    *[Case(f"{path} from year 1", "GET", f"{path}{'&' if '?' in path else '?'}from={FROM_YEAR_1}",
           field="from") for path in STATS],
    *[Case(f"{path} to year 9999", "GET", f"{path}{'&' if '?' in path else '?'}to={TO_YEAR_9999}",
           field="to") for path in STATS],
    *[Case(f"{path} numeric to", "GET", f"{path}{'&' if '?' in path else '?'}to=12345",
           field="to") for path in STATS],
    Case("stats to before from", "GET",
         "/api/v1/stats/calls?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", field="to"),
    Case("incident list from year 1", "GET", f"/api/v1/incidents?from={FROM_YEAR_1}",
         field="from"),
    Case("call list to year 9999", "GET", f"/api/v1/calls?to={TO_YEAR_9999}", field="to"),
    Case("audit since without timezone", "GET", "/api/v1/audit?since=2026-01-01T00:00:00",
         field="since"),
    Case("AML location_time in year 33658", "POST", "/api/v1/aml",
         form=_aml_form(location_time="999999999999999"), aml_kept="time_in_future",
         field="location_time"),
    Case("AML location_time of 1970", "POST", "/api/v1/aml",
         form=_aml_form(location_time="1000"), aml_kept="time_too_old", field="location_time"),
    Case("AML SMS top of year 1", "POST", "/api/v1/aml", _sms(top="00010101000000"),
         aml_kept="time_too_old", field="top"),
]

NUL = "\u0000"
NUL_CASES = [
    Case("NUL in the incident address", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"address": f"Jl. Mawar{NUL}"}, field="address"),
    Case("NUL in the incident description", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"description": f"sesak{NUL}napas"}, field="description"),
    Case("NUL in a call note", "POST", "/api/v1/calls",
         {"caller_phone": PHONE, "disposition": "prank", "note": NUL}, field="note"),
    Case("NUL in handover_to", "POST", "/api/v1/calls",
         {"caller_phone": PHONE, "disposition": "handover", "handover_to": f"Polres{NUL}"},
         field="handover_to"),
    Case("NUL in a close note", "POST", "/api/v1/incidents/{incident}/close",
         {"disposition": "selesai", "note": f"done{NUL}"}, field="note"),
    Case("NUL in a unit's agency", "POST", "/api/v1/units",
         NEW_UNIT | {"agency": f"PSC{NUL}119"}, field="agency"),
    Case("NUL in a unit's home station", "POST", "/api/v1/units",
         NEW_UNIT | {"home_station": f"Wlingi{NUL}"}, field="home_station"),
    Case("NUL in an AML SMS", "POST", "/api/v1/aml", _sms(lc=f"6{NUL}8"),
         aml_kept="control_character", field="text"),
    Case("NUL byte in an AML HTTPS body", "POST", "/api/v1/aml",
         form=_aml_form(location_source="gps\x00"), aml_kept="control_character",
         field="location_source"),
    Case("encoded NUL in an AML HTTPS field", "POST", "/api/v1/aml",
         form=_aml_form(device_number="0812%0034567890"), aml_kept="control_character",
         field="device_number"),
    Case("NUL in the login username", "POST", "/api/v1/login",
         {"username": f"admin{NUL}", "password": "x"}, field="username"),
    Case("NUL in category (incidents)", "GET", "/api/v1/incidents?category=medis%00",
         field="category"),
    Case("NUL in category (stats)", "GET", "/api/v1/stats/response-times?category=%00",
         field="category"),
    Case("NUL in type", "GET", "/api/v1/units?type=ambulance%00", field="type"),
    Case("NUL in actor", "GET", "/api/v1/audit?actor=%00", field="actor"),
    Case("NUL in subject_type", "GET", "/api/v1/audit?subject_type=units%00",
         field="subject_type"),
    # Other invisible or control text.
    Case("escape character in an address", "POST", "/api/v1/incidents",
         NEW_INCIDENT | {"address": "Jl. \u001b[31mMawar"}, field="address"),
    Case("newline in a callsign-like single line", "POST", "/api/v1/units",
         NEW_UNIT | {"agency": "PSC\n119"}, field="agency"),
    Case("address of zero-width spaces only", "POST", "/api/v1/incidents",
         {"caller_phone": PHONE, "category": "medis", "priority": 1,
          "address": "\u200b\u200b\u200b"}, field="address"),
    Case("agency of zero-width and blank characters only", "POST", "/api/v1/units",
         NEW_UNIT | {"agency": "\u200b \ufeff\u00a0"}, field="agency"),
    # A field's own pattern holds beside the control-character rule (schemathesis found
    # callsigns like these reaching the database's CHECK).
    Case("callsign of non-ASCII letters", "POST", "/api/v1/units",
         NEW_UNIT | {"callsign": "\u00d6\u0137\u023e\u00f1F"}, field="callsign"),
    Case("empty callsign", "POST", "/api/v1/units", NEW_UNIT | {"callsign": ""},
         field="callsign"),
]

ID_CASES = [
    Case("unit_id of 2^63", "POST", "/api/v1/incidents/{incident}/assignments",
         {"unit_id": BIG}, field="unit_id"),
    Case("replaces_assignment_id of 2^63", "POST", "/api/v1/incidents/{incident}/assignments",
         {"unit_id": 1, "replaces_assignment_id": BIG}, field="replaces_assignment_id"),
    Case("incident_id of 2^63", "POST", "/api/v1/calls",
         {"caller_phone": PHONE, "disposition": "duplicate", "incident_id": BIG},
         field="incident_id"),
    Case("unit_id as a string", "POST", "/api/v1/incidents/{incident}/assignments",
         {"unit_id": "1"}, field="unit_id"),
    *[Case(f"path id {raw}", "GET", f"/api/v1/incidents/{raw}", status=404, field="id")
      for raw in ("%C2%B2", "%E2%91%A0", str(BIG), "-1", "0", "1e3", "%EF%BC%91")],
    Case("superscript unit id in a location update", "PUT", "/api/v1/units/%C2%B2/location",
         {"lat": -8.1, "lon": 112.2}, status=404, field="id"),
    Case("2^63 call id", "GET", f"/api/v1/calls/{BIG}", status=404, field="id"),
    Case("circled digit on take-over", "POST", "/api/v1/incidents/%E2%91%A0/take-over",
         status=404, field="id"),
    Case("limit of a superscript two", "GET", "/api/v1/incidents?limit=%C2%B2", field="limit"),
    Case("limit with an underscore", "GET", "/api/v1/calls?limit=1_0", field="limit"),
    Case("audit subject_id of 2^63", "GET", f"/api/v1/audit?subject_id={BIG}",
         field="subject_id"),
    Case("histogram bin of a circled digit", "GET", "/api/v1/reports/histogram?bin_s=%E2%91%A0",
         field="bin_s"),
]

CORPUS = LOCATION_CASES + TIME_CASES + NUL_CASES + ID_CASES


@dataclass
class World:
    """What the corpus runs against: two ambulances, one of them on an open incident."""

    client: TestClient
    db: asyncpg.Connection
    unit: int  # the available one, the dispatcher's next choice
    incident: int


async def _world(client: TestClient, db: asyncpg.Connection) -> World:
    await create_unit(client, "AMB-BUSY", "ambulance", WLINGI)
    spare = await create_unit(client, "AMB-SPARE", "ambulance", KANIGORO)
    async with Console(client) as console:
        incident = await create_incident(client, WLINGI)
        await console.wait_for(lambda e: e.event == "unit.assigned"
                               and e.data["incident_id"] == incident["id"])
    return World(client, db, spare["id"], incident["id"])


async def snapshot(db: asyncpg.Connection, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every row of the tables a refusal must not touch (events: count and last id, since
    the relay stamps published_at on its own time)."""
    out: dict[str, Any] = {}
    for table in TABLES:
        if table not in skip:
            out[table] = tuple(await db.fetchrow(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {table} t"))
    if "events" not in skip:
        out["events"] = tuple(await db.fetchrow("SELECT count(*), max(id) FROM events"))
    return out


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in names.items():
            value = value.replace("{" + key + "}", sub)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


async def send(world: World, case: Case) -> None:
    """Send ``case``; assert the refusal, its field, and that nothing changed."""
    now = datetime.now(UTC)
    names = {"unit": str(world.unit), "incident": str(world.incident), "now_ms": _ms_now(),
             "top": now.strftime("%Y%m%d%H%M%S"),
             "hour_ahead": (now + timedelta(hours=1)).isoformat()}
    path = _fill(case.path, names)
    skip = ("aml_messages", "events", "audit_log") if case.aml_kept else ()
    before = await snapshot(world.db, skip)
    last_aml = await world.db.fetchval("SELECT coalesce(max(id), 0) FROM aml_messages")
    kwargs: dict[str, Any] = {}
    if case.form is not None:
        kwargs = {"data": _fill(case.form.decode("latin-1"), names).encode("latin-1"),
                  "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    elif case.json is not None:
        body = _fill(case.json, names)
        if "text" in body:
            body["text"] = with_length(body["text"])
        kwargs = {"json": body}
    resp = await world.client.request(case.method, path, **kwargs)
    assert resp.content_type == "application/json", (case.name, await resp.text())
    payload = await resp.json()
    assert resp.status == case.status, (case.name, resp.status, payload)
    assert payload["error"].get("field") == case.field, (case.name, payload)
    assert await snapshot(world.db, skip) == before, case.name
    if case.aml_kept:
        kept = await world.db.fetch("SELECT status, error_code, raw FROM aml_messages "
                                    "WHERE id > $1", last_aml)
        assert [(r["status"], r["error_code"]) for r in kept] == [
            ("rejected", case.aml_kept)], case.name
        assert payload["error"]["code"] == f"aml_{case.aml_kept}"
        assert "\x00" not in kept[0]["raw"]


@pytest.fixture
async def world(client: TestClient, db: asyncpg.Connection) -> World:
    return await _world(client, db)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
async def test_each_case_is_refused_naming_the_field_and_changes_nothing(
        world: World, case: Case) -> None:
    await send(world, case)


async def test_the_dispatcher_keeps_serving_after_every_case(world: World) -> None:
    for case in CORPUS:
        await send(world, case)
    # The unit that received every hostile location update is still the one dispatched.
    async with Console(world.client) as console:
        incident = await create_incident(world.client, KANIGORO)
        [assigned] = await console.wait_for(
            lambda e: e.event == "unit.assigned" and e.data["incident_id"] == incident["id"])
    assert assigned.data["data"]["callsign"] == "AMB-SPARE"
    unit = await get_json(world.client, f"/api/v1/units/{world.unit}")
    assert unit["status"] == "dispatched" and unit["location"] == {
        "lat": KANIGORO[0], "lon": KANIGORO[1]}
    ready = await world.client.get("/readyz")
    assert ready.status == 200
    ranked = await get_json(world.client, f"/api/v1/incidents/{world.incident}/candidates")
    assert ranked["items"], ranked


async def test_a_refused_responder_with_an_odd_unit_id_is_answered_404(
        world: World) -> None:
    """The refusal audit never sees an id it cannot store: the id is refused first."""
    auth = await bearer(world.db, "responder", name="rina", unit_id=world.unit)
    before = await snapshot(world.db)
    for raw in ("%C2%B2", "%E2%91%A0", str(BIG)):
        resp = await world.client.put(f"/api/v1/units/{raw}/location", headers=auth,
                                      json={"lat": -8.1, "lon": 112.2})
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["field"] == "id"
    # Another unit's (valid) id is refused and audited as before.
    resp = await world.client.put(f"/api/v1/units/{world.unit + 1000}/location", headers=auth,
                                  json={"lat": -8.1, "lon": 112.2})
    assert resp.status == 403
    after = await snapshot(world.db)
    assert {k for k in before if before[k] != after[k]} == {"audit_log"}
    refused = await world.db.fetchrow(
        "SELECT actor, action, subject_id FROM audit_log ORDER BY id DESC LIMIT 1")
    assert tuple(refused) == ("rina", "refused", world.unit + 1000)


def test_the_corpus_covers_every_reported_case() -> None:
    nul_places = {c.field for c in NUL_CASES if "NUL" in c.name}
    assert len([c for c in NUL_CASES if "NUL" in c.name]) == 16
    assert nul_places >= {"address", "description", "note", "handover_to", "agency",
                          "home_station", "text", "username", "category", "type", "actor",
                          "subject_type"}
    assert {c.path.split("?")[0] for c in TIME_CASES if c.method == "GET"} >= {
        p.split("?")[0] for p in STATS}


async def test_extreme_stored_times_never_break_a_report(world: World) -> None:
    """Times at the very edges the database allows, and intervals that are negative or
    decades long, are left out of the figures instead of failing or swamping them."""
    db = world.db
    await db.execute("""
        INSERT INTO incidents (caller_phone, category, priority, address, required_types,
                               received_at, logged_by)
        VALUES ('081234567890', 'medis', 1, 'Jl. Lama', '{ambulance}', '2000-01-01Z', 't')""")
    # The dispatched incident: received in 2000, its unit on the way an hour before it was
    # dispatched, on scene at the end of 2099.
    await db.execute("UPDATE incidents SET received_at = '2000-01-01Z' WHERE id = $1",
                     world.incident)
    await db.execute("""
        UPDATE assignments SET en_route_at = dispatched_at - interval '1 hour',
                               on_scene_at = '2099-12-31T23:59:59Z'""")
    await db.execute("""
        INSERT INTO calls (caller_phone, phone_key, disposition, logged_by, rang_at,
                           answered_at)
        VALUES ('081234567890', '081234567890', 'prank', 't', '2000-01-01Z',
                '2099-12-31T23:59:59Z')""")
    period = "from=2000-01-01T00:00:00Z&to=" + (
        datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+", "%2B")
    for path in STATS:
        resp = await world.client.get(f"{path}{'&' if '?' in path else '?'}{period}")
        assert resp.status == 200, (path, await resp.text())
    stats = await get_json(world.client, f"/api/v1/stats/response-times?{period}")
    for interval in stats["intervals"].values():
        assert interval["max"] is None or 0 <= interval["max"] <= 7 * 86400, stats
    calls = await get_json(world.client, f"/api/v1/stats/calls?{period}")
    assert calls["answer_time"]["count"] == 0, calls
