"""EIDO documents (NENA-STA-021.1a-2022, Emergency Incident Data Object), JSON form.

Component and field names follow the standard's data types: every component
carries the common prologue (``$id``, ``lastUpdateTimestamp``,
``updatedByAgencyReference``); the document holds ``eidoVersion``,
``incidentComponent``, ``callComponent``, ``callbackComponent``,
``locationComponent`` (a PIDF-LO point in ``locationByValue``),
``notesComponent``, ``agencyComponent`` and ``emergencyResourceComponent``.
Pure functions: :func:`build` from an incident's rows, :func:`parse` back to the
fields an incident is created from (export, import, the same incident).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch.core.bounds import printable
from dispatch.core.runcards import RunCards

EIDO_VERSION = "1.0"
PIDF_NS = "urn:ietf:params:xml:ns:pidf"
GML_NS = "http://www.opengis.net/gml"
GP_NS = "urn:ietf:params:xml:ns:pidf:geopriv10"
GS_NS = "http://www.opengis.net/pidflo/1.0"
METRES = "urn:ogc:def:uom:EPSG::9001"
# Our priorities 1 (highest) … 3 on the standard's 0 … 10 scale (10 highest).
COMMON_PRIORITY = {1: 9, 2: 6, 3: 3}
# Unit status (dispatch/core/lifecycle.py) -> NENA Primary Unit Status registry text.
UNIT_STATUS = {"dispatched": "Dispatched", "acknowledged": "Dispatched",
               "en_route": "Enroute", "on_scene": "OnScene", "transporting": "Transporting",
               "at_hospital": "AtHospital", "ended": "Available"}
# Unit types of the run cards -> urn:emergency:service:responder agency types.
RESPONDER = {"ambulance": "ems", "fire": "fire", "police": "police", "rescue": "sar"}


class EidoError(ValueError):
    """A document that cannot become an incident; ``field`` names where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def stamp(at: datetime) -> str:
    """NENA timestamps: ISO 8601 with an explicit offset."""
    return at.isoformat()


def eido_id(centre: str, incident_id: int) -> str:
    return f"urn:emergency:eido:{centre}:incident:{incident_id}"


def status_text(incident: dict[str, Any], handover_state: str | None = None) -> list[str]:
    """Incident Status registry text(s) for the incident."""
    if incident["status"] == "closed":
        return ["Closed"]
    if handover_state in {"sending", "delivered"} or \
            (incident["queue_reason"] or "").startswith("handover_"):
        return ["Active", "TransferRequested"]
    return ["Active", "Dispatched"] if incident["status"] == "dispatched" else ["Active"]


def pidf_point(lat: float, lon: float, radius_m: float | None = None) -> str:
    """A PIDF-LO document (RFC 4119/5491) holding a WGS 84 point, or a circle around it
    when its uncertainty is known."""
    ET.register_namespace("", PIDF_NS)
    ET.register_namespace("gml", GML_NS)
    ET.register_namespace("gp", GP_NS)
    ET.register_namespace("gs", GS_NS)
    presence = ET.Element(f"{{{PIDF_NS}}}presence", {"entity": "pres:incident@siap112"})
    tup = ET.SubElement(presence, f"{{{PIDF_NS}}}tuple", {"id": "location"})
    status = ET.SubElement(tup, f"{{{PIDF_NS}}}status")
    geopriv = ET.SubElement(status, f"{{{GP_NS}}}geopriv")
    info = ET.SubElement(geopriv, f"{{{GP_NS}}}location-info")
    srs = {"srsName": "urn:ogc:def:crs:EPSG::4326"}
    if radius_m is None:
        shape = ET.SubElement(info, f"{{{GML_NS}}}Point", srs)
    else:
        shape = ET.SubElement(info, f"{{{GS_NS}}}Circle", srs)
    ET.SubElement(shape, f"{{{GML_NS}}}pos").text = f"{lat:.7f} {lon:.7f}"
    if radius_m is not None:
        ET.SubElement(shape, f"{{{GS_NS}}}radius", {"uom": METRES}).text = f"{radius_m:g}"
    return ET.tostring(presence, encoding="unicode")


def parse_pidf_point(text: str) -> tuple[float, float]:
    """(lat, lon) of a PIDF-LO point; EidoError when there is none."""
    if len(text) > 20000 or "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise EidoError("locationByValue must be a plain PIDF-LO document", "locationByValue")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise EidoError(f"locationByValue is not XML: {exc}", "locationByValue") from None
    pos = root.find(f".//{{{GML_NS}}}pos")
    try:
        assert pos is not None and pos.text
        lat_s, lon_s = pos.text.split()
        lat, lon = float(lat_s), float(lon_s)
    except (AssertionError, ValueError):
        raise EidoError("locationByValue holds no gml:pos 'lat lon'", "locationByValue") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise EidoError("locationByValue's position is off the globe", "locationByValue")
    return lat, lon


@dataclass(frozen=True)
class Source:
    """What :func:`build` reads about one incident."""

    incident: dict[str, Any]
    calls: list[dict[str, Any]]
    fixes: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    updated_at: datetime
    handover_state: str | None = None


def build(src: Source, runcards: RunCards, *, centre: str, centre_label: str) -> dict[str, Any]:
    """One incident as an EIDO document."""
    inc = src.incident
    ref = eido_id(centre, inc["id"])
    at = stamp(src.updated_at)
    agency_ref = f"{ref}:agency:{centre}"
    prologue = {"lastUpdateTimestamp": at, "updatedByAgencyReference": {"$ref": agency_ref}}

    def component(kind: str, key: object, **fields: Any) -> dict[str, Any]:
        return {"$id": f"{ref}:{kind}:{key}", **prologue, **fields}

    category = runcards.categories[inc["category"]]
    locations: list[dict[str, Any]] = []
    if inc["lat"] is not None:
        locations.append(component(
            "location", "incident", locationTypeDescriptionRegistryText="Incident",
            locationByValue=pidf_point(inc["lat"], inc["lon"], inc.get("radius_m")),
            locationDescriptionText=inc["address"],
            areaCode=inc.get("handover_to") or inc.get("kecamatan_code"),
            jurisdiction=inc.get("jurisdiction")))
    elif inc["address"]:
        locations.append(component("location", "incident",
                                   locationTypeDescriptionRegistryText="Incident",
                                   locationDescriptionText=inc["address"]))
    locations += [component("location", f"aml-{f['id']}",
                            locationTypeDescriptionRegistryText="Caller",
                            locationByValue=pidf_point(f["lat"], f["lon"], f["radius_m"]),
                            locationDescriptionText=f"AML ({f['method']})")
                  for f in src.fixes]
    callbacks = [component("callback", c["id"],
                           callBackInformationUri=[f"tel:{c['caller_phone']}"])
                 for c in src.calls]
    calls = [component("call", c["id"], callStateRegistryText="callEnd",
                       standardPrimaryCallType="Emergency", direction="incoming",
                       callStartTimestamp=stamp(c["rang_at"] or c["logged_at"]),
                       answerDate=stamp(c["answered_at"]) if c["answered_at"] else None,
                       callbackReference=[{"$ref": f"{ref}:callback:{c['id']}"}])
             for c in src.calls]
    if not calls:  # an incident typed in without a logged call still has its caller
        callbacks = [component("callback", "reporter",
                               callBackInformationUri=[f"tel:{inc['caller_phone']}"])]
        calls = [component("call", "reporter", callStateRegistryText="callEnd",
                           standardPrimaryCallType="Emergency", direction="incoming",
                           callStartTimestamp=stamp(inc["received_at"]), answerDate=None,
                           callbackReference=[{"$ref": f"{ref}:callback:reporter"}])]
    notes = [component("notes", "description", noteDateTimeStamp=stamp(inc["logged_at"]),
                       noteText=inc["description"])] if inc["description"] else []
    agencies = [component("agency", centre, agencyRoleDescriptionRegistryText=["CallReceiving"],
                          agencyType=["urn:emergency:service:responder.psap"],
                          agencyName=centre_label, incidentOwningAgencyIndicator=True)]
    agencies += [component("agency", code,
                           agencyRoleDescriptionRegistryText=["Responding"],
                           agencyType=sorted({f"urn:emergency:service:responder."
                                              f"{RESPONDER.get(t, 'other')}"
                                              for t in runcards.agencies[code].unit_types}),
                           agencyName=runcards.agencies[code].label.id,
                           incidentOwningAgencyIndicator=False)
                 for code in sorted({ag for t in inc["required_types"]
                                     for ag in runcards.agencies_for(t)})]
    resources = [component(
        "resource", a["id"] if "id" in a else a["callsign"],
        emergencyResourceTypeCommonRegistryText=a["unit_type"].capitalize(),
        emergencyResourceTypeInternalText=a["unit_type"],
        emergencyResourceName=a["callsign"],
        primaryUnitStatusRegistryText=UNIT_STATUS.get(a["status"], "Dispatched"),
        secondaryUnitStatusRegistryText=[], resourceAttributeRegistryText=[],
        unitStatusInternal=[a["status"]],
        eta=stamp(a["dispatched_at"] + timedelta(seconds=a["eta_s"]))
        if a.get("eta_s") is not None else None)
        for a in src.assignments]
    return {
        "$id": ref, **prologue,
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": f"siap112.{centre}",
        "incidentComponent": {
            "$id": f"{ref}:incident", **prologue,
            "incidentTrackingIdentifier": ref,
            "internalIncidentId": str(inc["id"]),
            "incidentTypeCommonRegistryText": category.label.en,
            "incidentTypeInternalCode": category.code,
            "incidentTypeInternalText": category.label.id,
            "incidentStatusCommonRegistryText": status_text(inc, src.handover_state),
            "incidentStatusInternalText": [inc["status"]],
            "incidentCommonPriorityNumber": COMMON_PRIORITY[inc["priority"]],
            "incidentPriorityInternalText": str(inc["priority"]),
            "incidentCreationTimestamp": stamp(inc["received_at"]),
            "locationReference": [{"$ref": loc["$id"]} for loc in locations[:1]],
            "notesReference": [{"$ref": n["$id"]} for n in notes],
        },
        "callComponent": calls,
        "callbackComponent": callbacks,
        "locationComponent": locations,
        "notesComponent": notes,
        "agencyComponent": agencies,
        "emergencyResourceComponent": resources,
    }


@dataclass(frozen=True)
class Imported:
    """The fields a received EIDO document gives the incident it becomes."""

    eido_id: str
    remote_incident_id: int | None
    category: str
    priority: int
    lat: float | None
    lon: float | None
    address: str
    description: str
    caller_phone: str
    received_at: datetime | None


def _items(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects of an array member; EidoError when it is there and not an array of
    objects."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise EidoError(f"{key} must be an array of objects", key)
    return value


def _text(value: object, limit: int) -> str:
    """Text for a column: control characters (but newline and tab) spelt out, cut."""
    return printable(value)[:limit] if isinstance(value, str) else ""


def _get(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise EidoError(f"{where}{key} must be a {kind.__name__}", f"{where}{key}")
    return value


def _priority(number: object) -> int:
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 10:
        raise EidoError("incidentCommonPriorityNumber must be a whole number 0…10",
                        "incidentComponent.incidentCommonPriorityNumber")
    return 1 if number >= 8 else 2 if number >= 5 else 3


def _category(inc: dict[str, Any], runcards: RunCards) -> str:
    code = inc.get("incidentTypeInternalCode")
    if isinstance(code, str) and code in runcards.categories:
        return code
    text = str(inc.get("incidentTypeCommonRegistryText", "")).strip().lower()
    for cat in runcards.categories.values():
        if cat.label.en.lower() == text:
            return cat.code
    raise EidoError(f"no run card for incident type {text!r}",
                    "incidentComponent.incidentTypeCommonRegistryText")


def _caller(doc: dict[str, Any]) -> str:
    for cb in _items(doc, "callbackComponent"):
        uris = cb.get("callBackInformationUri")
        for uri in uris if isinstance(uris, list) else []:
            if isinstance(uri, str) and uri.startswith("tel:"):
                number = uri.removeprefix("tel:")
                digits = number.removeprefix("+")
                if digits.isdigit() and 3 <= len(digits) <= 15:
                    return number
    raise EidoError("callbackComponent needs a tel: callBackInformationUri (3-15 digits)",
                    "callbackComponent")


def parse(doc: object, runcards: RunCards, now: datetime | None = None) -> Imported:
    """The incident an EIDO document describes; EidoError naming what is missing.
    ``now``: the creation time must lie within a week before it (and 5 min after)."""
    if not isinstance(doc, dict):
        raise EidoError("an EIDO document is a JSON object", "$")
    ref = _get(doc, "$id", str, "")
    if not 1 <= len(ref) <= 300:
        raise EidoError("$id must be 1…300 characters", "$id")
    if doc.get("eidoVersion") != EIDO_VERSION:
        raise EidoError(f"eidoVersion must be {EIDO_VERSION!r}", "eidoVersion")
    inc = _get(doc, "incidentComponent", dict, "")
    locations = {str(loc.get("$id")): loc for loc in _items(doc, "locationComponent")}
    refs = _items(inc, "locationReference")
    loc = locations.get(str(refs[0].get("$ref")), {}) if refs else {}
    lat = lon = None
    if isinstance(loc.get("locationByValue"), str):
        lat, lon = parse_pidf_point(loc["locationByValue"])
    address = _text(loc.get("locationDescriptionText"), 500)
    notes = [n.get("noteText") for n in _items(doc, "notesComponent")]
    description = _text("\n".join(n for n in notes if isinstance(n, str)), 4000)
    if lat is None and not address:
        raise EidoError("the incident's location needs a position or a description",
                        "locationComponent")
    received: datetime | None = None
    if isinstance(inc.get("incidentCreationTimestamp"), str):
        try:
            received = datetime.fromisoformat(inc["incidentCreationTimestamp"])
        except ValueError:
            raise EidoError("incidentCreationTimestamp is not ISO 8601",
                            "incidentComponent.incidentCreationTimestamp") from None
        if received.utcoffset() is None:
            raise EidoError("incidentCreationTimestamp needs an offset",
                            "incidentComponent.incidentCreationTimestamp")
        now = now or datetime.now(UTC)
        if not now - timedelta(days=7) <= received <= now + timedelta(minutes=5):
            raise EidoError("incidentCreationTimestamp must lie within the last 7 days",
                            "incidentComponent.incidentCreationTimestamp")
    internal = inc.get("internalIncidentId")
    remote = int(internal) if isinstance(internal, str) and internal.isdigit() \
        and len(internal) <= 18 else None
    return Imported(eido_id=ref, remote_incident_id=remote, category=_category(inc, runcards),
                    priority=_priority(inc.get("incidentCommonPriorityNumber")),
                    lat=lat, lon=lon, address=address, description=description,
                    caller_phone=_caller(doc), received_at=received)
