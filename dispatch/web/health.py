"""Liveness and readiness.

``/readyz`` answers 503 when PostgreSQL or Redis does not answer, a migration is
pending, or a background loop of this process (dispatcher, relay, stream hub) is
dead or stalled: ``checks.loops`` names it, ``loops`` gives each loop's last
beat, failures and restarts, ``streams`` the open console streams. ``roads`` is the
road engine of this process (``off``: no routing data, ``ok``, or ``degraded``: it failed
or was over budget, so ranking is geodesic): degraded never fails readiness, because
dispatch goes on by geodesic distance.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError

from dispatch import keys
from dispatch.store.db import UNAVAILABLE_ERRORS
from dispatch.store.migrate import SQL_DIR, MigrationState
from dispatch.store.migrate import state as migration_state
from dispatch.web.common import json_response

routes = web.RouteTableDef()
REDIS_CHECK_ERRORS: tuple[type[BaseException], ...] = (RedisError, *UNAVAILABLE_ERRORS)


def _migrations_check(schema: MigrationState) -> object:
    if schema.ok:
        return "ok"
    if schema.shipped == 0:
        return {"missing_files": f"no migration files in {SQL_DIR}"}
    return {"pending": schema.pending, "absent_files": schema.absent}


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, object] = {}
    try:
        async with request.app[keys.PG_POOL].acquire(timeout=2) as conn:
            schema = await asyncio.wait_for(migration_state(conn), 2)
        checks["postgresql"] = "ok"
        checks["migrations"] = _migrations_check(schema)
    except UNAVAILABLE_ERRORS as exc:
        checks["postgresql"] = f"unreachable: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    try:
        await asyncio.wait_for(request.app[keys.REDIS].ping(), 2)
        checks["redis"] = "ok"
    except REDIS_CHECK_ERRORS as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    loops = request.app[keys.LOOPS]
    problems = loops.problems()
    checks["loops"] = "ok" if not problems else "; ".join(problems)
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ready" if ready else "not_ready", "checks": checks,
                          "loops": loops.report(), "roads": request.app[keys.ROADS].status(),
                          "streams": {"open": request.app[keys.HUB].subscriber_count,
                                      "overflows": request.app[keys.HUB].overflows}},
                         status=200 if ready else 503)
