"""Road re-ranking: its latency per incident beside geodesic-only ranking, and the build.

Two networks written as OpenStreetMap XML and built with the same code as
``siap112 roads build``: the river crossing of tests/test_roads.py (two banks of a
river joined by one bridge far away) and a synthetic grid the size of the regency's
road network (``--grid-km``, default about 6,000 km of road). For each, incidents at
random points of the network are ranked against ``--units`` units: geodesic only
(the exact search the dispatcher always runs first) and geodesic K nearest then timed
by road (one matrix call, ``roads.k`` = 8 by default), p50/p99 per incident.

    python -m dispatch.benchmarks.roads [--incidents 200] [--units 120] [--grid-km 6000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

from dispatch.core.geo import Candidate, Point, rank_units
from dispatch.logs import configure_logging
from dispatch.roads import BuildReport, RoadEngine, build
from dispatch.settings import RoadsSettings

# The river crossing: the north bank road, the south bank road, one bridge at the east end.
NORTH_LAT, SOUTH_LAT = -8.12, -8.16
WEST_LON, BRIDGE_LON = 112.20, 112.40
# The incident and the two units of the river test.
RIVER_SCENE = Point(NORTH_LAT, 112.22)
FAR_BANK_UNIT = Point(SOUTH_LAT, 112.22)    # 4.4 km away geodesically, ~44 km by road
SAME_BANK_UNIT = Point(NORTH_LAT, 112.30)   # 8.8 km away geodesically and by road


def write_osm(path: Path, nodes: dict[int, tuple[float, float]],
              ways: Iterable[tuple[int, list[int], dict[str, str]]]) -> Path:
    """A minimal OpenStreetMap XML file: nodes (id -> lat, lon) and tagged ways."""
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<osm version="0.6" generator="siap112">\n')
        for node_id, (lat, lon) in sorted(nodes.items()):
            f.write(f' <node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for way_id, refs, tags in ways:
            f.write(f' <way id="{way_id}" version="1">')
            f.write("".join(f'<nd ref="{r}"/>' for r in refs))
            f.write("".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>"
                            for k, v in tags.items()))
            f.write("</way>\n")
        f.write("</osm>\n")
    return path


def river_crossing(path: Path) -> Path:
    """Two east-west roads on either bank, joined by a single bridge at ``BRIDGE_LON``."""
    steps = round((BRIDGE_LON - WEST_LON) / 0.01)
    nodes: dict[int, tuple[float, float]] = {}
    north, south = [], []
    for i in range(steps + 1):
        lon = WEST_LON + i * 0.01
        nodes[1000 + i] = (NORTH_LAT, lon)
        nodes[2000 + i] = (SOUTH_LAT, lon)
        north.append(1000 + i)
        south.append(2000 + i)
    ways = [(1, north, {"highway": "primary", "name": "Jalan Utara"}),
            (2, south, {"highway": "primary", "name": "Jalan Selatan"}),
            (3, [north[-1], south[-1]], {"highway": "primary", "bridge": "yes",
                                         "layer": "1", "name": "Jembatan"})]
    return write_osm(path, nodes, ways)


GRID_CENTRE = Point(-8.13, 112.25)


def grid(path: Path, km: float, centre: Point = GRID_CENTRE) -> Path:
    """A square grid about ``km`` long in all, centred in the regency: roads 500 m apart
    with a shape node every 100 m, each way 2 km long as OSM ways are short; every tenth
    line secondary, the others residential."""
    cell_deg, step = 0.0045, 5  # ~500 m between crossings, 5 nodes per cell (~100 m)
    n = max(2, round(math.sqrt(km / (2 * 0.5))))  # n lines each way of n cells of 0.5 km
    lat0, lon0 = centre.lat - n * cell_deg / 2, centre.lon - n * cell_deg / 2
    side = n * step + 1  # nodes along a line
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []

    def node(row: int, col: int) -> int:  # row, col in node steps; ids shared at crossings
        node_id = 1 + row * side + col
        nodes.setdefault(node_id, (lat0 + row * cell_deg / step, lon0 + col * cell_deg / step))
        return node_id

    for line in range(n + 1):
        kind = "secondary" if line % 10 == 0 else "residential"
        for horizontal in (True, False):
            refs = [node(line * step, i) if horizontal else node(i, line * step)
                    for i in range(side)]
            for start in range(0, side - 1, 4 * step):  # 2 km ways
                ways.append((len(ways) + 1, refs[start:start + 4 * step + 1], {"highway": kind}))
    return write_osm(path, nodes, ways)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _rerank_latency(engine: RoadEngine, scenes: list[Point], units: list[Candidate],
                          k: int) -> tuple[list[float], list[float], int]:
    now = datetime.now(UTC)
    geo_ms, road_ms = [], []
    routed = 0
    for scene in scenes:
        t0 = time.perf_counter()
        ranked = rank_units(scene, units, now=now, stale_after_s=600, k=k)
        t1 = time.perf_counter()
        times = await engine.times([r.candidate.position for r in ranked
                                    if r.candidate.position is not None], scene, "ambulance")
        t2 = time.perf_counter()
        routed += sum(t is not None for t in times)
        geo_ms.append((t1 - t0) * 1000)
        road_ms.append((t2 - t0) * 1000)
    return geo_ms, road_ms, routed


def _random_points(rng: random.Random, box: tuple[float, float, float, float], n: int
                   ) -> list[Point]:
    return [Point(rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])) for _ in range(n)]


@dataclass(frozen=True)
class NetworkFigures:
    name: str
    report: BuildReport
    k: int
    units: int
    geo_ms: list[float]   # geodesic ranking alone, per incident
    road_ms: list[float]  # geodesic ranking then the road matrix, per incident
    routed: int           # (unit, incident) pairs the engine joined by road

    def rows(self) -> list[str]:
        n = len(self.geo_ms)
        return [
            f"| {self.name} | build | {self.report.roads} roads, {self.report.km:.0f} km | "
            f"{self.report.seconds:.2f} s | {self.report.size_bytes / 1e6:.1f} MB |",
            f"| {self.name} | geodesic only, K={self.k} of {self.units} units | {n} incidents"
            f" | p50 {pct(self.geo_ms, 0.5):.2f} ms | p99 {pct(self.geo_ms, 0.99):.2f} ms |",
            f"| {self.name} | geodesic + road matrix, K={self.k} | {self.routed}/{n * self.k}"
            f" pairs routed | p50 {pct(self.road_ms, 0.5):.2f} ms"
            f" | p99 {pct(self.road_ms, 0.99):.2f} ms |",
        ]


async def bench_network(name: str, osm: Path, work: Path, *, incidents: int, units: int,
                        k: int, box: tuple[float, float, float, float], seed: int = 112
                        ) -> NetworkFigures:
    """Build ``osm`` and time re-ranking on it."""
    data = work / f"{name}-data"
    report = build(osm, data, margin_km=10.0)
    settings = replace(RoadsSettings(), data_dir=str(data), budget_ms=10_000.0, k=k)
    engine = RoadEngine(settings)
    await engine.warm()
    rng = random.Random(seed)
    fleet = [Candidate(i, "ambulance", p, datetime.now(UTC))
             for i, p in enumerate(_random_points(rng, box, units), start=1)]
    scenes = _random_points(rng, box, incidents)
    try:
        geo_ms, road_ms, routed = await _rerank_latency(engine, scenes, fleet, k)
    finally:
        engine.close()
    return NetworkFigures(name, report, k, units, geo_ms, road_ms, routed)


async def measure(incidents: int = 200, units: int = 120, grid_km: float = 6000.0, k: int = 8
                  ) -> list[NetworkFigures]:
    """The river network, then the regency-sized grid, each built and timed."""
    with tempfile.TemporaryDirectory(prefix="siap112-roads-bench-") as tmp:
        work = Path(tmp)
        river = await bench_network(
            "river", river_crossing(work / "river.osm"), work, incidents=incidents,
            units=units, k=k, box=(NORTH_LAT - 0.005, WEST_LON, SOUTH_LAT + 0.005, BRIDGE_LON))
        half = math.sqrt(grid_km / (2 * 0.5)) * 0.0045 / 2
        lat, lon = GRID_CENTRE.lat, GRID_CENTRE.lon
        grid_net = await bench_network(
            "grid", grid(work / "grid.osm", grid_km), work, incidents=incidents, units=units,
            k=k, box=(lat - half, lon - half, lat + half, lon + half))
    return [river, grid_net]


async def main(incidents: int = 200, units: int = 120, grid_km: float = 6000.0, k: int = 8
               ) -> str:
    rows = ["| network | what | size | p50 / time | p99 / size |",
            "| --- | --- | --- | --- | --- |"]
    for figures in await measure(incidents, units, grid_km, k):
        rows += figures.rows()
    return "\n".join(rows) + "\n"


def _cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=200)
    p.add_argument("--units", type=int, default=120)
    p.add_argument("--grid-km", type=float, default=6000.0)
    p.add_argument("--k", type=int, default=8)
    a = p.parse_args()
    configure_logging("warning", "console")
    sys.stdout.write(asyncio.run(main(a.incidents, a.units, a.grid_km, a.k)))


if __name__ == "__main__":
    _cli()
