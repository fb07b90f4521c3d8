"""Login throttling (sql/009_login_throttle_scoped_keys.sql).

An attempt is claimed, atomically in the database, before its password is
checked: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE next_at <= now``
either counts it and sets the earliest time of the next one, or refuses it.
Parallel guesses queue on the row lock, so no more than the free allowance plus
one are ever checked at once. Counts are kept per (username, client address) and
per client address, never per account alone: whoever guesses is slowed, the
account's owner logging in from another address is not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from dispatch.settings import AuthSettings

# Delay before the next attempt after attempt number $n with $f free attempts:
# none while n <= f, then $base, doubling, at most $max seconds.
_DELAY = """make_interval(secs => CASE WHEN {n} <= $3 THEN 0
    ELSE least($5::float8, $4::float8 * 2 ^ ({n} - $3 - 1)) END)"""
CLAIM_SQL = f"""
WITH claim AS (
    INSERT INTO login_throttle AS t (key, username, attempts, next_at)
    VALUES ($1, $2, 1, clock_timestamp() + {_DELAY.format(n="1")})
    ON CONFLICT (key) DO UPDATE
    SET attempts = CASE WHEN t.next_at < clock_timestamp() - make_interval(secs => $6)
                        THEN 1 ELSE t.attempts + 1 END,
        next_at = clock_timestamp() + CASE
            WHEN t.next_at < clock_timestamp() - make_interval(secs => $6)
            THEN {_DELAY.format(n="1")} ELSE {_DELAY.format(n="t.attempts + 1")} END,
        updated_at = clock_timestamp()
    WHERE t.next_at <= clock_timestamp()
    RETURNING attempts
)
SELECT (SELECT attempts FROM claim) AS attempts,
       (SELECT greatest(extract(epoch FROM next_at - clock_timestamp()), 0)::float8
        FROM login_throttle WHERE key = $1) AS wait_s
"""
WAIT_SQL = """
SELECT greatest(extract(epoch FROM next_at - clock_timestamp()), 0)::float8
FROM login_throttle WHERE key = $1
"""
# A successful login: the username's count from this address starts again, and
# the address is not charged for it.
FORGIVE_SQL = """
WITH pair AS (DELETE FROM login_throttle WHERE key = $1)
UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = $2
"""
UNLOCK_SQL = "DELETE FROM login_throttle WHERE username = $1"
# Rows quiet for longer than they can matter go, a few with every login.
PURGE_SQL = """
DELETE FROM login_throttle WHERE key IN (
    SELECT key FROM login_throttle
    WHERE updated_at < clock_timestamp() - make_interval(secs => $1)
    ORDER BY updated_at LIMIT 100)
"""


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Scope:
    """The two counters one login attempt is charged to."""

    username: str
    pair: bytes      # (username, address)
    address: bytes   # address, whatever the username

    @classmethod
    def of(cls, username: str, address: str) -> Scope:
        return cls(username, _digest("pair", username, address), _digest("addr", address))


async def _claim_one(conn: asyncpg.Connection, key: bytes, username: str | None, free: int,
                     cfg: AuthSettings) -> float | None:
    row = await conn.fetchrow(CLAIM_SQL, key, username, free, cfg.login_delay_s,
                              cfg.login_delay_max_s, cfg.login_forget_s)
    if row["attempts"] is not None:
        return None
    wait = row["wait_s"]
    if wait is None:  # the row was made by a transaction our statement's snapshot predates
        wait = await conn.fetchval(WAIT_SQL, key)
    return float(wait or 0.0)


async def claim(conn: asyncpg.Connection, scope: Scope, cfg: AuthSettings) -> float | None:
    """Count one attempt; None if it may go ahead, else the seconds until one may."""
    wait = await _claim_one(conn, scope.pair, scope.username, cfg.login_free_attempts, cfg)
    if wait is None and cfg.login_address_free_attempts > 0:
        wait = await _claim_one(conn, scope.address, None, cfg.login_address_free_attempts,
                                cfg)
    return wait


async def forgive(conn: asyncpg.Connection, scope: Scope, cfg: AuthSettings) -> None:
    """After a successful login: this username and address start afresh."""
    await conn.execute(FORGIVE_SQL, scope.pair, scope.address)
    await purge(conn, cfg)


async def purge(conn: asyncpg.Connection, cfg: AuthSettings) -> None:
    await conn.execute(PURGE_SQL, cfg.login_forget_s + cfg.login_delay_max_s)


async def unlock(conn: asyncpg.Connection, username: str) -> int:
    """Forget every failed login counted against ``username``; the rows removed."""
    status = await conn.execute(UNLOCK_SQL, username)
    return int(status.split()[-1])
