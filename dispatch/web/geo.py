"""Geography for consoles and maps: the real boundaries, kecamatan, desa, hospitals.

CONTRACT (what the map and the console read; field names are stable)
====================================================================

``GET /api/v1/geo`` (any signed-in role) returns one JSON object:

- ``estimated`` (bool): the demo positions (hospitals, fleet) are estimates. The
  boundaries are not: they are the Kemendagri boundaries shipped in dispatch/data/wilayah.
- ``kecamatan``: ``[{"code", "name", "lat", "lon"}]`` the 22 kecamatan of the
  regency; lat/lon is the label point (inside the polygon). Kept for older readers.
- ``hospitals``: ``[{"name", "lat", "lon"}]`` (estimates).
- ``outlines``: ``{"regency": [[lat, lon], ...], "kota_blitar": [[lat, lon], ...]}``
  closed outer rings of the largest polygon (older readers; new readers use
  ``boundaries``). ``outlines_estimated`` is false.
- ``boundaries``: simplified for display (about 30 m tolerance), GeoJSON in the
  standard [lon, lat] order, WGS-84:

  - ``source`` (str) and ``license`` ("MIT"): where the shapes come from.
  - ``areas``: a FeatureCollection of the regency, Kota Blitar and the neighbours,
    one Feature each with ``properties``:
    ``{"code": "35.05", "name": "Kabupaten Blitar", "role": "regency" | "kota_blitar"
    | "neighbour", "handover_to": null | "35.72" | ..., "centre": "Command Center 112
    ...", "label_lat", "label_lon"}``.
  - ``kecamatan``: a FeatureCollection, properties
    ``{"code": "35.05.10", "name": "Kanigoro", "area_code": "35.05", "label_lat",
    "label_lon"}`` (Kota Blitar's three kecamatan have area_code "35.72").
  - ``desa``: a FeatureCollection, properties
    ``{"code": "35.05.10.2011", "name": "Sawentar", "kind": "desa" | "kelurahan",
    "kecamatan_code", "kecamatan", "label_lat", "label_lon", "radius_m"}``.
    label_lat/label_lon is the point an incident placed "in the desa" gets (the
    source's centroid, or a point inside when the centroid falls outside);
    radius_m (whole metres, to 10 m) the radius of a circle of the desa's area.

Incidents (``GET /api/v1/incidents``, ``/api/v1/incidents/{id}``, the
``incident.created`` / ``incident.relocated`` event data, duplicate offers) carry:

- ``jurisdiction``: "regency" | "kota_blitar" | "outside_regency" | null
- ``handover_to``: null in the regency, else the Kemendagri code of the area the
  point falls in ("35.72" Kota Blitar, "35.04" Tulungagung, ...); ``handover_centre``
  its 112 centre's name (null when ``handover_to`` is).
- ``kecamatan_code``, ``kecamatan``, ``desa_code``, ``desa``: from exact
  point-in-polygon (Kota Blitar points get Kota Blitar's kecamatan/kelurahan).
- ``location_source``: "desa" | "kecamatan" | "place" | "operator" | "aml" |
  "caller_link" | null
- ``radius_m``: the position's uncertainty in metres (number) or null (unknown).

Calls carry ``location_source``, ``radius_m`` (= ``accuracy_m``), ``jurisdiction``,
``kecamatan_code``, ``kecamatan``, ``desa_code`` and ``desa`` (a call without a
point of its own takes its incident's). A call's ``handover_to`` is NOT a code:
it stays the free-text centre a call-taker handed the call over to.
``GET /api/v1/incidents/{id}/candidates`` adds the incident's ``radius_m`` and
``location_source`` beside the ranked units.

``POST /api/v1/incidents/{id}/location`` moves an open incident to a better fix:
body ``{"lat", "lon", "radius_m", "source", "reevaluate": false}`` (flat; plus
``code`` when ``source`` is desa/kecamatan/place), ``source`` one of the
location_source values; ``reevaluate`` true lets the dispatcher replace an
assigned unit that is not yet en route. Answers the incident (as GET does).

``GET /api/v1/places?q=TEXT&limit=N`` answers ``{"items": [{"kind", "code", "name",
"kecamatan", "lat", "lon", "radius_m"}]}`` best match first; ``kind`` is "desa",
"kelurahan", "kecamatan" or "place" (``code`` is then the place id, radius_m 50).
To place an incident there, send ``{"lat", "lon", "source": kind-or-"desa", "code"}``
as its ``location`` (POST /api/v1/incidents, /api/v1/calls ``incident.location``,
the relocation above); the service looks the point and radius up from the code.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatch.demo_data import HOSPITALS, POSITIONS_ARE_ESTIMATES
from dispatch.geodata import REGENCY_KECAMATAN, boundaries, outlines
from dispatch.web.common import json_response

routes = web.RouteTableDef()


def geo_document() -> dict[str, Any]:
    """The shipped geography: real boundaries; hospitals and the fleet are estimates."""
    return {
        "estimated": POSITIONS_ARE_ESTIMATES,
        "kecamatan": [{"code": k.code, "name": k.name, "lat": round(k.lat, 6),
                       "lon": round(k.lon, 6)} for k in REGENCY_KECAMATAN],
        "hospitals": [{"name": h.name, "lat": h.lat, "lon": h.lon} for h in HOSPITALS],
        "outlines": outlines(),
        "outlines_estimated": False,
        "boundaries": boundaries(),
    }


@routes.get("/api/v1/geo")
async def geo(request: web.Request) -> web.Response:
    return json_response(geo_document())
