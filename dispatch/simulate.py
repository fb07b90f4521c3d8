"""Play realistic 112 traffic against a running Siap112, through its HTTP API only.

Three roles run side by side in one event loop:

- callers place ``calls`` incidents at ``rate`` per second, a weighted mix of
  categories and priorities around the kecamatan of Kabupaten Blitar;
- responders follow the live event stream (Server-Sent Events) and, for every
  ``unit.assigned``, walk that unit through its lifecycle: acknowledged, en
  route with position reports, on scene, sometimes a hospital run, available;
- the operator closes an incident once every unit on it is done.

Turnout, travel, time on scene and hospital handover are divided by
``time_scale``. Positions and the call mix come from :mod:`dispatch.demo_data`
and are estimates.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson
import structlog

from dispatch.core.geo import Point, great_circle_m
from dispatch.demo_data import (
    CALL_PROFILES,
    FLEET,
    HOSPITALS,
    KECAMATAN,
    SOUTH_OF_BRANTAS,
    VILLAGES,
    CallProfile,
    Hospital,
    Kecamatan,
)
from dispatch.geodata import locate

log = structlog.get_logger(__name__)

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
# The service pings the stream every sse.heartbeat_s (15 s by default); a
# minute of silence means the connection is dead, so reconnect.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.5
# The operator re-checks every open incident this often (real seconds), as a
# safety net for an event lost while the stream was reconnecting.
SWEEP_S = 5.0
# Attempts for a request that was certainly not carried out: the service
# answered 503, or the connection was refused (e.g. while it restarts).
UNAVAILABLE_ATTEMPTS = 5

# Simulated seconds, before division by time_scale (estimates).
TURNOUT_S = (30.0, 90.0)
ON_SCENE_S = (300.0, 1200.0)
HANDOVER_S = (600.0, 1800.0)
TRANSPORT_SHARE = 0.5
DRIVE_STEPS = 4
# The same estimates as config/siap112.toml [dispatch]; the simulator may run
# against a remote service, so it does not read that file.
ROAD_FACTOR = 1.35
SPEED_KMH = {"ambulance": 45.0, "fire": 35.0, "police": 50.0, "rescue": 35.0}
DEFAULT_SPEED_KMH = 40.0
# Calls: where and from whom.
JITTER_M = (1_000.0, 3_000.0)
NORTH_WEIGHT, SOUTH_WEIGHT = 2.0, 1.0  # the south of the Brantas is sparser
REPEAT_CALLER_SHARE = 0.1
PHONE_PREFIXES = ("0812", "0813", "0821", "0852", "0857", "0877", "0878", "0895", "0896")
DEFAULT_PROFILE = CallProfile(1, ((2, 1),), ("Laporan warga",))
M_PER_DEG_LAT = 111_320.0


class SimulationError(RuntimeError):
    """The simulation cannot run (the service never became ready, bad arguments)."""


@dataclass(frozen=True)
class SimulationReport:
    """What one simulation run did."""

    calls_placed: int
    incidents_created: int
    units_dispatched: int
    units_cleared: int
    incidents_closed: int
    errors: int


@dataclass
class _Tally:
    calls_placed: int = 0
    incidents_created: int = 0
    units_dispatched: int = 0
    units_cleared: int = 0
    incidents_closed: int = 0
    errors: int = 0

    def report(self) -> SimulationReport:
        return SimulationReport(**asdict(self))


# --- HTTP -------------------------------------------------------------------

class ApiError(Exception):
    """The service answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status = status
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.code = str(error.get("code", "")) if isinstance(error, dict) else ""
        super().__init__(f"{method} {path}: HTTP {status} {self.code}".rstrip())


# What a failed request looks like from here; each role logs it and carries on.
REQUEST_ERRORS: tuple[type[Exception], ...] = (ApiError, aiohttp.ClientError, TimeoutError)
# Reading the stream can also fail on a line longer than the client's buffer.
STREAM_ERRORS: tuple[type[Exception], ...] = (*REQUEST_ERRORS, ValueError)


class Api:
    """A thin JSON client for the Siap112 API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request; returns (status, decoded JSON body or None)."""
        async with self.session.request(method, self.base_url + path, json=body) as resp:
            raw = await resp.read()
        try:
            return resp.status, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return resp.status, None

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """A request that must succeed; retried briefly while it was surely not carried out.

        Other failures are not retried: a status change sent twice would be refused.
        """
        for attempt in range(1, UNAVAILABLE_ATTEMPTS + 1):
            last = attempt == UNAVAILABLE_ATTEMPTS
            try:
                status, data = await self.send(method, path, body)
            except aiohttp.ClientConnectorError:
                if last:
                    raise
                await asyncio.sleep(attempt)  # back off while the service is away
                continue
            if status == 503 and not last:
                await asyncio.sleep(attempt)  # the service asks for Retry-After seconds
                continue
            if status >= 400:
                raise ApiError(method, path, status, data)
            return data
        raise AssertionError("unreachable")

    async def get(self, path: str) -> Any:
        return await self.call("GET", path)

    async def post(self, path: str, body: Any) -> Any:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Any) -> Any:
        return await self.call("PUT", path, body)


async def wait_until_ready(api: Api, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll ``/readyz`` until it answers 200; raise :class:`SimulationError` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = "no answer"
    while loop.time() < deadline:
        try:
            status, _ = await api.send("GET", "/readyz")
            if status == 200:
                return
            last = f"HTTP {status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = str(exc) or type(exc).__name__
        log.debug("sim.waiting_for_service", url=api.base_url, last=last)
        await asyncio.sleep(READY_POLL_S)
    raise SimulationError(f"{api.base_url} was not ready after {timeout_s:.0f} s (last: {last})")


# --- Server-Sent Events -----------------------------------------------------

@dataclass(frozen=True)
class SseEvent:
    kind: str
    data: str
    last_id: str | None


class SseParser:
    """Turns text/event-stream lines into events (fields ``id``, ``event``, ``data``)."""

    def __init__(self) -> None:
        self.last_id: str | None = None  # survives reconnects: it is the resume point
        self._kind = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line; return an event when a blank line completes one."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: the server's keep-alive ping
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self.last_id = value
        return None

    def reset(self) -> None:
        """Drop a half-received event (the connection broke in the middle of it)."""
        self._kind, self._data = "", []

    def _dispatch(self) -> SseEvent | None:
        kind, data = self._kind or "message", self._data
        self.reset()
        if not data:
            return None
        return SseEvent(kind, "\n".join(data), self.last_id)


class SeqFilter:
    """Remembers recent event ``seq`` numbers: delivery is at least once."""

    def __init__(self, size: int = 50_000) -> None:
        self._seen: set[int] = set()
        self._order: deque[int] = deque()
        self._size = size

    def first_time(self, seq: int) -> bool:
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self._order.append(seq)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True


# --- geometry ---------------------------------------------------------------

HOMES = {u.callsign: Point(u.lat, u.lon) for u in FLEET}


def offset(p: Point, distance_m: float, bearing_rad: float) -> Point:
    """A point ``distance_m`` from ``p`` (flat approximation, fine for a few km)."""
    lat = p.lat + distance_m * math.cos(bearing_rad) / M_PER_DEG_LAT
    lon = p.lon + distance_m * math.sin(bearing_rad) / (M_PER_DEG_LAT * math.cos(
        math.radians(p.lat)))
    return Point(round(lat, 6), round(lon, 6))


def interpolate(a: Point, b: Point, fraction: float) -> Point:
    return Point(round(a.lat + (b.lat - a.lat) * fraction, 6),
                 round(a.lon + (b.lon - a.lon) * fraction, 6))


def travel_s(a: Point, b: Point, unit_type: str) -> float:
    """Estimated road travel time between two points for a unit type."""
    speed_ms = SPEED_KMH.get(unit_type, DEFAULT_SPEED_KMH) / 3.6
    return great_circle_m(a, b) * ROAD_FACTOR / speed_ms


def nearest_hospital(p: Point) -> Hospital:
    return min(HOSPITALS, key=lambda h: great_circle_m(p, Point(h.lat, h.lon)))


def _point(location: Any) -> Point | None:
    if not isinstance(location, dict) or location.get("lat") is None:
        return None
    return Point(float(location["lat"]), float(location["lon"]))


# --- calls ------------------------------------------------------------------

@dataclass(frozen=True)
class CallMix:
    """The categories the service knows, with the weight each is called in at."""

    categories: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> CallMix:
        codes = tuple(sorted(meta["categories"]))
        if not codes:
            raise SimulationError("the service lists no incident categories")
        return cls(codes, tuple(CALL_PROFILES.get(c, DEFAULT_PROFILE).weight for c in codes))


@dataclass(frozen=True)
class Call:
    caller_phone: str
    category: str
    priority: int
    kecamatan: Kecamatan
    scene: Point
    address: str
    description: str

    def body(self) -> dict[str, Any]:
        return {"caller_phone": self.caller_phone, "category": self.category,
                "priority": self.priority, "address": self.address,
                "description": self.description,
                "location": {"lat": self.scene.lat, "lon": self.scene.lon}}


def _phone(rng: random.Random, previous: Sequence[str]) -> str:
    # Some people call again about the same or a new emergency.
    if previous and rng.random() < REPEAT_CALLER_SHARE:
        return rng.choice(previous)
    return rng.choice(PHONE_PREFIXES) + "".join(rng.choices("0123456789", k=8))


def _scene(rng: random.Random, k: Kecamatan) -> Point:
    """A point 1-3 km from the kecamatan centre inside that kecamatan (never Kota Blitar)."""
    centre = Point(k.lat, k.lon)
    for _ in range(20):
        p = offset(centre, rng.uniform(*JITTER_M), rng.uniform(0, 2 * math.pi))
        if locate(p.lat, p.lon).kecamatan_code == k.code:
            return p
    return centre


def make_call(rng: random.Random, mix: CallMix, previous_callers: Sequence[str]) -> Call:
    """One realistic 112 call, drawn from ``rng`` (reproducible for a given seed)."""
    category = rng.choices(mix.categories, weights=mix.weights)[0]
    profile = CALL_PROFILES.get(category, DEFAULT_PROFILE)
    priority = rng.choices([p for p, _ in profile.priorities],
                           weights=[w for _, w in profile.priorities])[0]
    k = rng.choices(KECAMATAN, weights=[SOUTH_WEIGHT if k.name in SOUTH_OF_BRANTAS
                                        else NORTH_WEIGHT for k in KECAMATAN])[0]
    scene = _scene(rng, k)
    desa = locate(scene.lat, scene.lon).desa or rng.choice(VILLAGES)
    address = (f"RT {rng.randint(1, 6):02d}/RW {rng.randint(1, 4):02d}, "
               f"Desa {desa}, Kec. {k.name}")
    return Call(_phone(rng, previous_callers), category, priority, k, scene,
                address, rng.choice(profile.descriptions))


def closing_disposition(incident: dict[str, Any]) -> str | None:
    """How the operator closes an incident (its detail from the API), or None if not finished.

    Finished means every assignment has ended, at least one unit reached the
    scene, and the incident is not still waiting for a unit type it needs (an
    accident whose police have cleared still needs its ambulance).
    """
    if incident.get("status") != "dispatched":
        return None
    items = list(incident.get("assignments") or [])
    if not items or any(a.get("ended_at") is None for a in items):
        return None
    if not any(a.get("on_scene_at") for a in items):
        return None
    return "dibawa_ke_rs" if any(a.get("transporting_at") for a in items) else "selesai"


# --- responders -------------------------------------------------------------

@dataclass(frozen=True)
class Assignment:
    id: int
    unit_id: int
    incident_id: int
    callsign: str
    unit_type: str
    eta_s: float | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Assignment:
        data = event.get("data") or {}
        return cls(int(data["assignment_id"]), int(event["unit_id"]), int(event["incident_id"]),
                   str(data.get("callsign", "")), str(data.get("unit_type", "")),
                   None if data.get("eta_s") is None else float(data["eta_s"]))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Assignment:
        return cls(int(row["id"]), int(row["unit_id"]), int(row["incident_id"]),
                   str(row["callsign"]), str(row["unit_type"]),
                   None if row.get("eta_s") is None else float(row["eta_s"]))


@dataclass
class _Shared:
    """What the roles share: the API, the clock factor, counts, known scenes."""

    api: Api
    time_scale: float
    tally: _Tally
    scenes: dict[int, Point] = field(default_factory=dict)

    async def sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(simulated_s / self.time_scale)


class UnitWalk:
    """One unit working one assignment, from dispatched to available and home."""

    def __init__(self, shared: _Shared, assignment: Assignment, rng: random.Random) -> None:
        self._s = shared
        self._a = assignment
        self._rng = rng
        self._pos: Point | None = None

    async def run(self) -> None:
        """Walk the lifecycle; a 409 (reassigned, closed, changed by a person) ends it quietly."""
        try:
            await self._respond()
        except ApiError as exc:
            if exc.status != 409:
                raise
            log.info("sim.walk_ended", callsign=self._a.callsign, unit_id=self._a.unit_id,
                     incident_id=self._a.incident_id, reason=exc.code)

    async def _respond(self) -> None:
        scene = await self._locate()
        turnout = self._rng.uniform(*TURNOUT_S)
        await self._s.sleep(turnout * 0.25)
        await self._status("acknowledged")
        await self._s.sleep(turnout * 0.75)
        await self._status("en_route")
        await self._drive(scene, self._eta_s(scene))
        await self._status("on_scene")
        await self._s.sleep(self._rng.uniform(*ON_SCENE_S))
        if self._a.unit_type == "ambulance" and self._rng.random() < TRANSPORT_SHARE:
            await self._transport()
        await self._status("available")
        self._s.tally.units_cleared += 1
        await self._go_home()

    async def _locate(self) -> Point | None:
        """Where the unit is now and where it is going."""
        unit = await self._s.api.get(f"/api/v1/units/{self._a.unit_id}")
        self._pos = _point(unit.get("location"))
        scene = self._s.scenes.get(self._a.incident_id)
        if scene is None:  # an incident this run did not create
            incident = await self._s.api.get(f"/api/v1/incidents/{self._a.incident_id}")
            scene = _point(incident.get("location"))
        return scene

    def _eta_s(self, scene: Point | None) -> float:
        if self._a.eta_s is not None:
            return self._a.eta_s
        if self._pos is None or scene is None:
            return 600.0  # no positions to go by: ten minutes, an estimate
        return travel_s(self._pos, scene, self._a.unit_type)

    async def _drive(self, dest: Point | None, duration_s: float) -> None:
        """Report a few positions on the way to ``dest``, arriving after ``duration_s``."""
        start = self._pos
        if start is None or dest is None:
            await self._s.sleep(duration_s)
            self._pos = dest or start
            return
        for step in range(1, DRIVE_STEPS + 1):
            await self._s.sleep(duration_s / DRIVE_STEPS)
            self._pos = interpolate(start, dest, step / DRIVE_STEPS)
            await self._s.api.put(f"/api/v1/units/{self._a.unit_id}/location",
                                  {"lat": self._pos.lat, "lon": self._pos.lon})

    async def _transport(self) -> None:
        here = self._pos
        hospital = nearest_hospital(here) if here is not None else HOSPITALS[0]
        dest = Point(hospital.lat, hospital.lon)
        await self._status("transporting")
        # Without a position to go by, a quarter of an hour (an estimate).
        await self._drive(dest, travel_s(here, dest, "ambulance") if here is not None else 900.0)
        await self._status("at_hospital")
        log.info("sim.patient_delivered", callsign=self._a.callsign,
                 incident_id=self._a.incident_id, hospital=hospital.name)
        await self._s.sleep(self._rng.uniform(*HANDOVER_S))

    async def _go_home(self) -> None:
        """Drive back to the station (a new assignment cancels this walk)."""
        home = HOMES.get(self._a.callsign)
        if home is None or self._pos is None or great_circle_m(self._pos, home) < 200:
            return  # a unit we know no station for stays where it is
        await self._drive(home, travel_s(self._pos, home, self._a.unit_type))

    async def _status(self, status: str) -> None:
        await self._s.api.post(f"/api/v1/units/{self._a.unit_id}/status", {"status": status})
        log.debug("sim.unit_status", callsign=self._a.callsign, status=status,
                  incident_id=self._a.incident_id)


# --- the simulation ---------------------------------------------------------

class Simulation:
    """Callers, responders and the operator, run until every call is closed."""

    def __init__(self, api: Api, mix: CallMix, *, calls: int, rate: float, time_scale: float,
                 seed: int) -> None:
        self._api = api
        self._mix = mix
        self._calls = calls
        self._rate = rate
        self._seed = seed
        self._rng = random.Random(seed)
        self._shared = _Shared(api, time_scale, _Tally())
        self._callers: list[str] = []
        self._open: set[int] = set()
        self._calls_done = False
        self._done = asyncio.Event()
        self._stream_ready = asyncio.Event()
        self._seqs = SeqFilter()
        self._to_check: asyncio.Queue[int] = asyncio.Queue()
        self._walks: dict[int, tuple[int, asyncio.Task[None]]] = {}  # unit id -> (asg id, task)
        self._walked: set[int] = set()  # assignment ids already walked

    async def run(self, max_duration_s: float | None) -> SimulationReport:
        """Run until all calls are placed and closed, or ``max_duration_s`` passes."""
        core = [asyncio.create_task(self._follow_stream(), name="sim-stream"),
                asyncio.create_task(self._operate(), name="sim-operator"),
                asyncio.create_task(self._place_calls(), name="sim-callers")]
        try:
            await self._supervise(core, max_duration_s)
        finally:
            await _cancel_all([*core, *(task for _, task in self._walks.values())])
        return self._shared.tally.report()

    async def _supervise(self, core: list[asyncio.Task[None]],
                         max_duration_s: float | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if max_duration_s is None else loop.time() + max_duration_s
        finished = asyncio.create_task(self._done.wait())
        watch: set[asyncio.Task[Any]] = {finished, *core}
        try:
            while not self._done.is_set():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    log.warning("sim.time_up", open_incidents=sorted(self._open),
                                calls_done=self._calls_done)
                    return
                ended, watch = await asyncio.wait(watch, timeout=remaining,
                                                  return_when=asyncio.FIRST_COMPLETED)
                for task in ended - {finished}:
                    exc = task.exception()
                    if exc is not None:  # a bug in a role: stop rather than hang
                        raise exc
        finally:
            await _cancel_all([finished])

    def _check_finished(self) -> None:
        if self._calls_done and not self._open:
            self._done.set()

    # --- callers ----------------------------------------------------------

    async def _place_calls(self) -> None:
        # Calls start only once the stream is live, so no assignment goes unseen.
        await self._stream_ready.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(self._calls):
            await asyncio.sleep(max(0.0, start + n / self._rate - loop.time()))
            await self._place_call()
        self._calls_done = True
        log.info("sim.calls_done", **asdict(self._shared.tally))
        self._check_finished()

    async def _place_call(self) -> None:
        call = make_call(self._rng, self._mix, self._callers)
        self._callers.append(call.caller_phone)
        tally = self._shared.tally
        tally.calls_placed += 1
        try:
            incident = await self._api.post("/api/v1/incidents", call.body())
        except REQUEST_ERRORS as exc:
            tally.errors += 1
            log.warning("sim.call_failed", category=call.category, error=str(exc))
            return
        incident_id = int(incident["id"])
        self._shared.scenes[incident_id] = call.scene
        self._open.add(incident_id)
        tally.incidents_created += 1
        log.info("sim.call_placed", incident_id=incident_id, category=call.category,
                 priority=call.priority, kecamatan=call.kecamatan.name)

    # --- the event stream -------------------------------------------------

    async def _follow_stream(self) -> None:
        """Read the stream forever, reconnecting (with Last-Event-ID) when it drops."""
        parser = SseParser()
        delay = 0.5
        while True:
            try:
                if await self._read_stream(parser):
                    delay = 0.5
                log.warning("sim.stream_closed", retry_in_s=delay)
            except STREAM_ERRORS as exc:
                log.warning("sim.stream_lost", error=str(exc) or type(exc).__name__,
                            retry_in_s=delay)
                if isinstance(exc, ApiError) and exc.status == 400:
                    parser.last_id = None  # the service refuses our resume point
            parser.reset()
            await asyncio.sleep(delay)  # back off while the service is away
            delay = min(delay * 2, 5.0)

    async def _read_stream(self, parser: SseParser) -> bool:
        """One connection; returns whether it got as far as the greeting."""
        headers = {"Last-Event-ID": parser.last_id} if parser.last_id else {}
        greeted = False
        url = self._api.base_url + "/api/v1/events"
        async with self._api.session.get(url, headers=headers, timeout=STREAM_TIMEOUT) as resp:
            if resp.status != 200:
                raise ApiError("GET", "/api/v1/events", resp.status, None)
            async for raw in resp.content:
                event = parser.feed(raw.decode("utf-8", "replace"))
                if event is None:
                    continue
                greeted = greeted or event.kind == "hello"
                await self._handle(event)
        return greeted

    async def _handle(self, event: SseEvent) -> None:
        if event.kind == "hello":
            if not self._stream_ready.is_set():
                self._stream_ready.set()
                await self._adopt_dispatched_units()
            return
        if event.kind == "resync":  # events were lost: catch up from the current state
            log.warning("sim.stream_resync", data=event.data)
            await self._adopt_dispatched_units()
            for incident_id in sorted(self._open):
                self._to_check.put_nowait(incident_id)
            return
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            log.warning("sim.bad_event", kind=event.kind)
            return
        if not isinstance(payload, dict):
            return
        seq = payload.get("seq")
        if isinstance(seq, int) and not self._seqs.first_time(seq):
            return  # a repeat: the relay delivers at least once
        self._on_event(event.kind, payload)

    def _on_event(self, kind: str, event: dict[str, Any]) -> None:
        incident_id = event.get("incident_id")
        if kind == "unit.assigned":
            self._start_walk(Assignment.from_event(event))
        elif kind == "assignment.ended":
            data = event.get("data") or {}
            if data.get("reason") != "cleared":  # taken off the incident: stop walking it
                self._stop_walk(int(event["unit_id"]), int(data["assignment_id"]))
            if incident_id in self._open:
                self._to_check.put_nowait(int(incident_id))
        elif kind == "incident.closed" and incident_id in self._open:
            self._mark_closed(int(incident_id))

    # --- responders -------------------------------------------------------

    def _start_walk(self, assignment: Assignment) -> None:
        if assignment.id in self._walked:
            return
        self._walked.add(assignment.id)
        previous = self._walks.get(assignment.unit_id)
        if previous is not None:  # the unit was sent elsewhere (e.g. on its way home)
            previous[1].cancel()
        rng = random.Random(self._seed * 1_000_003 + assignment.id)
        task = asyncio.create_task(self._walk(UnitWalk(self._shared, assignment, rng)),
                                   name=f"sim-walk-{assignment.callsign}")
        self._walks[assignment.unit_id] = (assignment.id, task)
        task.add_done_callback(lambda t: self._forget(assignment.unit_id, t))
        self._shared.tally.units_dispatched += 1
        log.info("sim.unit_dispatched", callsign=assignment.callsign,
                 incident_id=assignment.incident_id, eta_s=assignment.eta_s)

    def _stop_walk(self, unit_id: int, assignment_id: int) -> None:
        current = self._walks.get(unit_id)
        if current is not None and current[0] == assignment_id:
            current[1].cancel()

    def _forget(self, unit_id: int, task: asyncio.Task[None]) -> None:
        if self._walks.get(unit_id, (0, None))[1] is task:
            del self._walks[unit_id]

    async def _walk(self, walk: UnitWalk) -> None:
        try:
            await walk.run()
        except REQUEST_ERRORS as exc:
            self._shared.tally.errors += 1
            log.warning("sim.walk_failed", error=str(exc))
        except Exception:  # a task boundary: log it, keep the other units going
            self._shared.tally.errors += 1
            log.exception("sim.walk_crashed")

    async def _adopt_dispatched_units(self) -> None:
        """Walk units left 'dispatched' with nobody driving them (their event was missed)."""
        try:
            listing = await self._api.get("/api/v1/units?status=dispatched")
            for unit in listing["items"]:
                if unit["id"] in self._walks:
                    continue
                detail = await self._api.get(f"/api/v1/units/{unit['id']}")
                if detail.get("assignment"):
                    self._start_walk(Assignment.from_row(detail["assignment"]))
        except REQUEST_ERRORS as exc:
            self._shared.tally.errors += 1
            log.warning("sim.adopt_failed", error=str(exc))

    # --- the operator -----------------------------------------------------

    async def _operate(self) -> None:
        """Check incidents as their assignments end; sweep all open ones now and then."""
        while True:
            try:
                async with asyncio.timeout(SWEEP_S):
                    due = [await self._to_check.get()]
            except TimeoutError:
                due = sorted(self._open)
            for incident_id in due:
                if incident_id in self._open:
                    await self._check_incident(incident_id)

    async def _check_incident(self, incident_id: int) -> None:
        try:
            detail = await self._api.get(f"/api/v1/incidents/{incident_id}")
            if detail["status"] == "closed":
                self._mark_closed(incident_id)
                return
            disposition = closing_disposition(detail)
            if disposition is not None:
                await self._close(incident_id, disposition)
        except REQUEST_ERRORS as exc:
            self._shared.tally.errors += 1
            log.warning("sim.check_failed", incident_id=incident_id, error=str(exc))

    async def _close(self, incident_id: int, disposition: str) -> None:
        try:
            await self._api.post(f"/api/v1/incidents/{incident_id}/close",
                                 {"disposition": disposition, "confirm": True})
        except ApiError as exc:
            if exc.status != 409:
                raise
            log.info("sim.already_closed", incident_id=incident_id)  # someone beat us to it
        else:
            self._shared.tally.incidents_closed += 1
            log.info("sim.incident_closed", incident_id=incident_id, disposition=disposition,
                     still_open=len(self._open) - 1)
        self._mark_closed(incident_id)

    def _mark_closed(self, incident_id: int) -> None:
        self._open.discard(incident_id)
        self._check_finished()


async def _cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _check_arguments(calls: int, rate: float, time_scale: float) -> None:
    if calls < 0:
        raise SimulationError(f"calls must be >= 0, got {calls}")
    if rate <= 0 or time_scale <= 0:
        raise SimulationError(f"rate and time_scale must be > 0, got {rate} and {time_scale}")


async def run_simulation(base_url: str, *, calls: int, rate: float, time_scale: float,
                         seed: int, wait_ready: bool = False,
                         max_duration_s: float | None = None,
                         token: str = "") -> SimulationReport:
    """Play ``calls`` emergency calls against the service at ``base_url`` and respond to them.

    Calls arrive at ``rate`` per second; responder and hospital times are divided
    by ``time_scale``; ``seed`` makes the call sequence reproducible. Returns
    when every incident created here is closed, or when ``max_duration_s`` has
    passed (then some may still be open; the report says how far it got). ``token``
    is an API token (`siap112 token create`); its name is the actor on the timeline.
    """
    _check_arguments(calls, rate, time_scale)
    # Everything it logs is flagged as simulated (sql/022), so the dashboard says so.
    headers = {"X-Siap112-Simulated": "1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(headers=headers, timeout=REQUEST_TIMEOUT) as session:
        api = Api(session, base_url)
        if wait_ready:
            await wait_until_ready(api)
        mix = CallMix.from_meta(await api.get("/api/v1/meta"))
        log.info("sim.start", url=api.base_url, calls=calls, rate=rate, time_scale=time_scale,
                 seed=seed)
        sim = Simulation(api, mix, calls=calls, rate=rate, time_scale=time_scale, seed=seed)
        report = await sim.run(max_duration_s)
    log.info("sim.done", **asdict(report))
    return report
