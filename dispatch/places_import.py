"""Read the centre's places from CSV or GeoJSON; every row checked before any is stored."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import ValidationError

from dispatch.actions import PlaceData
from dispatch.errors import Invalid
from dispatch.web.places_schemas import PlaceIn

# CSV header: name,kind,lat,lon[,aliases][,note][,estimate]; aliases separated by ';'.
CSV_REQUIRED = ("name", "kind", "lat", "lon")
MAX_ROWS = 5000


def to_data(body: PlaceIn) -> PlaceData:
    return PlaceData(name=body.name, aliases=list(body.aliases), kind=body.kind.value,
                     lat=body.location.lat, lon=body.location.lon, estimate=body.estimate,
                     note=body.note)


def _row(raw: dict[str, Any], where: str) -> PlaceData:
    try:
        return to_data(PlaceIn.model_validate(raw))
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{where}: {field}: {first['msg']}", field=field) from e


def _float(text: str, where: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Invalid(f"{where}: {name} {text!r} is not a number", field=name) from None


def parse_csv(text: str) -> list[PlaceData]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise Invalid(f"CSV header lacks {missing}; needs {list(CSV_REQUIRED)}", field="header")
    out = []
    for n, rec in enumerate(reader, start=2):
        where = f"line {n}"
        if None in rec or any(rec.get(c) is None for c in CSV_REQUIRED):
            raise Invalid(f"{where}: wrong number of fields", field="line")
        raw = {"name": rec["name"].strip(), "kind": rec["kind"].strip(),
               "location": {"lat": _float(rec["lat"], where, "lat"),
                            "lon": _float(rec["lon"], where, "lon")},
               "aliases": [a.strip() for a in (rec.get("aliases") or "").split(";")
                           if a.strip()],
               "note": (rec.get("note") or "").strip(),
               "estimate": (rec.get("estimate") or "").strip().lower() in ("1", "true", "ya")}
        out.append(_row(raw, where))
        if len(out) > MAX_ROWS:
            raise Invalid(f"more than {MAX_ROWS} places in one import", field="file")
    return out


def parse_geojson(text: str) -> list[PlaceData]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(f"not JSON: {e}", field="file") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise Invalid("a GeoJSON FeatureCollection is needed", field="features")
    if len(features) > MAX_ROWS:
        raise Invalid(f"more than {MAX_ROWS} places in one import", field="file")
    out = []
    for n, f in enumerate(features):
        where = f"feature {n}"
        geom = f.get("geometry") if isinstance(f, dict) else None
        props = f.get("properties") if isinstance(f, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point" or not isinstance(props, dict):
            raise Invalid(f"{where}: a Point feature with properties is needed", field=where)
        coords = geom.get("coordinates")
        if (not isinstance(coords, list) or len(coords) < 2
                or not all(isinstance(c, (int, float)) for c in coords[:2])):
            raise Invalid(f"{where}: coordinates must be [lon, lat]", field=where)
        aliases = props.get("aliases", [])
        if isinstance(aliases, str):
            aliases = [a.strip() for a in aliases.split(";") if a.strip()]
        raw = {"name": props.get("name"), "kind": props.get("kind"),
               "location": {"lat": float(coords[1]), "lon": float(coords[0])},
               "aliases": aliases, "note": props.get("note", ""),
               "estimate": bool(props.get("estimate", False))}
        out.append(_row(raw, where))
    return out


def parse(text: str, fmt: str) -> list[PlaceData]:
    """The places in a file; ``fmt`` is 'csv' or 'geojson'."""
    items = parse_csv(text) if fmt == "csv" else parse_geojson(text)
    if not items:
        raise Invalid("the file holds no places", field="file")
    return items
