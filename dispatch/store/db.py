"""PostgreSQL connections: the pool, bounded start-up retries, retried transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog

from dispatch.settings import DbSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Errors that mean "the database is not reachable right now", as opposed to
# "this statement is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
)
# Errors after which the same transaction, run again, may well succeed.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


# timestamptz travels as microseconds since this instant (PostgreSQL's epoch).
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_INFINITY = 2**63 - 1
_MIN_US = (datetime.min.replace(tzinfo=UTC) - PG_EPOCH) // timedelta(microseconds=1)
_MAX_US = (datetime.max.replace(tzinfo=UTC) - PG_EPOCH) // timedelta(microseconds=1)
AWARE_MIN = datetime.min.replace(tzinfo=UTC)
AWARE_MAX = datetime.max.replace(tzinfo=UTC)


def encode_timestamptz(at: datetime) -> tuple[int]:
    """An aware datetime as PostgreSQL's microseconds; a naive one is a bug, refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} passed to the database; "
                         "every time must carry its timezone")
    return ((at - PG_EPOCH) // timedelta(microseconds=1),)


def decode_timestamptz(value: tuple[int]) -> datetime:
    """Always an aware UTC datetime: ±infinity and years Python cannot hold become the
    aware extremes, never the naive datetime.min/max asyncpg gives by default (which
    cannot be compared with an aware time) nor an OverflowError."""
    (us,) = value
    if us <= _MIN_US or us == -_PG_INFINITY - 1:
        return AWARE_MIN
    if us >= _MAX_US or us == _PG_INFINITY:
        return AWARE_MAX
    return PG_EPOCH + timedelta(microseconds=us)


async def init_connection(conn: asyncpg.Connection) -> None:
    """The codecs every connection of the service uses (pool and direct ones alike)."""
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
        schema="pg_catalog",
    )
    await conn.set_type_codec(
        "timestamptz", encoder=encode_timestamptz, decoder=decode_timestamptz,
        schema="pg_catalog", format="tuple",
    )


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (a transaction left open
    is rolled back, listeners dropped).

    asyncpg's default reset is one more round trip per release (advisory unlock, CLOSE
    ALL, UNLISTEN, RESET ALL) for session state this service never leaves on a pooled
    connection: settings are set_config(..., true) for one transaction, advisory locks
    are transaction locks, LISTEN has connections of its own (dispatch/store/notify.py,
    dispatch/web/principals.py), and the one session lock (migrations) is released
    in a finally block on the connection that took it.
    """


async def connect_with_retry(
    factory: Callable[[], Awaitable[T]], what: str, attempts: int
) -> T:
    """Call ``factory`` until it succeeds, at most ``attempts`` times with back-off."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return await factory()
        except UNAVAILABLE_ERRORS as exc:
            if attempt == attempts:
                log.error("connect.failed", target=what, attempts=attempts, error=str(exc))
                raise
            log.warning("connect.retry", target=what, attempt=attempt, error=str(exc),
                        retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
    raise AssertionError("unreachable")


async def create_pool(dsn: str, cfg: DbSettings, *, min_size: int | None = None,
                      max_size: int | None = None) -> asyncpg.Pool:
    """A pool with the jsonb codec and a statement timeout, retried at start-up."""

    async def make() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=cfg.pool_min if min_size is None else min_size,
            max_size=cfg.pool_max if max_size is None else max_size,
            init=init_connection,
            reset=keep_session,
            # statement_timeout bounds a statement the server is running; this bounds
            # the wait on a server that stopped answering (a hung host, a cut link),
            # so a request ends with 503 instead of hanging.
            command_timeout=cfg.statement_timeout_ms / 1000 + 2,
            server_settings={
                "statement_timeout": str(cfg.statement_timeout_ms),
                "application_name": "siap112",
                # JIT makes asyncpg's first type introspection of a query take
                # seconds; these short OLTP queries never gain from it.
                "jit": "off",
            },
        )
        assert pool is not None
        return pool

    return await connect_with_retry(make, "postgresql", cfg.connect_attempts)


async def in_transaction(
    pool: asyncpg.Pool,
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    timeout: float,
    attempts: int = 3,
) -> T:
    """Run ``work`` in one transaction; rerun it on a deadlock or serialization failure.

    Its events are written just before it commits, in one statement, with the board
    snapshots of the incidents and units they are about (dispatch/store/events.py).
    """
    from dispatch.store.events import begin_events, forget_events, write_events

    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire(timeout=timeout) as conn:
                begin_events(conn)
                try:
                    async with conn.transaction():
                        result = await work(conn)
                        # Its events, with the board snapshots of what changed.
                        await write_events(conn)
                        return result
                finally:
                    forget_events(conn)
        except RETRYABLE_ERRORS as exc:
            if attempt == attempts:
                raise
            log.warning("tx.retry", attempt=attempt, error=type(exc).__name__)
    raise AssertionError("unreachable")


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)
