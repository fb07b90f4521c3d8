"""The benchmark's own database, and the service and helper processes it starts.

Everything listens on 127.0.0.1. The database is created for the run and
dropped afterwards, so a benchmark never touches a real one.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from dispatch.store import accounts
from dispatch.store.migrate import migrate

READY_TIMEOUT_S = 60.0
# Set, the child processes' logs are kept (in the temporary directory, named
# siap112-bench-*.log) for reading after a run that failed.
KEEP_LOGS_ENV = "SIAP112_BENCH_KEEP_LOGS"


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@asynccontextmanager
async def bench_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database of the benchmark's own; dropped on exit."""
    name = f"siap112_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(admin_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield url
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    """A child process serving HTTP on 127.0.0.1."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: str
    # An admin API token's Authorization header for ``siap112 serve`` children.
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 15 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get(KEEP_LOGS_ENV):
            os.unlink(self.log_path)


def _tail(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-3000:]


def _spawn(args: list[str], env: Mapping[str, str]) -> Process:
    fd, log_path = tempfile.mkstemp(prefix="siap112-bench-", suffix=".log")
    proc = subprocess.Popen([sys.executable, "-m", *args], env={**os.environ, **env},
                            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd)
    os.close(fd)
    return Process(proc, "", log_path)


async def _await_http(proc: Process, path: str) -> None:
    """Until the child answers ``path`` with 200 (bounded); fail with its log if it exits."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.proc.poll() is not None:
                raise RuntimeError(f"{proc.base_url} exited early:\n{_tail(proc.log_path)}")
            try:
                async with http.get(proc.base_url + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{proc.base_url}{path} not ready in {READY_TIMEOUT_S} s")
            await asyncio.sleep(0.1)  # a child process starting up: poll its port, bounded


async def start(args: list[str], env: Mapping[str, str], port: int, ready_path: str
                ) -> Process:
    """Start ``python -m <args>`` and return once ``ready_path`` answers 200."""
    child = _spawn(args, env)
    child.base_url = f"http://127.0.0.1:{port}"
    try:
        await _await_http(child, ready_path)
    except BaseException:
        child.stop()
        raise
    return child


async def start_service(database_url: str, redis_url: str, stream_key: str,
                        **overrides: str) -> Process:
    """``siap112 serve`` on a free loopback port against the benchmark database."""
    port = free_port()
    env = {"SIAP112_DATABASE_URL": database_url, "SIAP112_REDIS_URL": redis_url,
           "SIAP112_REDIS_STREAM_KEY": stream_key, "SIAP112_HTTP_HOST": "127.0.0.1",
           "SIAP112_HTTP_PORT": str(port), "SIAP112_LOG_LEVEL": "warning",
           # The benchmark measures the service's capacity, not its rate limiter, and
           # opens its many consoles with one token (no per-login stream cap).
           "SIAP112_AUTH_INTAKE_PER_MINUTE": "0", "SIAP112_SSE_MAX_STREAMS_PER_PRINCIPAL": "0",
           **overrides}
    child = await start(["dispatch", "serve"], env, port, "/readyz")
    conn = await asyncpg.connect(database_url)
    try:
        _, secret, _ = await accounts.create_token(conn, "bench", "admin", 1)
    finally:
        await conn.close()
    child.headers["Authorization"] = f"Bearer {secret}"
    return child


async def start_worker(kind: str, database_url: str, redis_url: str, stream_key: str
                       ) -> Process:
    """A standalone ``siap112 dispatcher`` or ``siap112 relay``, once its log says it started.

    The topology the README recommends for a busy centre: web processes serve HTTP and
    SSE only, the dispatcher and the relay run as processes of their own.
    """
    env = {"SIAP112_DATABASE_URL": database_url, "SIAP112_REDIS_URL": redis_url,
           "SIAP112_REDIS_STREAM_KEY": stream_key, "SIAP112_LOG_LEVEL": "info",
           "SIAP112_LOG_FORMAT": "json"}
    child = _spawn(["dispatch", kind], env)
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    try:
        while f"{kind}.started" not in _tail(child.log_path):
            if child.proc.poll() is not None:
                raise RuntimeError(f"siap112 {kind} exited early:\n{_tail(child.log_path)}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"siap112 {kind} did not start in {READY_TIMEOUT_S} s")
            await asyncio.sleep(0.1)  # a child process starting up: poll its log, bounded
    except BaseException:
        child.stop()
        raise
    return child


def postgres_cpu_seconds() -> float:
    """User + system CPU time of every PostgreSQL process on this host (0 if none is
    local): the server's share of a phase, when the benchmark's database is here."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii") as f:
                if f.read().strip() != "postgres":
                    continue
            total += cpu_seconds(int(entry))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


class CpuMeter:
    """CPU seconds per processes named, PostgreSQL's and this process's, over a span."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        now["PostgreSQL"] = postgres_cpu_seconds()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now["load generator"] = usage.ru_utime + usage.ru_stime
        return now

    def per(self, count: int) -> str:
        """CPU per item since the start, e.g. "web 1.6, PostgreSQL 2.4 ms" (count items)."""
        end = self._read()
        parts = [f"{name} {(end[name] - self._start[name]) / max(1, count) * 1e3:.2f}"
                 for name in end]
        return ", ".join(parts) + " ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_echo() -> Process:
    """The trivial aiohttp JSON server used as the HTTP baseline."""
    port = free_port()
    return await start(["dispatch.benchmarks.echo", str(port)], {}, port, "/healthz")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process: VmRSS from /proc (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
