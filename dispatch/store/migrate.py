"""Numbered SQL migrations from sql/, each in one transaction, recorded in schema_migrations.

An advisory lock makes it safe for several processes to start at once: the
first applies the migrations, the others wait and then find nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
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
    path: Path


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(m.group(1)), path.name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {sql_dir}")
    return found


async def migrate(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE_SQL)
        done = {r["version"] for r in await conn.fetch(APPLIED_SQL)}
        for mig in discover(sql_dir):
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


async def pending(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Names of migrations on disk that the database has not applied."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = {r["version"] for r in await conn.fetch(APPLIED_SQL)} if exists else set()
    return [m.name for m in discover(sql_dir) if m.version not in done]
