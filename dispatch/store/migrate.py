"""Numbered SQL migrations from sql/, each in one transaction, recorded in schema_migrations.

The files ship inside the package (dispatch/resources.py). An installation that
lacks them is reported, never mistaken for an up-to-date schema: ``migrate``
refuses to run and /readyz answers 503 (:func:`state`).

An advisory lock makes it safe for several processes to start at once: the
first applies the migrations, the others wait and then find nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

import asyncpg
import structlog

from dispatch.resources import MigrationFilesMissing, sql_dir

__all__ = ["MigrationFilesMissing", "discover", "migrate", "state"]
log = structlog.get_logger(__name__)

SQL_DIR = sql_dir()
MIGRATION_LOCK_KEY = 0x51A9_112_0  # arbitrary, constant across versions
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
APPLIED_SQL = "SELECT version FROM schema_migrations"
RECORD_SQL = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Traversable


@dataclass(frozen=True)
class MigrationState:
    """How the database's schema compares with the migration files installed."""

    shipped: int            # migration files found
    pending: list[str]      # files the database has not applied
    absent: list[int]       # applied versions, not above the newest file, with no file

    @property
    def ok(self) -> bool:
        return self.shipped > 0 and not self.pending and not self.absent


def discover(sql_dir: Traversable = SQL_DIR) -> list[Migration]:
    found = []
    entries = sorted(sql_dir.iterdir(), key=lambda p: p.name) if sql_dir.is_dir() else []
    for path in entries:
        if not path.name.endswith(".sql"):
            continue
        m = _NAME.match(path.name)
        if m is None:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), path.name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {sql_dir}")
    return found


async def migrate(conn: asyncpg.Connection, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    migrations = discover(sql_dir)
    if not migrations:
        raise MigrationFilesMissing(f"no migration files in {sql_dir}: the installation is "
                                    "incomplete (reinstall the package)")
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE_SQL)
        done = {r["version"] for r in await conn.fetch(APPLIED_SQL)}
        for mig in migrations:
            if mig.version in done:
                continue
            async with conn.transaction():
                await conn.execute(mig.path.read_text(encoding="utf-8"))
                await conn.execute(RECORD_SQL, mig.version, mig.name)
            log.info("migration.applied", version=mig.version, name=mig.name)
            applied_now.append(mig.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def state(conn: asyncpg.Connection, sql_dir: Traversable = SQL_DIR) -> MigrationState:
    """The schema beside the installed files.

    A version the database applied above the newest file belongs to a newer
    release (a rolling upgrade) and is not counted as absent.
    """
    shipped = discover(sql_dir)
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = {r["version"] for r in await conn.fetch(APPLIED_SQL)} if exists else set()
    newest = max((m.version for m in shipped), default=0)
    versions = {m.version for m in shipped}
    return MigrationState(len(shipped), [m.name for m in shipped if m.version not in done],
                          sorted(v for v in done if v <= newest and v not in versions))

