"""The regency's geography from the Kemendagri boundaries shipped in dispatch/data/wilayah.

Source and licence: dispatch/data/wilayah/NOTICE (cahyadsn/wilayah_boundaries, MIT).
Jurisdiction, kecamatan and desa are decided by exact point-in-polygon on the
shipped shapes (shapely, one STRtree per level); the map gets a simplified copy.
Degrees are treated as plane coordinates for containment, which is exact for
a polygon whose edges are the source's straight segments in lon/lat.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from shapely import STRtree
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from dispatch.core.jurisdiction import Area, Jurisdiction, Placement

SOURCE = ("cahyadsn/wilayah_boundaries (Kepmendagri No 300.2.2-2430 Tahun 2025), "
          "MIT License, Copyright (c) 2024 Cahya DSN")
REGENCY_CODE = "35.05"
KOTA_BLITAR_CODE = "35.72"
# Display copies are simplified to about this many degrees (~30 m at the equator).
DISPLAY_TOLERANCE_DEG = 0.0003
M_PER_DEG_LAT = 111_320.0

# The 112 centre that takes over a call in each area that is not ours.
CENTRES = {
    "35.72": "Command Center 112 Kota Blitar",
    "35.03": "Command Center 112 Kabupaten Trenggalek",
    "35.04": "Command Center 112 Kabupaten Tulungagung",
    "35.06": "Command Center 112 Kabupaten Kediri",
    "35.07": "Command Center 112 Kabupaten Malang",
    "35.71": "Command Center 112 Kota Kediri",
    "35.79": "Command Center 112 Kota Batu",
}
# A point in none of the shipped areas (the sea, far away): still not ours.
OUTSIDE_CENTRE = "Command Center 112 kabupaten/kota tetangga"


@dataclass(frozen=True)
class Region:
    """One shipped polygon: an area (kabupaten/kota), a kecamatan or a desa/kelurahan."""

    code: str
    name: str
    geometry: BaseGeometry
    label_lat: float
    label_lon: float
    area_m2: float

    @property
    def radius_m(self) -> int:
        """Radius of the circle of the same area, to 10 m: the uncertainty of 'in this desa'."""
        return int(round(math.sqrt(self.area_m2 / math.pi), -1))

    @property
    def kind(self) -> str:
        """desa or kelurahan, from the Kemendagri code (1xxx kelurahan, 2xxx desa)."""
        return "kelurahan" if self.code.rsplit(".", 1)[-1].startswith("1") else "desa"


def _area_m2(geom: BaseGeometry) -> float:
    lat = geom.centroid.y
    return float(geom.area) * M_PER_DEG_LAT ** 2 * math.cos(math.radians(lat))


def _load(name: str) -> tuple[Region, ...]:
    text = resources.files("dispatch.data.wilayah").joinpath(name).read_text("utf-8")
    regions = []
    for feature in json.loads(text)["features"]:
        p = feature["properties"]
        geom = shape(feature["geometry"])
        lat, lon = p["centroid_lat"], p["centroid_lon"]
        if not geom.contains(ShapelyPoint(lon, lat)):  # a crescent's centroid lies outside
            rp = geom.representative_point()
            lat, lon = rp.y, rp.x
        regions.append(Region(p["kode"], p["nama"], geom, lat, lon, _area_m2(geom)))
    return tuple(sorted(regions, key=lambda r: r.code))


class Level:
    """The regions of one level with an STRtree for point lookups."""

    def __init__(self, regions: tuple[Region, ...]) -> None:
        self.regions = regions
        self.by_code = {r.code: r for r in regions}
        self._tree = STRtree([r.geometry for r in regions])

    def at(self, lat: float, lon: float) -> Region | None:
        """The region that contains the point (on a shared edge: the lower code)."""
        hits = self._tree.query(ShapelyPoint(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        return self.regions[int(min(hits))]


@dataclass(frozen=True)
class Wilayah:
    areas: Level
    kecamatan: Level
    desa: Level


@cache
def wilayah() -> Wilayah:
    """The shipped boundaries, loaded once per process."""
    return Wilayah(Level(_load("areas.geojson")), Level(_load("kecamatan.geojson")),
                   Level(_load("desa.geojson")))


def kecamatan_of(desa_code: str) -> str:
    return desa_code.rsplit(".", 1)[0]


def locate(lat: float, lon: float) -> Placement:
    """Jurisdiction, handover area, kecamatan and desa of a point, by point-in-polygon.

    The levels were simplified one by one by the source, so along a border they
    can disagree by some metres. The finest level that contains the point decides
    and the coarser ones follow from its code: a desa (which gives its kecamatan
    and kabupaten/kota), else a kecamatan, else a kabupaten/kota (a neighbour).
    """
    w = wilayah()
    desa = w.desa.at(lat, lon)
    kec = (w.kecamatan.by_code.get(kecamatan_of(desa.code)) if desa is not None
           else w.kecamatan.at(lat, lon))
    if kec is not None:
        area_code: str | None = kec.code[:5]
    else:
        area = w.areas.at(lat, lon)
        area_code = area.code if area is not None else None
    if area_code == REGENCY_CODE:
        jurisdiction = Jurisdiction.REGENCY
    elif area_code == KOTA_BLITAR_CODE:
        jurisdiction = Jurisdiction.KOTA_BLITAR
    else:
        return Placement(Jurisdiction.OUTSIDE_REGENCY, None, None, handover_to=area_code)
    return Placement(jurisdiction, kec.code if kec else None, kec.name if kec else None,
                     desa_code=desa.code if desa else None, desa=desa.name if desa else None,
                     handover_to=None if jurisdiction is Jurisdiction.REGENCY else area_code)


def centre_name(handover_to: str | None, jurisdiction: str | None) -> str | None:
    """The 112 centre that takes an incident over, or None when it is ours."""
    if jurisdiction in (None, Jurisdiction.REGENCY.value):
        return None
    if handover_to is None:
        return OUTSIDE_CENTRE
    return CENTRES.get(handover_to, OUTSIDE_CENTRE)


def area_name(code: str) -> str:
    region = wilayah().areas.by_code.get(code)
    return region.name if region else code


def _areas() -> tuple[Area, ...]:
    return tuple(Area(r.code, r.name, r.label_lat, r.label_lon)
                 for r in wilayah().kecamatan.regions)


# Every kecamatan (the regency's 22 and Kota Blitar's 3) with its label point.
AREAS: tuple[Area, ...] = _areas()
REGENCY_KECAMATAN: tuple[Area, ...] = tuple(a for a in AREAS
                                            if a.code.startswith(REGENCY_CODE + "."))


def _outer_ring(geom: BaseGeometry) -> list[list[float]]:
    largest = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    return [[round(y, 5), round(x, 5)] for x, y in largest.exterior.coords]


def outlines() -> dict[str, list[list[float]]]:
    """Closed outer rings of [lat, lon] of the regency and of Kota Blitar (older readers)."""
    w = wilayah()
    return {"regency": _outer_ring(w.areas.by_code[REGENCY_CODE].geometry),
            "kota_blitar": _outer_ring(w.areas.by_code[KOTA_BLITAR_CODE].geometry)}


def _feature(region: Region, **props: Any) -> dict[str, Any]:
    simple = region.geometry.simplify(DISPLAY_TOLERANCE_DEG, preserve_topology=True)
    rounded = json.loads(json.dumps(mapping(simple)))
    rounded["coordinates"] = _round(rounded["coordinates"])
    return {"type": "Feature", "geometry": rounded,
            "properties": {"code": region.code, "name": region.name, **props,
                           "label_lat": round(region.label_lat, 6),
                           "label_lon": round(region.label_lon, 6)}}


def _round(coords: Any) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return [round(coords[0], 5), round(coords[1], 5)]
    return [_round(c) for c in coords]


def _role(code: str) -> str:
    return {REGENCY_CODE: "regency", KOTA_BLITAR_CODE: "kota_blitar"}.get(code, "neighbour")


@cache
def boundaries() -> dict[str, Any]:
    """The simplified boundaries for display, as GET /api/v1/geo serves them."""
    w = wilayah()
    kec_names = {r.code: r.name for r in w.kecamatan.regions}
    areas = [_feature(r, role=_role(r.code),
                      handover_to=None if r.code == REGENCY_CODE else r.code,
                      centre=CENTRES.get(r.code, "Command Center 112 Kabupaten Blitar"))
             for r in w.areas.regions]
    kecamatan = [_feature(r, area_code=r.code[:5]) for r in w.kecamatan.regions]
    desa = [_feature(r, kind=r.kind, kecamatan_code=kecamatan_of(r.code),
                     kecamatan=kec_names.get(kecamatan_of(r.code)), radius_m=r.radius_m)
            for r in w.desa.regions]
    return {"source": SOURCE, "license": "MIT",
            "areas": {"type": "FeatureCollection", "features": areas},
            "kecamatan": {"type": "FeatureCollection", "features": kecamatan},
            "desa": {"type": "FeatureCollection", "features": desa}}
