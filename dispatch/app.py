"""The application factory and one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web
from redis.asyncio import Redis

from dispatch import keys
from dispatch.roads import RoadEngine
from dispatch.settings import Settings
from dispatch.store.db import create_pool
from dispatch.store.migrate import MigrationFilesMissing, migrate
from dispatch.stream import READ_BLOCK_MS, StreamHub
from dispatch.supervise import LoopBody, Supervisor
from dispatch.web import (
    alerts,
    audit,
    auth,
    callbacks,
    calls,
    callstats,
    candidates,
    daily,
    events,
    exchange,
    geo,
    hardening,
    health,
    incidents,
    intake,
    locationlinks,
    meta,
    openapi,
    pages,
    partners,
    places,
    principals,
    ratelimit,
    reports,
    stats,
    units,
)
from dispatch.web.auth import authenticate
from dispatch.web.middleware import errors_as_json, request_context, strict_path_ids
from dispatch.web.principals import PrincipalCache
from dispatch.workers.alerts import AlertChecker
from dispatch.workers.dispatcher import Dispatcher
from dispatch.workers.exchange import ExchangeSender
from dispatch.workers.relay import Relay

log = structlog.get_logger(__name__)


def make_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis.socket_timeout_s + 6,  # XREAD blocks up to 5 s
        socket_connect_timeout=settings.redis.socket_timeout_s,
        health_check_interval=30,
    )


async def pg_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = await create_pool(settings.database_url, settings.db)
    async with pool.acquire() as conn:
        try:
            await migrate(conn)
        except MigrationFilesMissing as exc:
            # Serve anyway, so that /readyz can say what is wrong (503, "migrations").
            log.error("migrate.files_missing", error=str(exc))
    app[keys.PG_POOL] = pool
    yield
    await pool.close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    # No connection is made here: the service starts and takes calls while Redis is down.
    redis = make_redis(app[keys.SETTINGS])
    app[keys.REDIS] = redis
    yield
    await redis.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel and await a background task; repeat if a cancellation was swallowed."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


LoopStarter = Callable[[web.Application], LoopBody]


def supervised(name: str, body: LoopStarter, idle_s: float
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the loop ``body(app)(health)`` under the app's supervisor,
    cancelled and awaited on exit. ``idle_s``: its longest wait between beats when idle."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = app[keys.LOOPS].start(name, body(app), idle_s=idle_s)
        yield
        await _cancel(task)
        log.info("background.stopped", task=name)

    ctx.__name__ = f"{name}_ctx"
    return ctx


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    hub = StreamHub(app[keys.REDIS], settings.redis.stream_key, settings.sse.queue_size)
    app[keys.HUB] = hub
    task = app[keys.LOOPS].start("hub", lambda h: hub.run(h.beat),
                                 idle_s=READ_BLOCK_MS / 1000)
    yield
    await _cancel(task)


async def heartbeats_ctx(app: web.Application) -> AsyncIterator[None]:
    """Write the loops' heartbeats to the database (for `siap112 check`)."""
    supervisor = app[keys.LOOPS]
    task = asyncio.create_task(supervisor.write_heartbeats(app[keys.PG_POOL]),
                               name="heartbeats")
    yield
    await _cancel(task)
    await supervisor.forget(app[keys.PG_POOL])


async def roads_ctx(app: web.Application) -> AsyncIterator[None]:
    """The road engine of this process (the web views' and its dispatcher's), loaded in the
    background so the service starts at once; its worker thread stopped on exit."""
    engine = app[keys.ROADS]
    warm = asyncio.create_task(engine.warm(), name="roads-warm")
    yield
    await _cancel(warm)
    engine.close()


async def close_streams(app: web.Application) -> None:
    """On shutdown, end SSE streams first: consoles reconnect to another instance at once."""
    app[keys.HUB].close_all()


# Every module that has routes, each keeping its routes beside its views.
VIEW_MODULES = (health, meta, geo, incidents, units, events, stats, candidates, reports, pages,
                calls, callbacks, callstats, exchange, partners, auth, audit, openapi,
                locationlinks, places, intake, alerts, daily)


def create_app(settings: Settings) -> web.Application:
    """The only way to get an application; the CLI and the tests both call it."""
    app = web.Application(
        client_max_size=settings.http.max_body_bytes,
        middlewares=[request_context, errors_as_json, strict_path_ids, authenticate,
                     hardening.read_body],
        handler_args=hardening.handler_args(settings.http.request_timeout_s),
    )
    app.on_response_prepare.append(hardening.on_prepare)
    app[keys.SETTINGS] = settings
    app[ratelimit.LIMITS] = ratelimit.Limits.from_settings(settings.auth)
    app[events.OPEN_STREAMS] = events.OpenStreams()
    app[locationlinks.LINK_LIMITS] = locationlinks.LinkLimits(
        settings.calls.location_fixes_per_minute)
    app.cleanup_ctx.append(pg_pool_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app[keys.LOOPS] = Supervisor(settings.supervise)
    app[keys.ROADS] = RoadEngine(settings.roads)
    app.cleanup_ctx.append(roads_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app[keys.PRINCIPALS] = PrincipalCache(settings.auth.principal_cache_s)
    app.cleanup_ctx.append(supervised(
        "access", lambda a: lambda health: a[keys.PRINCIPALS].listen(
            settings.database_url, health.beat), principals.PROBE_S))
    if settings.relay.run_in_web:
        app.cleanup_ctx.append(supervised(
            "relay", lambda a: Relay(a[keys.PG_POOL], a[keys.REDIS], settings).supervised,
            settings.relay.poll_interval_s))
    if settings.dispatch.run_in_web:
        app.cleanup_ctx.append(supervised(
            "dispatcher",
            lambda a: Dispatcher(a[keys.PG_POOL], settings, roads=a[keys.ROADS]).run_forever,
            settings.dispatch.poll_interval_s))
    if settings.exchange.run_in_web and settings.exchange.partners:
        app.cleanup_ctx.append(supervised(
            "exchange", lambda a: ExchangeSender(a[keys.PG_POOL], settings).supervised,
            settings.exchange.poll_interval_s))
    if settings.alerts.run_in_web:
        app.cleanup_ctx.append(supervised(
            "alerts", lambda a: AlertChecker(a[keys.PG_POOL], settings).run_forever,
            settings.alerts.check_s))
    app.cleanup_ctx.append(heartbeats_ctx)
    app.on_shutdown.append(close_streams)
    for module in VIEW_MODULES:
        app.router.add_routes(module.routes)
    return app
