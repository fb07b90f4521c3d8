"""The disaster night's moving parts: callers, live consoles, responders, the board, closing.

Everything goes through the HTTP API of the running app, each role with its own
token: call-takers log calls (POST /api/v1/calls), responders walk their unit's
lifecycle (POST /api/v1/units/{id}/status), the dispatcher closes finished
incidents, a board poller times what a dispatcher's screen reloads, and live
consoles read GET /api/v1/events the way a browser's EventSource does
(reconnecting with Last-Event-ID when the server ends the stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from dispatch.core.jurisdiction import Jurisdiction
from dispatch.demo_data import CALL_PROFILES, KECAMATAN, Kecamatan
from dispatch.geodata import locate
from dispatch.simulate import closing_disposition
from tests.helpers import SseEvent, sse_events

# --- the call mix of an eruption night (estimates) --------------------------

# Category weights for a Kelud eruption: ash fall and lahars bring rescue work,
# collapsed roofs and slippery ash roads bring injuries, ash brings breathing
# trouble. Every category of the run cards appears; the rescue fleet (6 units)
# is the bottleneck, so priority-1 disasters pile up at the head of the queue.
ERUPTION_MIX: dict[str, float] = {
    "bencana_alam": 24, "medis": 20, "kecelakaan_lalu_lintas": 14, "pohon_tumbang": 8,
    "kebakaran": 6, "tanah_longsor": 5, "banjir": 4, "orang_hilang": 3, "kriminalitas": 4,
    "kerusuhan": 2, "evakuasi_hewan": 3, "sarang_tawon": 3, "gangguan_listrik": 2,
    "gangguan_air": 2,
}
DUPLICATE_SHARE = 0.40
PRANK_GHOST_SHARE = 0.15
JITTER_M = (300.0, 2500.0)
DUPLICATE_JITTER_M = 150.0
M_PER_DEG_LAT = 111_320.0
PHONE_PREFIXES = ("0812", "0813", "0821", "0852", "0857", "0877", "0895")


def _priority(rng: random.Random, category: str) -> int:
    profile = CALL_PROFILES.get(category)
    if profile is None or not profile.priorities or category.startswith("gangguan_"):
        return rng.randint(1, 3)  # utility faults: any urgency
    return rng.choices([p for p, _ in profile.priorities],
                       weights=[w for _, w in profile.priorities])[0]


def scene(rng: random.Random, k: Kecamatan) -> tuple[float, float]:
    """A point near the kecamatan centre that the regency serves (no handover)."""
    for _ in range(50):
        d, bearing = rng.uniform(*JITTER_M), rng.uniform(0, 2 * math.pi)
        lat = k.lat + d * math.cos(bearing) / M_PER_DEG_LAT
        lon = k.lon + d * math.sin(bearing) / (M_PER_DEG_LAT * math.cos(math.radians(k.lat)))
        if locate(lat, lon).jurisdiction is Jurisdiction.REGENCY:
            return round(lat, 6), round(lon, 6)
    raise AssertionError(f"no point of the regency near {k.name}")


def near(rng: random.Random, lat: float, lon: float) -> tuple[float, float]:
    """A caller's position a little off a known scene (still inside the regency)."""
    for _ in range(50):
        p = (round(lat + rng.uniform(-1, 1) * DUPLICATE_JITTER_M / M_PER_DEG_LAT, 6),
             round(lon + rng.uniform(-1, 1) * DUPLICATE_JITTER_M / M_PER_DEG_LAT, 6))
        if locate(*p).jurisdiction is Jurisdiction.REGENCY:
            return p
    return lat, lon


# --- live consoles ----------------------------------------------------------

class LiveConsole:
    """One operator's live stream, resumed with Last-Event-ID whenever it ends.

    A browser's EventSource reconnects by itself, sending the id of the last
    entry it received; the server is expected to send every entry after it.
    """

    def __init__(self, session: aiohttp.ClientSession, role: str, *,
                 last_event_id: str | None = None,
                 on_event: Callable[[SseEvent], None] | None = None,
                 on_resume: Callable[[], None] | None = None) -> None:
        self.session = session
        self.role = role
        self.events: list[SseEvent] = []  # every entry with an id, as received
        self.connections = 0
        self.resyncs = 0
        self.broken = 0
        self._on_event = on_event
        self._on_resume = on_resume
        self._last_id = last_event_id
        self._hello = asyncio.Event()
        self._new = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"console-{self.role}")
        await asyncio.wait_for(self._hello.wait(), 15)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            headers = {"Last-Event-ID": self._last_id} if self._last_id else {}
            timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
            try:
                async with self.session.get("/api/v1/events", headers=headers,
                                            timeout=timeout) as resp:
                    assert resp.status == 200, (self.role, resp.status, await resp.text())
                    self.connections += 1
                    async for event in sse_events(resp.content):
                        await self._take(event)
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                    aiohttp.ClientOSError):
                self.broken += 1  # cut mid-entry: resume as a browser would
            # The server ended the stream (it cut a console that fell behind): resume.

    async def _take(self, event: SseEvent) -> None:
        if event.event == "hello":
            self._hello.set()
            if self.connections > 1 and self._on_resume is not None:
                self._on_resume()
            return
        if event.event == "resync":
            self.resyncs += 1
            if self._on_resume is not None:
                self._on_resume()
            return
        if event.id is None:
            return
        self._last_id = event.id
        async with self._new:
            self.events.append(event)
            self._new.notify_all()
        if self._on_event is not None:
            self._on_event(event)

    def seqs(self) -> list[int]:
        return [int(e.data["seq"]) for e in self.events]

    async def wait_for_seq(self, seq: int, timeout: float) -> None:
        """Until an entry with ``seq`` (or later) has arrived."""
        async with self._new:
            await asyncio.wait_for(self._new.wait_for(
                lambda: bool(self.events) and max(self.seqs()) >= seq), timeout)


# --- the night --------------------------------------------------------------

@dataclass
class LoggedCall:
    """What the API answered for one call (201 only; anything else fails the run)."""

    call_id: int
    disposition: str
    incident_id: int | None
    category: str | None
    priority: int | None


@dataclass
class Tally:
    calls: list[LoggedCall] = field(default_factory=list)
    walks: int = 0
    closed: int = 0
    board_incidents_s: list[float] = field(default_factory=list)
    board_units_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class KeludNight:
    """600 calls in 10 simulated minutes, and everything the centre does about them."""

    def __init__(self, *, call_taker: aiohttp.ClientSession, dispatcher: aiohttp.ClientSession,
                 responder: aiohttp.ClientSession, calls: int, simulated_s: float,
                 wall_s: float, seed: int, step_s: tuple[float, float],
                 call_takers: int) -> None:
        self.ct = call_taker
        self.dp = dispatcher
        self.field = responder
        self.n_calls = calls
        self.simulated_s = simulated_s
        self.wall_s = wall_s
        self.rng = random.Random(seed)  # the calls: the same night on every run
        self.field_rng = random.Random(seed + 1)
        self.step_s = step_s
        self.call_takers = asyncio.Semaphore(call_takers)
        self.tally = Tally()
        self.open: dict[int, dict[str, Any]] = {}  # incident id -> its scene and category
        self.linking: Counter[int] = Counter()  # duplicate calls in flight per incident
        self.closing: set[int] = set()
        self.created = 0
        self.calls_done = asyncio.Event()
        self.all_closed = asyncio.Event()
        self.surge_over = asyncio.Event()
        self.failed = asyncio.Event()
        self.in_flight = 0
        self._quiet = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._walked: set[int] = set()
        self._checking: set[int] = set()

    # --- callers ----------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.tally.errors.append(f"{task.get_name()}: {task.exception()!r}")
            self.failed.set()

    async def place_calls(self) -> None:
        """The surge: calls arrive faster and faster, then tail off (a triangle in time)."""
        loop = asyncio.get_running_loop()
        start_wall = loop.time()
        # Simulated time runs ``simulated_s / wall_s`` times faster than the wall clock;
        # the call's rang_at is back-dated so the night ends about now.
        night_start = datetime.now(UTC) - timedelta(seconds=self.simulated_s)
        offsets = sorted(self.rng.triangular(0, self.simulated_s, self.simulated_s * 0.3)
                         for _ in range(self.n_calls))
        kinds = self.rng.choices(
            ["duplicate", "prank_ghost", "emergency"], k=self.n_calls,
            weights=[DUPLICATE_SHARE, PRANK_GHOST_SHARE, 1 - DUPLICATE_SHARE - PRANK_GHOST_SHARE])
        for n, (sim_at, kind) in enumerate(zip(offsets, kinds, strict=True)):
            await asyncio.sleep(max(0.0, start_wall + sim_at * self.wall_s / self.simulated_s
                                    - loop.time()))  # the load shape, not a wait for work
            rang_at = night_start + timedelta(seconds=sim_at)
            await self.call_takers.acquire()
            self.in_flight += 1
            self._spawn(self._one_call(n, kind, rang_at), f"call-{n}")
        async with self._quiet:
            await self._quiet.wait_for(lambda: self.in_flight == 0)
        self.calls_done.set()
        self._check_all_closed()

    async def _one_call(self, n: int, kind: str, rang_at: datetime) -> None:
        try:
            body = self._call_body(kind, rang_at)
            if body["disposition"] == "duplicate":
                target = int(body["incident_id"])
                self.linking[target] += 1
                try:
                    await self._post_call(body)
                finally:
                    self.linking[target] -= 1
                    async with self._quiet:
                        self._quiet.notify_all()
            else:
                await self._post_call(body)
        finally:
            self.call_takers.release()
            self.in_flight -= 1
            async with self._quiet:
                self._quiet.notify_all()

    def _call_body(self, kind: str, rang_at: datetime) -> dict[str, Any]:
        rng = self.rng
        phone = rng.choice(PHONE_PREFIXES) + "".join(rng.choices("0123456789", k=8))
        answered = rang_at + timedelta(seconds=rng.uniform(2, 12))
        body: dict[str, Any] = {"caller_phone": phone, "rang_at": rang_at.isoformat(),
                                "answered_at": answered.isoformat()}
        candidates = [i for i in self.open if i not in self.closing]
        if kind == "duplicate" and candidates:
            # Another caller about an incident already open, most often a recent one.
            target = candidates[-1 - min(int(rng.expovariate(1 / 8)), len(candidates) - 1)]
            lat, lon = near(rng, *self.open[target]["scene"])
            return dict(body, disposition="duplicate", incident_id=target,
                        location={"lat": lat, "lon": lon}, note="Pelapor lain, kejadian sama")
        if kind == "prank_ghost":
            disposition = rng.choice(["prank", "ghost"])
            return dict(body, disposition=disposition,
                        note="Iseng" if disposition == "prank" else "")
        category = rng.choices(list(ERUPTION_MIX), weights=list(ERUPTION_MIX.values()))[0]
        k = rng.choice(KECAMATAN)
        lat, lon = scene(rng, k)
        # Each generated emergency is a new one, even when it lands near an open one.
        return dict(body, disposition="emergency", confirm_new=True,
                    location={"lat": lat, "lon": lon},
                    incident={"category": category, "priority": _priority(rng, category),
                              "address": f"Kec. {k.name}", "description": "Erupsi Kelud"})

    async def _post_call(self, body: dict[str, Any]) -> None:
        async with self.ct.post("/api/v1/calls", json=body) as resp:
            payload = await resp.json()
        assert resp.status == 201, (resp.status, payload, body)
        incident = payload.get("incident") or {}
        self.tally.calls.append(LoggedCall(
            payload["id"], payload["disposition"], payload["incident_id"],
            incident.get("category"), incident.get("priority")))
        if payload["disposition"] == "emergency":
            location = incident["location"]
            self.open[int(incident["id"])] = {"scene": (location["lat"], location["lon"])}
            self.created += 1

    # --- responders and the dispatcher's closing --------------------------

    def on_dispatcher_event(self, event: SseEvent) -> None:
        """The dispatcher's console drives the field: each assignment starts a walk."""
        data = event.data
        if event.event == "unit.assigned":
            assignment_id = int(data["data"]["assignment_id"])
            if assignment_id not in self._walked:
                self._walked.add(assignment_id)
                self._spawn(self._walk(int(data["unit_id"])), f"walk-{assignment_id}")
        elif event.event == "assignment.ended" and data["incident_id"] in self.open:
            self._spawn(self._check(int(data["incident_id"])), f"check-{data['incident_id']}")

    def on_dispatcher_resume(self) -> None:
        """After a reconnect, catch up from the board, as a console reloading would.

        The stream should have resumed without a gap; if it did not, the night still
        ends (and the console's own check names the entries it lost).
        """
        if not self._tasks_named("catch-up"):
            self._spawn(self._catch_up(), "catch-up")

    def _tasks_named(self, name: str) -> bool:
        return any(t.get_name() == name and not t.done() for t in self._tasks)

    async def _catch_up(self) -> None:
        async with self.dp.get("/api/v1/incidents?status=open&limit=1000") as resp:
            board = (await resp.json())["items"]
        for incident in board:
            for a in incident["assignments"]:
                if a["ended_at"] is None and a["id"] not in self._walked:
                    self._walked.add(a["id"])
                    self._spawn(self._walk(int(a["unit_id"])), f"walk-{a['id']}")
            if closing_disposition(incident) is not None and incident["id"] in self.open:
                self._spawn(self._check(int(incident["id"])), f"check-{incident['id']}")

    async def _walk(self, unit_id: int) -> None:
        """Turnout, travel, work on scene: compressed, then the unit is free again."""
        self.tally.walks += 1
        for status in ("en_route", "on_scene", "available"):
            await asyncio.sleep(self.field_rng.uniform(*self.step_s))  # compressed field time
            async with self.field.post(f"/api/v1/units/{unit_id}/status",
                                       json={"status": status}) as resp:
                assert resp.status == 200, (unit_id, status, resp.status, await resp.text())

    async def _check(self, incident_id: int) -> None:
        if incident_id in self._checking:
            return
        self._checking.add(incident_id)
        try:
            async with self.dp.get(f"/api/v1/incidents/{incident_id}") as resp:
                detail = await resp.json()
            assert resp.status == 200, detail
            disposition = closing_disposition(detail)
            if disposition is None or incident_id not in self.open:
                return
            # No duplicate call may be linking to it while it closes (it would get 409).
            self.closing.add(incident_id)
            async with self._quiet:
                await self._quiet.wait_for(lambda: self.linking[incident_id] == 0)
            async with self.dp.post(f"/api/v1/incidents/{incident_id}/close",
                                    json={"disposition": disposition,
                                          "confirm": True}) as resp:
                assert resp.status == 200, (incident_id, resp.status, await resp.text())
            del self.open[incident_id]
            self.tally.closed += 1
            self._check_all_closed()
        finally:
            self._checking.discard(incident_id)

    def _check_all_closed(self) -> None:
        if self.calls_done.is_set() and not self.open:
            self.all_closed.set()

    # --- the board --------------------------------------------------------

    async def poll_board(self, every_s: float) -> None:
        """A dispatcher's board reloading through the surge; timed, never asserted on."""
        while not self.surge_over.is_set():
            for path, sink in (("/api/v1/incidents?status=open&limit=1000",
                                self.tally.board_incidents_s),
                               ("/api/v1/units", self.tally.board_units_s)):
                t0 = time.perf_counter()
                async with self.dp.get(path) as resp:
                    await resp.read()
                sink.append(time.perf_counter() - t0)
                assert resp.status == 200, (path, resp.status)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every_s):  # the board's refresh rate
                    await self.surge_over.wait()

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await task
