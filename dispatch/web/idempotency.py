"""Idempotency-Key support for intake: a retried POST never creates a second incident.

Used by POST /api/v1/incidents and POST /api/v1/calls alike.

A console that timed out does not know whether its report was saved. It sends
the same ``Idempotency-Key`` again; the first answer is stored in PostgreSQL in
the same transaction as the incident, so the retry gets that answer back (with
``Idempotent-Replayed: true``) and nothing new is created. Two requests with the
same key at once are serialised by a transaction advisory lock on the key. A
key reused with a different body is refused with 422: the client has a bug, and
guessing which report it meant would be worse. Keys are remembered for
``http.idempotency_ttl_s`` seconds, per principal: the same key sent by two tokens
or two users names two different requests, and no one gets another's answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg
import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel

from dispatch import keys
from dispatch.errors import DomainError
from dispatch.web.common import transact

log = structlog.get_logger(__name__)
T = TypeVar("T")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as a UUID or ULID is

LOCK_KEY_SQL = """
SELECT pg_advisory_xact_lock(hashtextextended('idempotency:' || $1 || chr(31) || $2, 0))
"""
FIND_SQL = """
SELECT fingerprint, response FROM idempotency_keys
WHERE principal = $1 AND key = $2
  AND created_at > clock_timestamp() - make_interval(secs => $3)
"""
REMEMBER_SQL = """
INSERT INTO idempotency_keys AS k (principal, key, fingerprint, incident_id, response)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (principal, key) DO UPDATE   -- only an expired row: FIND_SQL saw none
SET fingerprint = excluded.fingerprint, incident_id = excluded.incident_id,
    response = excluded.response, created_at = clock_timestamp()
"""
# A few expired keys go with every new one, so the table stays small without a job.
PURGE_SQL = """
DELETE FROM idempotency_keys WHERE (principal, key) IN (
    SELECT principal, key FROM idempotency_keys
    WHERE created_at <= clock_timestamp() - make_interval(secs => $1)
    ORDER BY created_at LIMIT 100)
"""


class KeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class IdempotencyKey:
    principal: str  # "token:<id>" or "user:<id>": keys are scoped to who sent them
    key: str
    fingerprint: str
    ttl_s: float


def key_of(request: web.Request, body: BaseModel) -> IdempotencyKey | None:
    """The request's Idempotency-Key with a fingerprint of its validated body, or None."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY.match(key):
        raise DomainError(f"{HEADER} must be 1 to 200 visible ASCII characters, e.g. a UUID",
                          code="invalid_idempotency_key", field=HEADER)
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    fingerprint = hashlib.sha256(request.path.encode() + b"\n" + canonical).hexdigest()
    principal = request.get(keys.PRINCIPAL)
    owner = f"{principal.kind}:{principal.id}" if principal is not None else "anonymous"
    return IdempotencyKey(owner, key, fingerprint,
                          request.app[keys.SETTINGS].http.idempotency_ttl_s)


async def _earlier(conn: asyncpg.Connection, key: IdempotencyKey) -> Any | None:
    await conn.execute(LOCK_KEY_SQL, key.principal, key.key)
    row = await conn.fetchrow(FIND_SQL, key.principal, key.key, key.ttl_s)
    if row is None:
        return None
    if row["fingerprint"] != key.fingerprint:
        raise KeyReused(f"this {HEADER} was already used for a different request; "
                        "use a new key for a new report", field=HEADER)
    return row["response"]


async def transact_once(request: web.Request, body: BaseModel,
                        work: Callable[[asyncpg.Connection], Awaitable[T]],
                        incident_id: Callable[[T], int | None]) -> tuple[T, dict[str, str]]:
    """Run ``work`` in one transaction unless this request's key already has an answer.

    Returns the answer (the first one, on a retry) and headers to add to the
    response. Without an Idempotency-Key this is just :func:`transact`. ``incident_id``
    names the incident the answer created, if any (a prank call's log creates none).
    """
    key = key_of(request, body)
    if key is None:
        return await transact(request, work), {}

    async def once(conn: asyncpg.Connection) -> tuple[T, bool]:
        earlier = await _earlier(conn, key)
        if earlier is not None:
            return cast(T, earlier), True
        result = await work(conn)
        await conn.execute(REMEMBER_SQL, key.principal, key.key, key.fingerprint,
                           incident_id(result), result)
        await conn.execute(PURGE_SQL, key.ttl_s)
        return result, False

    result, replayed = await transact(request, once)
    if replayed:
        log.info("intake.replayed", idempotency_key=key.key, incident_id=incident_id(result))
    return result, {REPLAYED_HEADER: "true" if replayed else "false"}
