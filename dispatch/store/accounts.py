"""Users, browser sessions and API tokens (sql/006_accounts_audit.sql)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# operator: call-taker and dispatcher in one person (a small centre's night shift).
ROLES = ("call_taker", "dispatcher", "operator", "supervisor", "responder", "admin")
# Machine-only roles an API token may hold, never a person (sql/021): the IP-PBX.
TOKEN_ROLES = (*ROLES, "telephony")
TOKEN_PREFIX = "s112_"
# Actors of the system itself: audit triggers ('system'), `siap112 purge`, requests
# without a principal, and the workers ('dispatcher:<host>:<pid>', relay).
RESERVED_NAMES = frozenset({"system", "anonymous", "purge"})
RESERVED_PREFIXES = ("dispatcher", "relay")
_HASHER = PasswordHasher()
# Verified when a username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("siap112-no-such-user")


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a logged-in user or an API token."""

    kind: str  # "user" | "token"
    id: int
    name: str
    role: str
    unit_id: int | None
    csrf: str | None = None  # set for cookie sessions only


def reserved_name(name: str) -> bool:
    """A name the system itself acts under (the workers, the audit triggers, purge):
    a user or token named so would be indistinguishable from them in the timeline.
    The database refuses them too (sql/009)."""
    folded = name.strip().lower()
    return (folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES)
            or ":" in folded)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Constant-shape check: an unknown user still pays for one argon2 verification."""
    try:
        _HASHER.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


INSERT_USER_SQL = """
INSERT INTO users (username, role, unit_id, password_hash) VALUES ($1, $2, $3, $4)
RETURNING id
"""
DISABLE_USER_SQL = """
UPDATE users SET disabled_at = clock_timestamp() WHERE username = $1 AND disabled_at IS NULL
RETURNING id
"""
END_USER_SESSIONS_SQL = "DELETE FROM sessions WHERE user_id = $1"
USER_FOR_LOGIN_SQL = """
SELECT id, username, role, unit_id, password_hash
FROM users WHERE username = $1 AND disabled_at IS NULL
"""
INSERT_SESSION_SQL = """
INSERT INTO sessions (token_hash, user_id, csrf, expires_at)
VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::float8))
"""
DELETE_SESSION_SQL = "DELETE FROM sessions WHERE token_hash = $1"
SESSION_PRINCIPAL_SQL = """
SELECT u.id, u.username AS name, u.role, u.unit_id, s.csrf, s.expires_at
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1 AND s.expires_at > clock_timestamp() AND u.disabled_at IS NULL
"""
INSERT_TOKEN_SQL = """
INSERT INTO api_tokens (name, token_hash, role, unit_id, expires_at)
VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(days => $5::int))
RETURNING id, expires_at
"""
REVOKE_TOKEN_SQL = """
UPDATE api_tokens SET revoked_at = clock_timestamp() WHERE id = $1 AND revoked_at IS NULL
RETURNING id
"""
TOKEN_PRINCIPAL_SQL = """
SELECT id, name, role, unit_id, expires_at FROM api_tokens
WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > clock_timestamp()
"""


class ReservedName(ValueError):
    """The name is one the system acts under (see reserved_name)."""


def _refuse_reserved(name: str) -> None:
    if reserved_name(name):
        raise ReservedName(f"{name!r} is reserved for the system's own actors (system, "
                           "anonymous, purge, dispatcher..., relay..., names with ':')")


async def create_user(conn: asyncpg.Connection, username: str, role: str, password: str,
                      unit_id: int | None = None) -> int:
    """A new user; raises asyncpg.UniqueViolationError when the name is taken and
    ReservedName when it is one of the system's own."""
    _refuse_reserved(username)
    user_id: int = await conn.fetchval(INSERT_USER_SQL, username, role, unit_id,
                                       hash_password(password))
    return user_id


async def disable_user(conn: asyncpg.Connection, username: str) -> bool:
    """Disable a user and end their sessions; False when no active user has that name."""
    async with conn.transaction():
        user_id = await conn.fetchval(DISABLE_USER_SQL, username)
        if user_id is None:
            return False
        await conn.execute(END_USER_SESSIONS_SQL, user_id)
    return True


async def create_token(conn: asyncpg.Connection, name: str, role: str, days: int,
                       unit_id: int | None = None) -> tuple[int, str, datetime]:
    """(id, secret, expiry) of a new API token; the secret is shown once, never stored.
    Raises ReservedName for a name the system acts under."""
    _refuse_reserved(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await conn.fetchrow(INSERT_TOKEN_SQL, name, digest(secret), role, unit_id, days)
    return row["id"], secret, row["expires_at"]


async def revoke_token(conn: asyncpg.Connection, token_id: int) -> bool:
    return await conn.fetchval(REVOKE_TOKEN_SQL, token_id) is not None


async def principal_until(conn: asyncpg.Connection, kind: str, key: bytes
                          ) -> tuple[Principal, datetime] | None:
    """The principal of a token (``kind`` "token") or session ("user") by its secret's
    digest, with the moment it expires; None when unknown, revoked, ended or expired."""
    if kind == "token":
        row = await conn.fetchrow(TOKEN_PRINCIPAL_SQL, key)
        if row is None:
            return None
        return Principal("token", row["id"], row["name"], row["role"],
                         row["unit_id"]), row["expires_at"]
    row = await conn.fetchrow(SESSION_PRINCIPAL_SQL, key)
    if row is None:
        return None
    return Principal("user", row["id"], row["name"], row["role"], row["unit_id"],
                     row["csrf"]), row["expires_at"]


async def start_session(conn: asyncpg.Connection, user_id: int, ttl_s: float
                        ) -> tuple[str, str]:
    """(cookie secret, CSRF token) of a new session for ``user_id``."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await conn.execute(INSERT_SESSION_SQL, digest(secret), user_id, csrf, ttl_s)
    return secret, csrf


async def end_session(conn: asyncpg.Connection, secret: str) -> None:
    await conn.execute(DELETE_SESSION_SQL, digest(secret))
