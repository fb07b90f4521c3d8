"""Fixtures for the fault suite: a private PostgreSQL and Valkey per session, and a
cluster of service processes (web instances, dispatchers) per test.

These servers are never the shared ones on the machine: the suite stops, kills
and wipes them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import PostgresProcess, ServiceProcess, ValkeyProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Servers:
    pg: PostgresProcess
    valkey: ValkeyProcess


@pytest.fixture(scope="session")
def fault_servers() -> Iterator[Servers]:
    # Not pytest's tmp_path: other pytest sessions on the machine prune old
    # pytest-of-* folders, and this one holds a running server's data.
    base = Path(tempfile.mkdtemp(prefix="siap112-faults-"))
    pg = PostgresProcess(base)
    valkey_dir = base / "valkey"
    valkey_dir.mkdir()
    valkey = ValkeyProcess(valkey_dir, free_port())
    valkey.start()
    try:
        yield Servers(pg, valkey)
    finally:
        valkey.stop()
        pg.close()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Cluster:
    """Service processes sharing one database (fresh per test) and one stream key."""

    servers: Servers
    db_url: str
    stream_key: str
    webs: list[ServiceProcess] = field(default_factory=list)
    dispatchers: list[ServiceProcess] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    # An admin API token made with `siap112 token create` once the first web migrated.
    headers: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return {"SIAP112_DATABASE_URL": self.db_url,
                "SIAP112_REDIS_URL": self.servers.valkey.url,
                "SIAP112_REDIS_STREAM_KEY": self.stream_key,
                "SIAP112_LOG_FORMAT": "json", "SIAP112_LOG_LEVEL": "info",
                "SIAP112_DB_POOL_MIN": "1", "SIAP112_DB_POOL_MAX": "6",
                "SIAP112_DB_ACQUIRE_TIMEOUT_S": "3",
                "SIAP112_HTTP_SHUTDOWN_TIMEOUT_S": "5",
                "SIAP112_DISPATCH_SHUTDOWN_TIMEOUT_S": "5",
                # The load generator sends bursts far above a console's pace.
                "SIAP112_AUTH_INTAKE_PER_MINUTE": "0", **extra}

    async def add_web(self, **extra: str) -> ServiceProcess:
        port = free_port()
        web = await ServiceProcess.start(
            f"web{len(self.webs)}", "serve",
            self.env(SIAP112_HTTP_PORT=str(port), SIAP112_DISPATCH_RUN_IN_WEB="false",
                     **extra), ready_event="serve.listening")
        self.webs.append(web)
        self.urls.append(f"http://127.0.0.1:{port}")
        if not self.headers:
            self.headers = {"Authorization": f"Bearer {await self.cli_token()}"}
        return web

    async def cli_token(self) -> str:
        """A new admin API token, made as an operator would: `siap112 token create`."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatch", "token", "create", "faults", "--role", "admin",
            env={**os.environ, **self.env()}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode().strip()

    async def add_dispatcher(self, **extra: str) -> ServiceProcess:
        proc = await ServiceProcess.start(f"dispatcher{len(self.dispatchers)}", "dispatcher",
                                          self.env(**extra), ready_event="dispatcher.started")
        self.dispatchers.append(proc)
        return proc

    async def start(self, webs: int, dispatchers: int) -> None:
        await self.add_web()  # the first one applies the migrations
        await asyncio.gather(*(self.add_web() for _ in range(webs - 1)),
                             *(self.add_dispatcher() for _ in range(dispatchers)))

    def all(self) -> list[ServiceProcess]:
        return [*self.webs, *self.dispatchers]

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.all()))
        for proc in self.all():  # what went wrong inside, when something did
            for line in proc.lines:
                if line.get("level") in {"error", "critical"}:
                    sys.stderr.write(f"{proc.name}: {line}\n")


@pytest.fixture
async def cluster(fault_servers: Servers) -> AsyncIterator[Cluster]:
    name = f"siap112_fault_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(fault_servers.pg.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    c = Cluster(fault_servers, fault_servers.pg.url(name), f"siap112:fault:{name}")
    try:
        yield c
    finally:
        await c.stop()
        if not fault_servers.valkey._server.is_running():
            fault_servers.valkey.start()
        admin = await asyncpg.connect(fault_servers.pg.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def fault_db(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.db_url)
    yield conn
    if not conn.is_closed():
        await conn.close()


