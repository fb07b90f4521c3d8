"""AML caller location: SMS v1 and HTTPS form, valid and malformed, matched to calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from dispatch.core.aml import AmlError, parse_https, parse_sms, phone_key
from tests.helpers import get_json, post_json

NOW = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)
# The example message from the AML specification, as quoted in the domain notes.
SPEC_EXAMPLE = ('A"ML=1;lt=+48.902963;lg=+2.516582;rd=1964;top=20220210134654;lc=95;pm=G;'
                'si=234302543446355;ei=357365093474415;mcc=208;mnc=01;ml=131')


def sms(lat: str = "-8.134120", lon: str = "+112.215330", rd: str = "25",
        top: str | None = None, pm: str = "G", header: str = 'A"ML=1',
        ml_delta: int = 0) -> str:
    """An AML SMS for a phone in Kabupaten Blitar, with a correct ml unless told otherwise."""
    top = top or (datetime.now(UTC) - timedelta(seconds=20)).strftime("%Y%m%d%H%M%S")
    body = (f"{header};lt={lat};lg={lon};rd={rd};top={top};lc=68;pm={pm};"
            "si=510101234567890;ei=356938035643809;mcc=510;mnc=10;ml=")
    n = len(body) + 3  # ml is three digits for every message here
    return body + str(n + ml_delta)


# --- the parser -------------------------------------------------------------

def test_the_specification_example_parses() -> None:
    fix = parse_sms(SPEC_EXAMPLE, now=NOW)
    assert (fix.lat, fix.lon, fix.radius_m) == (48.902963, 2.516582, 1964.0)
    assert fix.positioned_at == datetime(2022, 2, 10, 13, 46, 54, tzinfo=UTC)
    assert (fix.confidence, fix.method, fix.mcc, fix.mnc) == (95, "G", "208", "01")
    assert (fix.imsi, fix.imei) == ("234302543446355", "357365093474415")


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        (SPEC_EXAMPLE.replace('A"ML=1', "AML=1"), "bad_header", "header"),
        (SPEC_EXAMPLE.replace('A"ML=1', 'A"ML=2'), "unsupported_version", "header"),
        (SPEC_EXAMPLE.replace(";lc=95", ""), "length_mismatch", "ml"),  # 6 characters lost
        (SPEC_EXAMPLE.replace("lt=+48.902963", "lt=+98.902963"), "out_of_range", "lt"),
        (SPEC_EXAMPLE.replace("lg=+2.516582", "lg=+2,516582"), "bad_coordinate", "lg"),
        (SPEC_EXAMPLE.replace("top=20220210134654", "top=20221310134654"), "bad_time", "top"),
        (SPEC_EXAMPLE.replace("pm=G", "pm=X"), "bad_method", "pm"),
        (SPEC_EXAMPLE.replace("lc=95", "lc=9x"), "bad_number", "lc"),
        (SPEC_EXAMPLE.replace(";mcc=208", ";lt=+1.000"), "duplicate_field", "lt"),
    ],
)
def test_malformed_sms_names_the_problem(text: str, code: str, field: str) -> None:
    with pytest.raises(AmlError) as err:
        parse_sms(text, now=NOW)
    assert (err.value.code, err.value.field) == (code, field)


def test_positioning_time_in_the_future_is_refused_beyond_the_skew() -> None:
    soon = (NOW + timedelta(seconds=30)).strftime("%Y%m%d%H%M%S")
    later = (NOW + timedelta(minutes=10)).strftime("%Y%m%d%H%M%S")
    assert parse_sms(sms(top=soon), now=NOW, skew_s=60).positioned_at > NOW
    with pytest.raises(AmlError, match="later than now") as err:
        parse_sms(sms(top=later), now=NOW, skew_s=60)
    assert err.value.code == "time_in_future"


def test_a_phone_without_a_fix_sends_no_position() -> None:
    text = sms(lat="", lon="", rd="", pm="N")
    fix = parse_sms(text, now=datetime.now(UTC))
    assert fix.method == "N" and not fix.has_position


def test_https_form() -> None:
    ms = str(int((NOW - timedelta(seconds=5)).timestamp() * 1000))
    phone, fix = parse_https({"v": "3", "device_number": "+62 812-3456-7890",
                              "location_latitude": "-8.07912", "location_longitude": "112.3251",
                              "location_accuracy": "14.7", "location_time": ms,
                              "location_source": "gps", "device_imei": "356938035643809"},
                             now=NOW)
    assert phone == "+6281234567890" and phone_key(phone) == "081234567890"
    assert (fix.lat, fix.lon, fix.radius_m, fix.method) == (-8.07912, 112.3251, 14.0, "G")
    with pytest.raises(AmlError) as err:
        parse_https({"v": "3", "device_number": "0812", "location_latitude": "-91",
                     "location_longitude": "112", "location_accuracy": "5",
                     "location_time": ms}, now=NOW)
    assert (err.value.code, err.value.field) == ("out_of_range", "location_latitude")


# --- over HTTP --------------------------------------------------------------

async def test_malformed_message_gets_422_and_is_kept_raw_for_audit(
        client: TestClient, db: asyncpg.Connection) -> None:
    bad = sms(ml_delta=-4)  # the gateway cut the message short, or ml lies
    resp = await client.post("/api/v1/aml", json={"sender": "081234567890", "text": bad})
    body = await resp.json()
    assert resp.status == 422
    assert body["error"]["code"] == "aml_length_mismatch"
    assert body["error"]["field"] == "ml" and "truncated" in body["error"]["message"]
    row = await db.fetchrow("SELECT raw, status, error_code, lat FROM aml_messages "
                            "WHERE id = $1", body["error"]["audit_id"])
    assert (row["raw"], row["status"], row["error_code"], row["lat"]) == (
        bad, "rejected", "length_mismatch", None)
    assert await db.fetchval("SELECT count(*) FROM calls") == 0


async def test_fix_that_arrives_first_is_held_then_attached_to_the_call(
        client: TestClient, db: asyncpg.Connection) -> None:
    held = await post_json(client, "/api/v1/aml",
                           {"sender": "+6285712340000", "text": sms()}, 201)
    assert held["status"] == "held" and held["call_id"] is None
    assert held["location"] == {"lat": -8.13412, "lon": 112.21533}
    assert "imsi" not in held and "imei" not in held  # personal data stays in the table
    waiting = await get_json(client, "/api/v1/aml?phone=085712340000&status=held")
    assert [a["id"] for a in waiting["items"]] == [held["id"]]

    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "085712340000", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1}}, 201)
    # No location typed in: the incident takes the caller's AML position.
    assert call["location"] == held["location"] and call["accuracy_m"] == 25.0
    assert call["location_source"] == "aml"
    assert call["incident"]["location"] == held["location"]
    assert call["incident"]["kecamatan"] == "Kanigoro"
    # The AML fix keeps its own uncertainty as the incident's radius.
    assert (call["incident"]["location_source"], call["incident"]["radius_m"]) == ("aml", 25.0)
    assert (call["radius_m"], call["desa"], call["jurisdiction"]) == (25.0, "Satreyan",
                                                                     "regency")
    [attached] = call["aml"]
    assert (attached["id"], attached["status"], attached["radius_m"]) == (held["id"],
                                                                         "attached", 25.0)
    assert "imsi" not in attached
    stored = await db.fetchrow("SELECT imsi, imei FROM aml_messages WHERE id = $1", held["id"])
    assert stored["imsi"] == "510101234567890"


async def test_fix_that_arrives_after_the_call_is_attached_to_it(
        client: TestClient, db: asyncpg.Connection) -> None:
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081299990000", "disposition": "ghost"}, 201)
    assert call["location"] is None
    ms = str(int((datetime.now(UTC) - timedelta(seconds=3)).timestamp() * 1000))
    resp = await client.post("/api/v1/aml", data={
        "v": "3", "device_number": "+6281299990000", "location_latitude": "-8.0791",
        "location_longitude": "112.3252", "location_accuracy": "40",
        "location_time": ms, "location_source": "wifi", "device_imsi": "510101234567890"})
    fix: dict[str, Any] = await resp.json()
    assert resp.status == 201, fix
    assert (fix["status"], fix["call_id"], fix["method"]) == ("attached", call["id"], "W")
    again = await get_json(client, f"/api/v1/calls/{call['id']}")
    assert again["location"] == {"lat": -8.0791, "lon": 112.3252}
    assert again["accuracy_m"] == 40.0 and again["kecamatan_code"] == "35.05.17"  # Wlingi


async def test_fix_of_another_number_or_outside_the_window_is_not_attached(
        start_app: Any, db: asyncpg.Connection) -> None:
    client = await start_app(calls={"aml_match_window_s": 60.0})
    await post_json(client, "/api/v1/aml", {"sender": "081211112222", "text": sms()}, 201)
    await db.execute("UPDATE aml_messages SET received_at = received_at - interval '2 minutes'")
    await post_json(client, "/api/v1/aml", {"sender": "081233334444", "text": sms()}, 201)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081211112222", "disposition": "prank"}, 201)
    assert call["aml"] == [] and call["location"] is None
    statuses = await db.fetch("SELECT status FROM aml_messages ORDER BY id")
    assert [r["status"] for r in statuses] == ["held", "held"]


async def test_fix_for_a_new_call_is_not_attached_to_the_numbers_earlier_call(
        client: TestClient, db: asyncpg.Connection) -> None:
    earlier = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081255556666", "disposition": "prank"}, 201)
    await db.execute("UPDATE calls SET logged_at = logged_at - interval '5 minutes' "
                     "WHERE id = $1", earlier["id"])
    # The same number calls again, this time for real; its phone sends a fresh fix.
    fix = await post_json(client, "/api/v1/aml", {"sender": "081255556666", "text": sms()}, 201)
    assert (fix["status"], fix["call_id"]) == ("held", None)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081255556666", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1}}, 201)
    assert [a["id"] for a in call["aml"]] == [fix["id"]]
    assert (await get_json(client, f"/api/v1/calls/{earlier['id']}"))["location"] is None


async def test_future_positioning_time_over_http(client: TestClient,
                                                 db: asyncpg.Connection) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y%m%d%H%M%S")
    resp = await client.post("/api/v1/aml", json={"sender": "0812", "text": sms(top=later)})
    body = await resp.json()
    assert resp.status == 422 and body["error"]["code"] == "aml_time_in_future"
    assert await db.fetchval("SELECT status FROM aml_messages") == "rejected"
