"""Travel time by road, offline: Valhalla routing data built from an OpenStreetMap extract.

``siap112 roads build FILE.osm.pbf`` (:func:`build`) keeps the roads of the extract
that reach into the regency plus ``roads.margin_km``, and runs Valhalla's tile builder
(shipped inside the ``pyvalhalla-weekly`` wheel) into ``roads.data_dir``. The running
service asks the in-process engine (:class:`RoadEngine`) for the road time from the
geodesically nearest candidates to an incident (one many-to-one matrix call) and for a
route's shape. Every call runs in one worker thread, off the event loop, within
``roads.budget_ms``; a call that fails or takes longer raises :class:`RoadsUnavailable`,
and the caller falls back to geodesic distance x ``dispatch.road_factor``.

Without routing data the engine is ``off``: nothing changes from geodesic ranking and the
consoles say the estimate is a straight line. The engine is an optional install
(``pip install 'siap112[roads]'``); without it the state is ``off`` too.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from dispatch.core.geo import Point, Ranked, great_circle_m
from dispatch.settings import RoadsSettings

log = structlog.get_logger(__name__)

CONFIG_FILE = "valhalla.json"
TILES_DIR = "tiles"
MANIFEST_FILE = "siap112-roads.json"
# Ways that are not roads a vehicle may drive, whatever Valhalla would make of them.
NOT_ROADS = frozenset({"proposed", "construction", "abandoned", "disused", "platform",
                       "raceway", "razed", "bus_stop", "elevator", "corridor", "steps"})
# A point off the road network is joined to where the engine met a road at this speed.
ACCESS_KMH = 20.0
# Valhalla's graph tiles are fetched from disk on demand; this many bytes stay cached.
TILE_CACHE_BYTES = 256 * 1024 * 1024


class RoadsError(Exception):
    """The extract cannot be built into routing data; the message says why."""


class RoadsUnavailable(Exception):
    """The engine could not answer within the budget (or at all) this time."""


@dataclass(frozen=True)
class BuildReport:
    roads: int            # ways kept
    km: float             # their length
    nodes: int
    size_bytes: int       # the routing data on disk
    seconds: float        # clip + build
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    engine: str

    def summary(self) -> str:
        return (f"{self.roads} roads, {self.km:.1f} km, {self.nodes} nodes; routing data "
                f"{self.size_bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({self.engine})")


@dataclass(frozen=True)
class RoadTime:
    distance_m: float
    eta_s: int


def engine_version() -> str | None:
    """The installed Valhalla Python package's version, or None when it is not installed."""
    try:
        import valhalla  # optional dependency
    except ImportError:
        return None
    return str(valhalla.__version__)


def regency_bbox(margin_km: float) -> tuple[float, float, float, float]:
    """The regency's kecamatan boundaries' box, widened by ``margin_km`` on every side."""
    from dispatch.geodata import wilayah  # shapely, loaded when needed

    boxes = [r.geometry.bounds for r in wilayah().kecamatan.regions]
    min_lon, min_lat = min(b[0] for b in boxes), min(b[1] for b in boxes)
    max_lon, max_lat = max(b[2] for b in boxes), max(b[3] for b in boxes)
    dlat = margin_km / 111.32
    dlon = margin_km / (111.32 * math.cos(math.radians((min_lat + max_lat) / 2)))
    return (min_lon - dlon, min_lat - dlat, max_lon + dlon, max_lat + dlat)


def _inside(bbox: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def clip(source: Path, target: Path, bbox: tuple[float, float, float, float]
         ) -> tuple[int, float, int]:
    """Write to ``target`` (PBF) the roads of ``source`` with a node in ``bbox``, whole, and
    their nodes. Returns (roads, km, nodes)."""
    import osmium  # optional dependency
    from osmium.filter import KeyFilter

    ways: list[tuple[int, list[int], dict[str, str]]] = []
    nodes: dict[int, tuple[float, float]] = {}
    km = 0.0
    processor = (osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY)
                 .with_locations().with_filter(KeyFilter("highway")))
    try:
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way) or obj.tags.get("highway") in NOT_ROADS:
                continue
            located = [(n.ref, n.location.lon, n.location.lat) for n in obj.nodes
                       if n.location.valid()]
            if len(located) < 2 or not any(_inside(bbox, lon, lat) for _, lon, lat in located):
                continue
            for ref, lon, lat in located:
                nodes[ref] = (lon, lat)
            km += sum(great_circle_m(Point(a[2], a[1]), Point(b[2], b[1]))
                      for a, b in zip(located, located[1:], strict=False)) / 1000
            ways.append((obj.id, [r for r, _, _ in located], dict(obj.tags)))
    except RuntimeError as exc:  # osmium: not OSM XML/PBF, truncated, unknown format
        raise RoadsError(f"{source}: not a readable OpenStreetMap extract ({exc})") from exc
    if not ways:
        raise RoadsError(f"{source}: no roads inside the regency's box {bbox}")
    if target.exists():
        target.unlink()
    writer = osmium.SimpleWriter(str(target))
    try:
        for node_id in sorted(nodes):
            lon, lat = nodes[node_id]
            writer.add_node(osmium.osm.mutable.Node(id=node_id, location=(lon, lat),
                                                    version=1))
        for way_id, refs, tags in sorted(ways, key=lambda w: w[0]):
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    return len(ways), km, len(nodes)


def _valhalla_config(tile_dir: Path) -> dict[str, Any]:
    from valhalla import get_config  # optional dependency

    config: dict[str, Any] = get_config(tile_extract="", tile_dir=tile_dir)
    config["mjolnir"]["max_cache_size"] = TILE_CACHE_BYTES
    config["mjolnir"]["concurrency"] = max(1, min(4, os.cpu_count() or 1))
    return config


def _tile_builder() -> Path:
    from valhalla._scripts import PYVALHALLA_BIN_DIR

    exe = Path(PYVALHALLA_BIN_DIR) / "valhalla_build_tiles"
    if not exe.is_file():
        raise RoadsError(f"the Valhalla tile builder is not installed ({exe}); "
                         "install siap112[roads]")
    return exe


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(source: Path, data_dir: Path, margin_km: float) -> BuildReport:
    """Clip ``source`` (.osm.pbf, .osm, .osm.bz2) to the regency plus ``margin_km`` and build
    routing data into ``data_dir``, replacing what was there only once the build succeeded."""
    version = engine_version()
    if version is None:
        raise RoadsError("the routing engine is not installed: pip install 'siap112[roads]'")
    if not source.is_file():
        raise RoadsError(f"{source}: no such file")
    started = time.monotonic()
    bbox = regency_bbox(margin_km)
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    work = data_dir.with_name(data_dir.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    (work / TILES_DIR).mkdir(parents=True)
    try:
        roads, km, nodes = clip(source, work / "roads.osm.pbf", bbox)
        log.info("roads.clipped", source=str(source), roads=roads, km=round(km, 1),
                 nodes=nodes, bbox=bbox)
        build_config = work / "build.json"
        build_config.write_text(json.dumps(_valhalla_config(work / TILES_DIR)), "utf-8")
        done = subprocess.run(  # our own argument list
            [str(_tile_builder()), "-c", str(build_config), str(work / "roads.osm.pbf")],
            capture_output=True, text=True, check=False, cwd=work)  # it writes files there
        if done.returncode != 0:
            raise RoadsError("valhalla_build_tiles failed: "
                             + (done.stderr or done.stdout)[-2000:])
        if not any((work / TILES_DIR).rglob("*.gph")):
            raise RoadsError("valhalla_build_tiles built no graph tiles")
        build_config.unlink()
        (work / "roads.osm.pbf").unlink()
        for stray in work.glob("*.txt"):  # the builder's reports (duplicate ways)
            stray.unlink()
        old = data_dir.with_name(data_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if data_dir.exists():
            data_dir.rename(old)
        work.rename(data_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # The engine's configuration names the final folder: written once it is in place.
    (data_dir / CONFIG_FILE).write_text(
        json.dumps(_valhalla_config(data_dir / TILES_DIR)), "utf-8")
    report = BuildReport(roads=roads, km=km, nodes=nodes, size_bytes=_size(data_dir),
                         seconds=time.monotonic() - started, bbox=bbox,
                         engine=f"valhalla {version}")
    (data_dir / MANIFEST_FILE).write_text(
        json.dumps({**asdict(report), "source": str(source),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}),
        "utf-8")
    log.info("roads.built", data_dir=str(data_dir), **asdict(report))
    return report


def decode_polyline6(encoded: str) -> list[list[float]]:
    """Valhalla's encoded shape (polyline, 6 decimals) as GeoJSON [lon, lat] pairs."""
    coords: list[list[float]] = []
    index = lat = lon = 0
    while index < len(encoded):
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                byte = ord(encoded[index]) - 63
                index += 1
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        coords.append([lon / 1e6, lat / 1e6])
    return coords


def _gap_m(point: Point, cell: dict[str, Any], end: str) -> float:
    """From ``point`` to where the engine met the road (a unit parked off the network)."""
    lat, lon = cell.get(f"{end}_lat"), cell.get(f"{end}_lon")
    if lat is None or lon is None:
        return 0.0
    return great_circle_m(point, Point(float(lat), float(lon)))


class RoadEngine:
    """The in-process engine over ``roads.data_dir``, one per process.

    ``state`` is ``off`` (no routing data, or the engine is not installed: geodesic
    estimates, as always), ``ok`` (the last call answered in time) or ``degraded`` (the
    last call failed or was over budget: geodesic until a call answers again).
    """

    def __init__(self, settings: RoadsSettings) -> None:
        self._settings = settings
        self._dir = Path(settings.data_dir)
        self._budget_s = settings.budget_ms / 1000
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roads")
        self._actor: Any = None
        self._actor_config_mtime: float | None = None
        self._lock = threading.Lock()
        self._degraded: str | None = None
        self._degraded_at: float | None = None
        self._calls = self._failures = 0

    @property
    def settings(self) -> RoadsSettings:
        return self._settings

    @property
    def configured(self) -> bool:
        """Routing data was built into the data folder and the engine is installed."""
        return (self._dir / MANIFEST_FILE).is_file() and engine_version() is not None

    @property
    def state(self) -> str:
        if self._degraded is not None:
            return "degraded"
        return "ok" if self.configured else "off"

    def status(self) -> dict[str, Any]:
        """For /readyz: the state, which method ranks now, and why it is degraded."""
        state = self.state
        out: dict[str, Any] = {"state": state,
                               "method": "road" if state == "ok" else "geodesic",
                               "calls": self._calls, "failures": self._failures}
        if self._degraded is not None and self._degraded_at is not None:
            out["detail"] = self._degraded
            out["since_s"] = round(time.monotonic() - self._degraded_at, 1)
        return out

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- in the worker thread ---------------------------------------------------

    def _loaded(self) -> Any:
        """The engine over the data folder, loaded again when it was rebuilt. Its config is
        made here for the folder where the data is now (it may have been moved)."""
        manifest = self._dir / MANIFEST_FILE
        try:
            mtime = manifest.stat().st_mtime
        except FileNotFoundError as exc:
            self._actor = None
            raise RoadsUnavailable(f"no routing data in {self._dir}") from exc
        with self._lock:
            if self._actor is None or mtime != self._actor_config_mtime:
                from valhalla import Actor  # optional dependency

                self._actor = None
                config = _valhalla_config(self._dir / TILES_DIR)
                with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="siap112-roads-",
                                                 delete=False) as f:
                    json.dump(config, f)
                try:
                    self._actor = Actor(f.name)
                finally:
                    os.unlink(f.name)
                self._actor_config_mtime = mtime
                log.info("roads.loaded", data_dir=str(self._dir))
            return self._actor

    def _matrix(self, sources: Sequence[Point], target: Point, costing: str
                ) -> list[RoadTime | None]:
        actor = self._loaded()
        answer = actor.matrix({
            "sources": [{"lat": p.lat, "lon": p.lon} for p in sources],
            "targets": [{"lat": target.lat, "lon": target.lon}],
            "costing": costing, "units": "kilometers"})
        out: list[RoadTime | None] = []
        for source, row in zip(sources, answer["sources_to_targets"], strict=True):
            cell = row[0] if row else {}
            secs, km = cell.get("time"), cell.get("distance")
            if secs is None or km is None:
                out.append(None)
                continue
            access_m = _gap_m(source, cell, "begin") + _gap_m(target, cell, "end")
            out.append(RoadTime(distance_m=float(km) * 1000 + access_m,
                                eta_s=round(float(secs) + access_m / (ACCESS_KMH / 3.6))))
        return out

    def _route(self, origin: Point, target: Point, costing: str) -> dict[str, Any]:
        actor = self._loaded()
        answer = actor.route({
            "locations": [{"lat": origin.lat, "lon": origin.lon},
                          {"lat": target.lat, "lon": target.lon}],
            "costing": costing, "units": "kilometers", "directions_type": "none"})
        trip = answer["trip"]
        coords: list[list[float]] = []
        for leg in trip["legs"]:
            coords.extend(decode_polyline6(leg["shape"]))
        return {"coordinates": coords, "distance_m": float(trip["summary"]["length"]) * 1000,
                "eta_s": round(float(trip["summary"]["time"]))}

    # --- on the event loop ------------------------------------------------------

    async def _call(self, what: str, fn: Any, *args: Any, budget_s: float | None = None) -> Any:
        if engine_version() is None:
            raise RoadsUnavailable("the routing engine is not installed")
        self._calls += 1
        loop = asyncio.get_running_loop()
        budget = budget_s or self._budget_s
        over = f"over budget ({budget * 1000:g} ms)"
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args),
                                            budget)
        except TimeoutError as exc:
            self._failed(what, over)
            raise RoadsUnavailable(over) from exc
        except Exception as exc:  # the engine's own errors are many and untyped
            self._failed(what, f"{type(exc).__name__}: {exc}"[:300])
            raise RoadsUnavailable(str(exc)) from exc
        if time.monotonic() - started > budget:  # answered, but later than the budget
            self._failed(what, over)
            raise RoadsUnavailable(over)
        if self._degraded is not None:
            log.info("roads.recovered", after_s=round(time.monotonic() - (
                self._degraded_at or started), 1))
        self._degraded = self._degraded_at = None
        return result

    def _failed(self, what: str, reason: str) -> None:
        self._failures += 1
        if self._degraded is None:
            self._degraded_at = time.monotonic()
        self._degraded = reason
        log.warning("roads.fallback", call=what, reason=reason, data_dir=str(self._dir))

    async def times(self, sources: Sequence[Point], target: Point, unit_type: str
                    ) -> list[RoadTime | None]:
        """Road distance and time from each source to ``target`` with the unit type's
        profile (None where no road joins them); raises RoadsUnavailable."""
        return await self._call("matrix", self._matrix, list(sources), target,  # type: ignore[no-any-return]
                                self._settings.costing_for(unit_type))

    async def route(self, origin: Point, target: Point, unit_type: str) -> dict[str, Any]:
        """The road route's shape, distance and time; raises RoadsUnavailable. A route is
        longer to compute than a matrix cell: it gets five budgets."""
        return await self._call("route", self._route, origin, target,  # type: ignore[no-any-return]
                                self._settings.costing_for(unit_type),
                                budget_s=self._budget_s * 5)

    async def warm(self) -> None:
        """Load the routing data ahead of the first dispatch (no budget: loading is slow)."""
        if not self.configured:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._loaded)
        except Exception as exc:  # reported, then each call tries again
            self._failed("load", f"{type(exc).__name__}: {exc}"[:300])


def _road_order(r: Ranked) -> tuple[bool, bool, bool, float, float, int]:
    """Fresh positions before stale ones before none (as geodesic ranking has it); within
    each, those timed by road fastest first, then the others nearest first."""
    return (r.distance_m is None, r.stale, r.road_eta_s is None, float(r.road_eta_s or 0),
            r.distance_m or 0.0, r.candidate.unit_id)


class RoadPass:
    """One dispatcher pass (or one candidates list): the geodesic candidates of each need
    timed by road. After one failure or overrun, geodesic for the rest of the pass."""

    def __init__(self, engine: RoadEngine | None) -> None:
        self._engine = engine
        self.failed = engine is None or not engine.configured

    async def rerank(self, origin: Point, unit_type: str, ranked: list[Ranked]
                     ) -> list[Ranked]:
        """``ranked`` (geodesic order) re-ranked by road time; unchanged on failure."""
        if self.failed or self._engine is None:
            return ranked
        cfg = self._engine.settings
        timed = [i for i, r in enumerate(ranked[:cfg.k]) if r.candidate.position is not None
                 and r.distance_m is not None and r.distance_m <= cfg.max_radius_m]
        if not timed:
            return ranked
        sources = [p for p in (ranked[i].candidate.position for i in timed) if p is not None]
        try:
            times = await self._engine.times(sources, origin, unit_type)
        except RoadsUnavailable:
            self.failed = True
            return ranked
        out = list(ranked)
        for i, t in zip(timed, times, strict=True):
            if t is not None:
                out[i] = replace(ranked[i], road_distance_m=t.distance_m, road_eta_s=t.eta_s)
        return sorted(out, key=_road_order)
