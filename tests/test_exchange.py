"""Exchange formats: CAP 1.2 XML and EIDO-style JSON carry the standards' required elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from dispatch.core.eido import parse as eido_parse
from dispatch.settings import load_settings
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, bearer, create_incident, get_json, post_json, until_db
from tests.test_aml import sms

# The EIDO shape of NENA-STA-021.1a-2022; its sources are named in the file itself.
SCHEMA = Draft202012Validator(
    __import__("json").loads((Path(__file__).parent / "eido.schema.json").read_text()))
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
CAP_CATEGORIES = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                  "Transport", "Infra", "CBRNE", "Other"}


def text(el: ET.Element, path: str) -> str:
    found = el.find(path, NS)
    assert found is not None and found.text, f"missing {path}"
    return found.text


async def test_cap_alert_has_every_required_element(client: TestClient) -> None:
    incident = await create_incident(client, KANIGORO, category="kebakaran", priority=1,
                                     address="Jl. Raya Kanigoro 12",
                                     description="Rumah terbakar")
    resp = await client.get(f"/api/v1/incidents/{incident['id']}/cap")
    assert resp.status == 200 and resp.content_type == "application/xml"
    root = ET.fromstring(await resp.read())
    assert root.tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"
    assert text(root, "cap:identifier") == f"siap112-kab-blitar-incident-{incident['id']}"
    assert "@" in text(root, "cap:sender")
    sent = text(root, "cap:sent")
    assert datetime.fromisoformat(sent).utcoffset() is not None and "Z" not in sent
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Public"
    info = root.find("cap:info", NS)
    assert info is not None
    assert text(info, "cap:category") == "Fire" and text(info, "cap:category") in CAP_CATEGORIES
    assert text(info, "cap:event") == "Kebakaran"
    assert (text(info, "cap:urgency"), text(info, "cap:severity"),
            text(info, "cap:certainty")) == ("Immediate", "Severe", "Observed")
    area = info.find("cap:area", NS)
    assert area is not None
    assert "Kecamatan Kanigoro" in text(area, "cap:areaDesc")
    centre, radius = text(area, "cap:circle").split(" ")
    lat, lon = (float(v) for v in centre.split(","))
    assert (round(lat, 4), round(lon, 4)) == KANIGORO and float(radius) == 0.5


async def test_cap_circle_uses_the_callers_aml_accuracy(client: TestClient) -> None:
    await post_json(client, "/api/v1/aml", {"sender": "081255556666", "text": sms(rd="120")},
                    201)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081255556666", "disposition": "emergency",
        "incident": {"category": "medis", "priority": 2}}, 201)
    resp = await client.get(f"/api/v1/incidents/{call['incident_id']}/cap")
    root = ET.fromstring(await resp.read())
    assert text(root, "cap:info/cap:area/cap:circle").endswith(" 0.12")
    assert text(root, "cap:info/cap:urgency") == "Expected"


async def test_cap_for_unknown_incident_is_404(client: TestClient) -> None:
    resp = await client.get("/api/v1/incidents/424242/cap")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_eido_document_follows_the_standard(client: TestClient) -> None:
    await post_json(client, "/api/v1/aml", {"sender": "081255557777",
                                            "text": sms(lat="-8.098500", lon="+112.168000")},
                    201)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081255557777", "disposition": "emergency",
        "incident": {"category": "kecelakaan_lalu_lintas", "priority": 1,
                     "description": "Motor vs mobil"}}, 201)
    eido = await get_json(client, f"/api/v1/incidents/{call['incident_id']}/eido")
    SCHEMA.validate(eido)
    assert eido["eidoVersion"] == "1.0"
    components = [eido["incidentComponent"], *eido["callComponent"],
                  *eido["callbackComponent"], *eido["locationComponent"],
                  *eido["notesComponent"], *eido["agencyComponent"]]
    assert all(c["$id"] and c["lastUpdateTimestamp"] for c in components)
    assert len({c["$id"] for c in components}) == len(components)
    inc = eido["incidentComponent"]
    assert inc["incidentTrackingIdentifier"].endswith(f":incident:{call['incident_id']}")
    assert inc["incidentStatusCommonRegistryText"] == ["Active", "TransferRequested"]
    assert inc["incidentTypeCommonRegistryText"] == "Traffic accident"
    assert inc["incidentCommonPriorityNumber"] == 9
    assert eido["callbackComponent"][0]["callBackInformationUri"] == ["tel:081255557777"]
    caller = [loc for loc in eido["locationComponent"]
              if loc["locationTypeDescriptionRegistryText"] == "Caller"]
    circle = ET.fromstring(caller[0]["locationByValue"])
    radius = circle.find(".//{http://www.opengis.net/pidflo/1.0}radius")
    assert radius is not None and radius.text == "25"
    assert {a["agencyRoleDescriptionRegistryText"][0] for a in eido["agencyComponent"]} \
        == {"CallReceiving", "Responding"}
    assert eido["notesComponent"][0]["noteText"] == "Motor vs mobil"


async def test_eido_round_trip_gives_the_same_incident(client: TestClient,
                                                       db: asyncpg.Connection) -> None:
    await post_json(client, "/api/v1/units", {
        "callsign": "AMB-01", "unit_type": "ambulance", "agency": "PSC",
        "location": {"lat": KANIGORO[0] + 0.01, "lon": KANIGORO[1]}}, 201)
    incident = await create_incident(client, KANIGORO, category="kebakaran", priority=2,
                                     address="Jl. Raya Kanigoro 12",
                                     description="Rumah terbakar\nDua orang di dalam")
    await until_db(db, "SELECT 1 FROM events WHERE kind = 'unit.assigned'")
    eido = await get_json(client, f"/api/v1/incidents/{incident['id']}/eido")
    SCHEMA.validate(eido)
    [resource] = eido["emergencyResourceComponent"]
    assert resource["emergencyResourceName"] == "AMB-01"
    assert resource["primaryUnitStatusRegistryText"] == "Dispatched"
    assert datetime.fromisoformat(resource["eta"]) > datetime.fromisoformat(
        resource["lastUpdateTimestamp"]) - timedelta(minutes=1)
    back = eido_parse(eido, load_settings(env={}).runcards)
    assert (back.category, back.priority, round(back.lat or 0, 6), round(back.lon or 0, 6),
            back.address, back.description, back.caller_phone) == (
        "kebakaran", 2, KANIGORO[0], KANIGORO[1], "Jl. Raya Kanigoro 12",
        "Rumah terbakar\nDua orang di dalam", "081234567890")
    assert back.received_at == datetime.fromisoformat(incident["received_at"])
    assert back.remote_incident_id == incident["id"]


async def test_eido_schema_rejects_what_the_standard_requires() -> None:
    broken = {"$id": "x", "lastUpdateTimestamp": "2025-02-01T10:00:00+07:00",
              "eidoVersion": "1.0",
              "incidentComponent": {"$id": "y", "lastUpdateTimestamp": "2025-02-01 10:00",
                                    "incidentTypeCommonRegistryText": "Fire"}}
    errors = list(SCHEMA.iter_errors(broken))
    assert [list(e.absolute_path) for e in errors] == [["incidentComponent",
                                                        "lastUpdateTimestamp"]]
    del broken["incidentComponent"]
    assert "'incidentComponent' is a required property" in str(
        next(SCHEMA.iter_errors(broken)).message)


async def test_eido_callback_number_is_masked_for_a_supervisor(
        start_app: AppFactory, db: asyncpg.Connection) -> None:
    client = await start_app()
    incident = await create_incident(client, KANIGORO)
    supervisor = await start_app()
    supervisor._session.headers.update(await bearer(db, "supervisor", "sari"))
    eido = await get_json(supervisor, f"/api/v1/incidents/{incident['id']}/eido")
    assert eido["callbackComponent"][0]["callBackInformationUri"] == ["*************890"]
    own = await get_json(client, f"/api/v1/incidents/{incident['id']}/eido")
    assert own["callbackComponent"][0]["callBackInformationUri"] == ["tel:081234567890"]
