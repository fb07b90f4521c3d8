"""Exchange formats: an incident as CAP 1.2 XML (public alert) and as EIDO-style JSON.

CAP 1.2 (OASIS, 2010): the required elements of <alert> (identifier, sender,
sent, status, msgType, scope) and of <info> (category, event, urgency,
severity, certainty), plus an <area> with <areaDesc> and, when the incident
has a position, a <circle> "lat,lon radius_km". Times carry an explicit
offset (WIB, +07:00), as CAP forbids "Z".

The EIDO document (NENA-STA-021) is built by dispatch/core/eido.py; the
tests check it against the JSON Schema kept in tests/eido.schema.json.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from dispatch import keys
from dispatch.core import eido
from dispatch.geodata import area_name
from dispatch.settings import Settings
from dispatch.store import calls as call_sql
from dispatch.store import exchange as ex_sql
from dispatch.store import incidents as inc_sql
from dispatch.store.events import timeline
from dispatch.web.common import connection, json_response, path_id
from dispatch.web.incidents import readable_incident

routes = web.RouteTableDef()
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
WIB = timezone(timedelta(hours=7))
SENDER_NAME = "Blitar Siap 112 (Kominfo Kabupaten Blitar)"
# Priority -> (CAP urgency, CAP severity).
URGENCY = {1: ("Immediate", "Severe"), 2: ("Expected", "Moderate"), 3: ("Expected", "Minor")}


def cap_time(at: datetime) -> str:
    """CAP's dateTime: seconds precision and an explicit offset."""
    return at.astimezone(WIB).replace(microsecond=0).isoformat()


def _area_desc(incident: dict[str, Any]) -> str:
    parts = [incident["address"]] if incident["address"] else []
    if incident.get("desa"):
        parts.append(f"Desa {incident['desa']}")
    if incident["kecamatan"]:
        parts.append(f"Kecamatan {incident['kecamatan']}")
    area = incident.get("handover_to")
    parts.append(area_name(area) if area else
                 {"kota_blitar": "Kota Blitar", "outside_regency": "luar Kabupaten Blitar"}
                 .get(incident["jurisdiction"] or "", "Kabupaten Blitar"))
    return ", ".join(parts)


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    el.text = text
    return el


def cap_alert(incident: dict[str, Any], settings: Settings, radius_km: float) -> bytes:
    """One incident as a CAP 1.2 <alert> document."""
    ET.register_namespace("", CAP_NS)
    category = settings.runcards.categories[incident["category"]]
    urgency, severity = URGENCY[incident["priority"]]
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", f"siap112-kab-blitar-incident-{incident['id']}")
    _sub(alert, "sender", settings.calls.cap_sender)
    _sub(alert, "sent", cap_time(incident["logged_at"]))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", "Cancel" if incident["status"] == "closed" else "Alert")
    _sub(alert, "scope", "Public")
    info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
    _sub(info, "language", "id-ID")
    _sub(info, "category", category.cap_category)
    _sub(info, "event", category.label.id)
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", "Observed")
    _sub(info, "senderName", SENDER_NAME)
    _sub(info, "headline", f"{category.label.id}: {_area_desc(incident)}"[:160])
    if incident["description"]:
        _sub(info, "description", incident["description"])
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    _sub(area, "areaDesc", _area_desc(incident))
    if incident["lat"] is not None:
        _sub(area, "circle", f"{incident['lat']:.6f},{incident['lon']:.6f} {radius_km:g}")
    document: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True)
    return document


@dataclass(frozen=True)
class Loaded:
    """An incident with what the exchange documents need about it."""

    incident: dict[str, Any]
    calls: list[dict[str, Any]]
    fixes: list[dict[str, Any]]  # AML fixes with a position, of the incident's calls
    assignments: list[dict[str, Any]]
    events: list[dict[str, Any]]


async def _load(request: web.Request) -> Loaded:
    incident_id = path_id(request)
    async with connection(request) as conn:
        row = await readable_incident(request, conn, incident_id)
        calls = [dict(r) for r in await conn.fetch(call_sql.CALLERS_FOR_INCIDENT_SQL,
                                                   incident_id)]
        aml = await call_sql.aml_for_calls(conn, [c["id"] for c in calls])
        assignments = (await inc_sql.assignments_for(conn, [incident_id]))[incident_id]
        events = await timeline(conn, incident_id)
    fixes = [a for c in calls for a in aml[c["id"]] if a["lat"] is not None]
    return Loaded(row, calls, fixes, assignments, events)


def _radius_km(settings: Settings, fixes: list[dict[str, Any]],
               incident: dict[str, Any] | None = None) -> float:
    """The uncertainty of the incident's own point (a desa's area, a caller's fix), else
    the caller's AML accuracy, else the configured default."""
    radii = [f["radius_m"] for f in fixes if f["radius_m"] is not None]
    if incident is not None and incident.get("radius_m") is not None:
        radii = [incident["radius_m"]]
    return max(min(radii) / 1000, 0.05) if radii else settings.calls.cap_circle_km


@routes.get("/api/v1/incidents/{id}/cap")
async def incident_cap(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    loaded = await _load(request)
    return web.Response(body=cap_alert(loaded.incident, settings,
                                       _radius_km(settings, loaded.fixes, loaded.incident)),
                        content_type="application/xml", charset="utf-8")


@routes.get("/api/v1/incidents/{id}/eido")
async def incident_eido(request: web.Request) -> web.Response:
    """The incident as an EIDO document (NENA-STA-021, dispatch/core/eido.py)."""
    settings = request.app[keys.SETTINGS]
    incident_id = path_id(request)
    async with connection(request) as conn:
        await readable_incident(request, conn, incident_id)
        source = await ex_sql.load_source(conn, incident_id)
    assert source is not None
    return json_response(eido.build(source, settings.runcards, centre=settings.exchange.centre,
                                    centre_label=settings.exchange.centre_label))
