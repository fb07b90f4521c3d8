"""Many SSE consoles in a process of their own, so reading them does not slow the load.

``python -m dispatch.benchmarks.consoles BASE_URL COUNT`` opens COUNT streams on
GET /api/v1/events, writes ``ready`` once every console has its ``hello``, then
records for each event the delay from its commit time (the event's ``at``) to
its arrival, and the size on the wire of each status change the first console
received. On a ``stop SEQ`` line on stdin it waits until every console has
received event SEQ, writes the delays and sizes as JSON and exits.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from datetime import datetime

import aiohttp
import orjson

# The Authorization header the consoles send, given by the parent in the environment.
AUTH_ENV = "SIAP112_BENCH_AUTHORIZATION"


class Consoles:
    """COUNT open SSE streams and the delays of what they received."""

    def __init__(self, base_url: str, count: int, authorization: str = "") -> None:
        self._url = base_url + "/api/v1/events"
        self._headers = {"Authorization": authorization} if authorization else {}
        self._count = count
        self.delays: list[float] = []
        self.status_bytes: list[int] = []  # console 0's unit.status messages, as sent
        self._hello = 0
        self._all_ready = asyncio.Event()
        self._seen = [0] * count  # the newest event seq each console received
        self._wanted = 0
        self._all_seen = asyncio.Event()

    def _saw(self, console: int, seq: int) -> None:
        self._seen[console] = max(self._seen[console], seq)
        if self._wanted and min(self._seen) >= self._wanted:
            self._all_seen.set()

    def _block(self, console: int, block: bytes, arrived: float) -> None:
        kind = b"message"
        data = None
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if kind == b"hello":
            self._hello += 1
            if self._hello == self._count:
                self._all_ready.set()
        elif data is not None:
            if console == 0 and kind == b"unit.status":
                self.status_bytes.append(len(block) + 2)  # with the blank line ending it
            event = orjson.loads(data)
            if event.get("at"):
                self.delays.append(arrived - datetime.fromisoformat(event["at"]).timestamp())
            if isinstance(event.get("seq"), int):
                self._saw(console, event["seq"])

    async def _one(self, http: aiohttp.ClientSession, console: int) -> None:
        async with http.get(self._url) as resp:
            buffer = b""
            async for chunk in resp.content.iter_any():
                arrived = time.time()
                buffer += chunk.replace(b"\r\n", b"\n")
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    self._block(console, block, arrived)

    async def run(self) -> None:
        """Open the consoles, announce readiness, and report on ``stop``."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                         headers=self._headers) as http:
            tasks = [asyncio.create_task(self._one(http, i)) for i in range(self._count)]
            await asyncio.wait_for(self._all_ready.wait(), 60)
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            self._wanted = int(line.split()[1]) if len(line.split()) > 1 else 0
            complete = True
            if self._wanted:
                self._saw(0, 0)
                try:
                    await asyncio.wait_for(self._all_seen.wait(), 30)
                except TimeoutError:
                    complete = False
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        report = {"complete": complete, "delays": self.delays,
                  "status_bytes": self.status_bytes,
                  "cpu_s": usage.ru_utime + usage.ru_stime}
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
        sys.stdout.flush()


def main() -> None:
    """``python -m dispatch.benchmarks.consoles BASE_URL COUNT``."""
    asyncio.run(Consoles(sys.argv[1], int(sys.argv[2]), os.environ.get(AUTH_ENV, "")).run())


if __name__ == "__main__":
    main()
