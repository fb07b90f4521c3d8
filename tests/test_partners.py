"""Two real Siap112 centres on this machine (regency and Kota Blitar, two databases,
two stream keys) hand an incident over by EIDO: sent, accepted, dispatched and
closed, each step on the sender's timeline; the receiver down means retries, then
one delivery; a declined handover goes back to the sender's queue."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from dispatch.app import create_app
from dispatch.settings import PartnerSettings, Settings
from tests.helpers import bearer, until, until_db
from tests.test_exchange import SCHEMA

KOTA = (-8.0985, 112.1680)         # inside the Kota Blitar enclave
KOTA_UNIT_AT = (-8.0950, 112.1650)
REGENCY_TOKEN = "regency-to-city-" + "r" * 16   # the regency sends this to the city
CITY_TOKEN = "city-to-regency-" + "c" * 16      # the city sends this to the regency


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Centre:
    name: str
    settings: Settings
    port: int
    db: asyncpg.Connection
    headers: dict[str, str]
    server: TestServer | None = None
    http: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = TestServer(create_app(self.settings), host="127.0.0.1", port=self.port)
        await self.server.start_server()
        self.http = ClientSession(self.url, headers=self.headers)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def call(self, method: str, path: str, expect: int, body: Any = None) -> Any:
        assert self.http is not None
        async with self.http.request(method, path, json=body) as resp:
            payload = await resp.json()
            assert resp.status == expect, (resp.status, payload)
            return payload


def _other_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture
async def city_database(services: tuple[str, str]) -> AsyncIterator[str]:
    admin_url, _ = services
    name = f"siap112_city_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield _other_db(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture
async def centres(make_settings: Callable[..., Settings], db: asyncpg.Connection,
                  city_database: str) -> AsyncIterator[tuple[Centre, Centre]]:
    regency_port, city_port = free_port(), free_port()
    fast = {"retry_initial_s": 0.2, "retry_max_s": 0.8, "poll_interval_s": 0.5,
            "timeout_s": 2.0}
    base = make_settings()
    regency_settings = replace(base, exchange=replace(base.exchange, **fast, partners={
        "kota_blitar": PartnerSettings("kota_blitar", "112 Kota Blitar",
                                       f"http://127.0.0.1:{city_port}", ("35.72",),
                                       token_out=REGENCY_TOKEN, token_in=CITY_TOKEN,
                                       phone="0342112")}))
    city_settings = replace(
        base, database_url=city_database,
        redis=replace(base.redis, stream_key=f"siap112:test:city:{uuid.uuid4().hex[:8]}"),
        exchange=replace(base.exchange, **fast, centre="kota-blitar",
                         centre_label="112 Kota Blitar", partners={
                             "kab_blitar": PartnerSettings(
                                 "kab_blitar", "112 Kabupaten Blitar",
                                 f"http://127.0.0.1:{regency_port}", ("35.05",),
                                 token_out=CITY_TOKEN, token_in=REGENCY_TOKEN)}))
    regency = Centre("regency", regency_settings, regency_port, db, await bearer(db))
    await regency.start()
    city_db = await asyncpg.connect(city_database)
    city = Centre("city", city_settings, city_port, city_db, {})
    await city.start()   # migrates the city's database
    city.headers = await bearer(city_db)
    await city.stop()
    await city.start()
    yield regency, city
    await regency.stop()
    await city.stop()
    await city_db.close()


async def log_kota_call(regency: Centre) -> dict[str, Any]:
    call = await regency.call("POST", "/api/v1/calls", 201, {
        "caller_phone": "081233344455", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1, "address": "Jl. Merdeka 10",
                     "description": "Lansia pingsan di rumah",
                     "location": {"lat": KOTA[0], "lon": KOTA[1]}}})
    incident: dict[str, Any] = call["incident"]
    assert incident["queue_reason"] == "handover_kota_blitar"
    return incident


async def kinds(db: asyncpg.Connection, incident_id: int) -> list[str]:
    return [r["kind"] for r in await db.fetch(
        "SELECT kind FROM events WHERE incident_id = $1 AND kind LIKE 'handover.%' "
        "ORDER BY id", incident_id)]


async def test_handover_sent_accepted_dispatched_closed(centres: tuple[Centre, Centre]
                                                        ) -> None:
    regency, city = centres
    await city.call("POST", "/api/v1/units", 201, {
        "callsign": "AMB-KOTA-1", "unit_type": "ambulance", "agency": "PSC Kota",
        "location": {"lat": KOTA_UNIT_AT[0], "lon": KOTA_UNIT_AT[1]}})
    incident = await log_kota_call(regency)
    partners = await regency.call("GET", "/api/v1/partners", 200)
    assert "token_in" not in str(partners) and partners["partners"][0]["name"] == "kota_blitar"

    handover = await regency.call("POST", f"/api/v1/incidents/{incident['id']}/handover",
                                  202, {"partner": "kota_blitar"})
    assert handover["state"] == "sending"
    waiting = await regency.call("GET", "/api/v1/handovers?open=true", 200)
    assert [h["incident_id"] for h in waiting["handovers"]] == [incident["id"]]
    assert waiting["handovers"][0]["partner_phone"] == "0342112"

    # The city's board: the incident with the caller's callback number, place and notes.
    remote_id = await until_db(city.db, "SELECT incident_id FROM handovers "
                               "WHERE direction = 'in'")
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.delivered'")
    received = await city.call("GET", f"/api/v1/incidents/{remote_id}", 200)
    assert (received["caller_phone"], received["category"], received["priority"],
            received["address"], received["description"], received["status"],
            received["queue_reason"]) == ("081233344455", "medis", 1, "Jl. Merdeka 10",
                                          "Lansia pingsan di rumah", "queued",
                                          "handover_offered")
    assert (round(received["location"]["lat"], 5), round(received["location"]["lon"], 5)) \
        == KOTA
    # The retrieval service: the city pulls the transferred incident, callback number and all.
    async with ClientSession(regency.url, headers={
            "Authorization": f"Bearer {CITY_TOKEN}"}) as partner, \
            partner.get(f"/api/v1/exchange/incidents/{incident['id']}") as resp:
        assert resp.status == 200
        pulled = await resp.json()
    SCHEMA.validate(pulled)
    assert pulled["$id"] == f"urn:emergency:eido:kab-blitar:incident:{incident['id']}"
    assert pulled["callbackComponent"][0]["callBackInformationUri"] == ["tel:081233344455"]
    assert pulled["incidentComponent"]["incidentStatusCommonRegistryText"] == [
        "Active", "TransferRequested"]
    offered = await city.call("GET", "/api/v1/handovers", 200)
    city_handover = offered["handovers"][0]
    assert city_handover["direction"] == "in" and city_handover["state"] == "delivered"

    await city.call("POST", f"/api/v1/handovers/{city_handover['id']}/accept", 200,
                    {"note": "Diterima, PSC Kota berangkat"})
    # Accepted, then the city's dispatcher sends its ambulance: both reach the regency.
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.dispatched' "
                   "AND incident_id = $1", incident["id"])
    event = await regency.db.fetchrow("SELECT data FROM events WHERE kind = "
                                      "'handover.dispatched' AND incident_id = $1",
                                      incident["id"])
    assert json.loads(event["data"])["units"][0]["callsign"] == "AMB-KOTA-1"
    ours = await regency.call("GET", f"/api/v1/incidents/{incident['id']}", 200)
    assert ours["queue_reason"] == "handover_accepted" and ours["status"] == "queued"

    await city.call("POST", f"/api/v1/incidents/{remote_id}/close", 200,
                    {"disposition": "selesai", "note": "Pasien stabil", "confirm": True})
    await until_db(regency.db, "SELECT 1 FROM incidents WHERE id = $1 AND status = 'closed'",
                   incident["id"])
    closed = await regency.call("GET", f"/api/v1/incidents/{incident['id']}", 200)
    assert closed["disposition"] == "diserahkan"
    # An update delivered twice (a lost answer) is applied once.
    seq = await city.db.fetchval("SELECT max(id) FROM exchange_outbox WHERE kind = 'update'")
    async with ClientSession(regency.url, headers={
            "Authorization": f"Bearer {CITY_TOKEN}"}) as partner, partner.post(
                f"/api/v1/exchange/incidents/{incident['id']}/updates", json={
                    "seq": seq, "eido_id": pulled["$id"], "state": "closed",
                    "at": "2026-01-01T00:00:00+07:00"}) as resp:
        assert resp.status == 200 and (await resp.json())["applied"] is False
    assert await kinds(regency.db, incident["id"]) == [
        "handover.requested", "handover.delivered", "handover.accepted",
        "handover.dispatched", "handover.closed"]
    # Every exchange is in the audit log of both centres.
    for centre in (regency, city):
        assert await centre.db.fetchval(
            "SELECT count(*) FROM audit_log WHERE subject_type = 'handovers'") >= 2


async def test_city_down_retries_then_one_delivery(centres: tuple[Centre, Centre]) -> None:
    regency, city = centres
    await city.stop()
    incident = await log_kota_call(regency)
    await regency.call("POST", f"/api/v1/incidents/{incident['id']}/handover", 202,
                       {"partner": "kota_blitar"})
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.delivery_failed'")

    async def retried() -> bool:
        return bool(await regency.db.fetchval(
            "SELECT attempts >= 3 FROM exchange_outbox WHERE kind = 'offer'"))

    await until(retried)
    waiting = await regency.call("GET", "/api/v1/handovers?open=true", 200)
    assert waiting["handovers"][0]["state"] == "sending"
    assert waiting["handovers"][0]["attempts"] >= 3
    assert "ClientConnectorError" in waiting["handovers"][0]["last_error"]

    await city.start()
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.delivered'")
    # The same document delivered again (a crash before marking it) creates nothing new.
    row = await regency.db.fetchrow("SELECT * FROM exchange_outbox WHERE kind = 'offer'")
    await regency.db.execute("UPDATE exchange_outbox SET sent_at = NULL, next_attempt_at = "
                             "now() WHERE id = $1", row["id"])
    await until_db(regency.db, "SELECT sent_at IS NOT NULL FROM exchange_outbox WHERE id = $1",
                   row["id"])
    assert await city.db.fetchval("SELECT count(*) FROM incidents") == 1
    assert await city.db.fetchval("SELECT count(*) FROM handovers") == 1


async def test_operator_falls_back_to_the_phone(centres: tuple[Centre, Centre]) -> None:
    regency, city = centres
    await city.stop()
    incident = await log_kota_call(regency)
    handover = await regency.call("POST", f"/api/v1/incidents/{incident['id']}/handover",
                                  202, {"partner": "kota_blitar"})
    again = await regency.call("POST", f"/api/v1/incidents/{incident['id']}/handover", 409,
                               {"partner": "kota_blitar"})
    assert again["error"]["code"] == "handover_open"
    withdrawn = await regency.call("POST", f"/api/v1/handovers/{handover['id']}/withdraw", 200,
                                   {"note": "Diserahkan lewat telepon"})
    assert withdrawn["state"] == "withdrawn"
    assert await regency.db.fetchval("SELECT count(*) FROM exchange_outbox "
                                     "WHERE sent_at IS NULL") == 0
    back = await regency.call("GET", f"/api/v1/incidents/{incident['id']}", 200)
    assert back["queue_reason"] == "handover_kota_blitar"   # still another centre's
    await city.start()
    assert await city.db.fetchval("SELECT count(*) FROM incidents") == 0


async def test_declined_handover_returns_to_regency_queue(centres: tuple[Centre, Centre]
                                                          ) -> None:
    regency, city = centres
    incident = await log_kota_call(regency)
    await regency.call("POST", f"/api/v1/incidents/{incident['id']}/handover", 202,
                       {"partner": "kota_blitar"})
    handover_id = await until_db(city.db, "SELECT id FROM handovers WHERE direction = 'in'")
    await city.call("POST", f"/api/v1/handovers/{handover_id}/decline", 200,
                    {"note": "Lokasi di luar wilayah kota"})
    await until_db(regency.db, "SELECT 1 FROM events WHERE kind = 'handover.declined'")
    back = await regency.call("GET", f"/api/v1/incidents/{incident['id']}", 200)
    assert back["status"] in {"pending", "queued"}
    assert not (back["queue_reason"] or "").startswith("handover_")
    declined = await regency.db.fetchrow("SELECT data FROM events WHERE kind = "
                                         "'handover.declined'")
    assert json.loads(declined["data"])["note"] == "Lokasi di luar wilayah kota"
    assert [r["status"] for r in await city.db.fetch("SELECT status FROM incidents")] \
        == ["closed"]


async def test_partner_token_reaches_only_the_exchange(centres: tuple[Centre, Centre]
                                                       ) -> None:
    regency, _ = centres
    incident = await log_kota_call(regency)
    async with ClientSession(regency.url, headers={
            "Authorization": f"Bearer {CITY_TOKEN}"}) as partner:
        async with partner.get("/api/v1/incidents") as resp:
            assert resp.status == 403
        # Not handed over to it: not retrievable.
        async with partner.get(f"/api/v1/exchange/incidents/{incident['id']}") as resp:
            assert resp.status == 404
        async with partner.post("/api/v1/exchange/incidents", json={"eidoVersion": "1.0"}
                                ) as resp:
            body = await resp.json()
            assert resp.status == 422 and body["error"]["field"] == "$id"
    async with ClientSession(regency.url, headers={
            "Authorization": "Bearer not-a-partner-token-at-all-xx"}) as stranger, \
            stranger.post("/api/v1/exchange/incidents", json={}) as resp:
        assert resp.status == 401


async def test_hostile_eido_documents_get_4xx_and_store_nothing(
        centres: tuple[Centre, Centre]) -> None:
    regency, _ = centres
    incident = await log_kota_call(regency)
    good = await regency.call("GET", f"/api/v1/incidents/{incident['id']}/eido", 200)
    good["$id"] = "urn:emergency:eido:elsewhere:incident:1"

    def variant(**changes: Any) -> dict[str, Any]:
        doc = json.loads(json.dumps(good))
        for path, value in changes.items():
            target = doc
            *parents, last = path.split("__")
            for p in parents:
                target = target[p]
            target[last] = value
        return doc

    cases = [
        variant(notesComponent=5), variant(locationComponent="x"),
        variant(callbackComponent=[{"callBackInformationUri": "tel:0812"}]),
        variant(incidentComponent__incidentCommonPriorityNumber=True),
        variant(incidentComponent__incidentCommonPriorityNumber=11),
        variant(incidentComponent__incidentTypeInternalCode="nope",
                incidentComponent__incidentTypeCommonRegistryText="Alien landing"),
        variant(incidentComponent__incidentCreationTimestamp="2999-01-01T00:00:00+07:00"),
        variant(incidentComponent__incidentCreationTimestamp="yesterday"),
        variant(incidentComponent__locationReference=[{"$ref": "nowhere"}]),
        variant(eidoVersion="2.0"), [], "x",
    ]
    pidf = good["locationComponent"][0]["locationByValue"]
    cases.append(variant(locationComponent=[{**good["locationComponent"][0],
                                             "locationByValue": "<x><!ENTITY a 'b'></x>"}]))
    cases.append(variant(locationComponent=[{**good["locationComponent"][0],
                                             "locationByValue": pidf.replace("-8.0985", "-98")}]))
    async with ClientSession(regency.url, headers={
            "Authorization": f"Bearer {CITY_TOKEN}"}) as partner:
        for doc in cases:
            async with partner.post("/api/v1/exchange/incidents", json=doc) as resp:
                body = await resp.json()
                assert resp.status == 422, (doc, resp.status, body)
                assert body["error"]["code"] == "eido_invalid" and body["error"]["field"]
        # NUL and control characters in free text are kept readable, not refused by SQL.
        nul = variant(notesComponent=[{**good["notesComponent"][0], "noteText": "a\x00b"}]
                      if good["notesComponent"] else [{"$id": "n", "noteText": "a\x00b",
                                                       "lastUpdateTimestamp":
                                                       good["lastUpdateTimestamp"]}])
        async with partner.post("/api/v1/exchange/incidents", json=nul) as resp:
            assert resp.status == 201, await resp.text()
    assert await regency.db.fetchval("SELECT count(*) FROM handovers WHERE direction = 'in'") == 1
    assert await regency.db.fetchval(
        "SELECT description FROM incidents WHERE id = (SELECT incident_id FROM handovers "
        "WHERE direction = 'in')") == "a\\u0000b"
