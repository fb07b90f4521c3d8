"""Exchange formats: CAP 1.2 XML and EIDO-style JSON carry the standards' required elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from aiohttp.test_utils import TestClient

from tests.helpers import KANIGORO, create_incident, get_json, post_json
from tests.test_aml import sms

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


async def test_eido_document_for_handover(client: TestClient) -> None:
    await post_json(client, "/api/v1/aml", {"sender": "081255557777",
                                            "text": sms(lat="-8.098500", lon="+112.168000")},
                    201)
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": "081255557777", "disposition": "emergency",
        "incident": {"category": "kecelakaan_lalu_lintas", "priority": 1,
                     "description": "Motor vs mobil"}}, 201)
    eido = await get_json(client, f"/api/v1/incidents/{call['incident_id']}/eido")
    for key in ("eidoMessageIdentifier", "lastUpdateTimestamp", "sendingSystemIdentifier",
                "incidentComponent", "callComponent", "locationComponent"):
        assert key in eido, key
    inc = eido["incidentComponent"]
    assert inc["incidentTrackingIdentifier"].endswith(f":incident:{call['incident_id']}")
    assert inc["incidentStatusCommonRegistryText"] == "HandoverRequested"  # Kota Blitar
    assert inc["incidentTypeCommonRegistryText"] == "Traffic accident"
    [caller] = eido["callComponent"]
    assert caller["callbackNumber"] == "081255557777"
    aml = [loc for loc in eido["locationComponent"] if loc["locationSource"] == "AML"]
    assert aml[0]["uncertaintyRadiusMeters"] == 25.0
    assert {a["agencyIdentifier"] for a in eido["agencyComponent"]} == {"psc119", "polri"}
    assert eido["notesComponent"][0]["noteText"] == "Motor vs mobil"
