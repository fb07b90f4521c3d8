"""Helpers every view uses: body and query parsing, JSON answers, output shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import orjson
from aiohttp import web
from asyncpg.pool import PoolAcquireContext
from pydantic import BaseModel

from dispatch import keys

# The board's shapes, re-exported for the views.
from dispatch.board import incident_out as incident_out
from dispatch.board import location_of as location_of
from dispatch.board import unit_out as unit_out
from dispatch.core.bounds import INT64_MAX, parse_id
from dispatch.errors import DomainError
from dispatch.store.db import in_transaction

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class BadJson(DomainError):
    status = 400
    code = "invalid_json"


def connection(request: web.Request) -> PoolAcquireContext:
    """A pooled connection for reads, waiting at most the configured acquire timeout."""
    timeout = request.app[keys.SETTINGS].db.acquire_timeout_s
    return request.app[keys.PG_POOL].acquire(timeout=timeout)


# Names the actor for the audit triggers (sql/006), for this transaction only.
SET_ACTOR_SQL = "SELECT set_config('siap112.actor', $1, true)"
# Marks the incidents and calls this transaction inserts as simulated (sql/022).
SET_SIMULATED_SQL = "SELECT set_config('siap112.simulated', 'on', true)"
SIMULATED_HEADER = "X-Siap112-Simulated"


def simulated(request: web.Request) -> bool:
    """An API token's request saying it is simulated traffic (`siap112 simulate` sends
    it). A browser session cannot: what people log is never hidden as a simulation."""
    principal = request.get(keys.PRINCIPAL)
    return (principal is not None and principal.kind == "token"
            and request.headers.get(SIMULATED_HEADER, "").lower() in {"1", "true"})


async def transact(request: web.Request,
                   work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction (retried on deadlock) on the app's pool,
    with the authenticated actor named for the audit log."""
    actor = actor_of(request)
    is_simulated = simulated(request)

    async def as_actor(conn: asyncpg.Connection) -> T:
        await conn.execute(SET_ACTOR_SQL, actor)
        if is_simulated:
            await conn.execute(SET_SIMULATED_SQL)
        return await work(conn)

    return await in_transaction(request.app[keys.PG_POOL], as_actor,
                                timeout=request.app[keys.SETTINGS].db.acquire_timeout_s)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json", headers=headers)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Read a JSON body (size-capped by the app) and validate it against ``model``."""
    raw = await request.read()
    if not raw:
        raise BadJson("the request needs a JSON body", code="empty_body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"the body is not valid JSON: {exc}") from None
    return model.model_validate(data, context=request.app[keys.SETTINGS].bounds)


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string against ``model`` (times within the configured bounds)."""
    return model.model_validate(dict(request.query), context=request.app[keys.SETTINGS].bounds)


class BadId(DomainError):
    status = 404
    code = "invalid_id"


def path_id(request: web.Request, name: str = "id") -> int:
    """The path's id; 404 unless it is ASCII digits within bigint (no '²', '①', 2^63)."""
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        raise BadId(f"no such {name}: {name} must be a whole number 1…{INT64_MAX} written "
                    "with the digits 0-9", field=name)
    return value


def actor_of(request: web.Request) -> str:
    """Who acts: the authenticated user's name or the API token's name (web/auth.py)."""
    principal = request.get(keys.PRINCIPAL)
    return principal.name if principal is not None else "anonymous"


