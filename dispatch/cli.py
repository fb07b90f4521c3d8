"""The single entry point: ``siap112 serve|dispatcher|relay|exchange|check|migrate|seed|
simulate|demo|bench|roads`` and ``siap112 user|token`` (accounts)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from dispatch.logs import configure_logging
from dispatch.resources import MigrationFilesMissing
from dispatch.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)


def _need_services(settings: Settings) -> None:
    missing = [n for n, v in (("SIAP112_DATABASE_URL", settings.database_url),
                              ("SIAP112_REDIS_URL", settings.redis_url)) if not v]
    if missing:
        raise SettingsError(
            f"{' and '.join(missing)} not set; set them, or run `siap112 demo` to use "
            "embedded servers")


async def _with_pool(settings: Settings, work: Callable[..., Awaitable[object]]) -> object:
    from dispatch.store.db import create_pool

    pool = await create_pool(settings.database_url, settings.db, min_size=1, max_size=4)
    try:
        return await work(pool)
    finally:
        await pool.close()


async def _migrate(settings: Settings) -> None:
    from dispatch.store.migrate import migrate

    async def work(pool: object) -> None:
        async with pool.acquire() as conn:  # type: ignore[attr-defined]
            applied = await migrate(conn)
        log.info("migrate.done", applied=applied)

    await _with_pool(settings, work)


async def _seed(settings: Settings) -> None:
    from dispatch.seed import seed_fleet, seed_places
    from dispatch.store.migrate import migrate

    async def work(pool: object) -> None:
        async with pool.acquire() as conn:  # type: ignore[attr-defined]
            await migrate(conn)
        created = await seed_fleet(pool)
        places = await seed_places(pool)
        log.info("seed.done", units_created=created, places_created=places)

    await _with_pool(settings, work)


def _places_import(settings: Settings, path: str, fmt: str | None) -> int:
    from dispatch.errors import DomainError
    from dispatch.seed import import_places_text

    file = Path(path)
    kind = fmt or ("geojson" if file.suffix.lower() in (".geojson", ".json") else "csv")
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"siap112 places import: {exc}\n")
        return 1

    async def work(pool: object) -> int:
        return await import_places_text(pool, text, kind, name=str(file))

    try:
        count = asyncio.run(_with_pool(settings, work))
    except DomainError as exc:
        sys.stderr.write(f"siap112 places import: {exc}; nothing was imported\n")
        return 1
    sys.stdout.write(f"{count} places imported\n")
    return 0


async def _run_worker(settings: Settings, which: str) -> None:
    """A standalone dispatcher, relay or exchange sender, stopped cleanly by SIGTERM/SIGINT.

    The loop runs under the supervisor: a failure is logged and the loop started
    again, never the process ended; its heartbeats go to the database for
    ``siap112 check``.
    """
    from dispatch.app import make_redis
    from dispatch.store.db import create_pool
    from dispatch.store.migrate import migrate
    from dispatch.supervise import Supervisor
    from dispatch.workers.dispatcher import Dispatcher
    from dispatch.workers.relay import Relay

    pool = await create_pool(settings.database_url, settings.db, min_size=1, max_size=4)
    redis = make_redis(settings)
    supervisor = Supervisor(settings.supervise)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        if which == "dispatcher":
            loop_task = supervisor.start("dispatcher", Dispatcher(pool, settings).run_forever,
                                         idle_s=settings.dispatch.poll_interval_s)
        elif which == "exchange":
            from dispatch.workers.exchange import ExchangeSender
            loop_task = supervisor.start("exchange", ExchangeSender(pool, settings).supervised,
                                         idle_s=settings.exchange.poll_interval_s)
        else:
            loop_task = supervisor.start("relay", Relay(pool, redis, settings).supervised,
                                         idle_s=settings.relay.poll_interval_s)
        beats = asyncio.create_task(supervisor.write_heartbeats(pool), name="heartbeats")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        await supervisor.forget(pool)
        log.info(f"{which}.stopped")
    finally:
        await _close_within(pool, redis, settings.dispatch.shutdown_timeout_s)


async def _check(settings: Settings, worker: str | None) -> int:
    """``siap112 check``: 0 when this host's loops beat within their limits, else 1."""
    import asyncpg
    import orjson

    from dispatch.supervise import check_host

    try:
        conn = await asyncpg.connect(settings.database_url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        sys.stdout.write(orjson.dumps({"healthy": False,
                                       "error": f"{type(exc).__name__}: {exc}"}).decode() + "\n")
        return 1
    try:
        healthy, findings = await check_host(conn, worker)
    except asyncpg.PostgresError as exc:
        healthy, findings = False, [{"error": f"{type(exc).__name__}: {exc}"}]
    finally:
        await conn.close()
    sys.stdout.write(orjson.dumps({"healthy": healthy, "loops": findings}).decode() + "\n")
    return 0 if healthy else 1


async def _close_within(pool: asyncpg.Pool, redis: Redis, budget_s: float) -> None:
    """Close the worker's connections; after ``budget_s`` abandon them.

    Cancelling the worker rolled back its open transaction (or it had just
    committed): either way no incident is half-served. A connection that does not
    close in time (the server is away) is terminated, so the process still exits.
    """
    try:
        async with asyncio.timeout(budget_s):
            await redis.aclose()
            await pool.close()
    except TimeoutError:
        log.warning("worker.close_timeout", budget_s=budget_s)
        pool.terminate()


def _serve(settings: Settings, *, print_url: bool = False) -> None:
    from dispatch.app import create_app

    app = create_app(settings)
    url = f"http://{settings.http.host}:{settings.http.port}/"

    def listening(_banner: str) -> None:
        # run_app calls this once the socket is bound and start-up (pool, migrations)
        # is done, so the line is a true readiness signal for supervisors and tests.
        log.info("serve.listening", url=url)
        if print_url:
            sys.stdout.write(f"\nSiap112 is running: {url}\n  API: {url}api/v1/incidents\n"
                             "  Stop with Ctrl-C.\n\n")
            sys.stdout.flush()

    # On SIGTERM aiohttp stops accepting, ends SSE streams (on_shutdown), waits up to
    # shutdown_timeout_s for requests in flight, then runs the cleanup contexts.
    # No access log: request_context logs every request as one JSON event. A client
    # that hangs up does not cancel its handler (handler_cancellation=False): a report
    # being saved is committed or rolled back whole, never cut off halfway. Slow
    # headers and bodies are bounded by http.request_timeout_s (web/hardening.py).
    web.run_app(app, host=settings.http.host, port=settings.http.port, print=listening,
                shutdown_timeout=settings.http.shutdown_timeout_s, access_log=None,
                handler_cancellation=False, handle_signals=True)
    log.info("serve.stopped")


@contextlib.contextmanager
def _services(settings: Settings, use_embedded: bool) -> Iterator[Settings]:
    if not use_embedded or (settings.database_url and settings.redis_url):
        yield settings
        return
    from dispatch.embedded import embedded_services

    with embedded_services(keep=True) as svc:
        yield replace(settings, database_url=settings.database_url or svc.database_url,
                      redis_url=settings.redis_url or svc.redis_url)


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    """Embedded services (when none configured) + migrate + seed + serve + simulator."""
    import threading

    from dispatch.accounts_cli import demo_accounts
    from dispatch.demo_sms import start_demo_gateway
    from dispatch.simulate import run_simulation

    with _services(settings, use_embedded=True) as s:
        s = start_demo_gateway(s)
        asyncio.run(_seed(s))
        credentials, token = asyncio.run(demo_accounts(s))
        sys.stdout.write(credentials)
        base_url = f"http://{s.http.host}:{s.http.port}"

        def simulate() -> None:
            asyncio.run(run_simulation(base_url, calls=args.calls, rate=args.rate,
                                       time_scale=args.time_scale, seed=args.seed,
                                       wait_ready=True, token=token))

        threading.Thread(target=simulate, name="simulator", daemon=True).start()
        _serve(s, print_url=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="siap112", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the web service (API, SSE, and by default a "
                                 "dispatcher and a relay)")
    sub.add_parser("dispatcher", help="run a standalone dispatcher worker")
    sub.add_parser("relay", help="run a standalone outbox relay")
    sub.add_parser("exchange", help="run a standalone sender of handovers to partner centres")
    check = sub.add_parser("check", help="exit 0 when this host's supervised loops beat "
                                         "recently, 1 when one is dead or stalled (for "
                                         "docker compose and systemd health checks)")
    check.add_argument("--worker", choices=("dispatcher", "relay", "hub", "exchange"), default=None,
                       help="check this loop only (default: every loop on this host)")
    sub.add_parser("migrate", help="apply the SQL migrations in sql/")
    sub.add_parser("seed", help="load the demo fleet and demo landmarks for Kabupaten Blitar "
                                "(idempotent)")
    places = sub.add_parser("places", help="the centre's own places (landmarks callers name)")
    pc = places.add_subparsers(dest="action", required=True)
    pimport = pc.add_parser("import", help="add every place of a CSV (name,kind,lat,lon"
                                           "[,aliases][,note][,estimate]) or GeoJSON file, "
                                           "or none when one is wrong")
    pimport.add_argument("file")
    pimport.add_argument("--format", choices=("csv", "geojson"), default=None,
                         help="default: from the file name (.geojson/.json, else CSV)")
    for name, helptext in (("simulate", "play realistic calls through the HTTP API"),
                           ("demo", "embedded services + migrate + seed + serve + simulator")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("--calls", type=int, default=60 if name == "demo" else 20)
        sp.add_argument("--rate", type=float, default=0.2, help="calls per second")
        sp.add_argument("--time-scale", type=float, default=20.0,
                        help="compress unit travel and work times by this factor")
        sp.add_argument("--seed", type=int, default=112, help="random seed")
        if name == "simulate":
            sp.add_argument("--url", default=None, help="base URL of a running service")
            sp.add_argument("--token", default=None,
                            help="API token (default: $SIAP112_TOKEN); see `siap112 token`")
    roads = sub.add_parser("roads", help="routing data for travel time by road (offline)")
    rc = roads.add_subparsers(dest="action", required=True)
    rbuild = rc.add_parser("build", help="build routing data from an OpenStreetMap extract "
                                         "(.osm.pbf or .osm), clipped to the regency")
    rbuild.add_argument("file", type=Path, help="e.g. java-latest.osm.pbf (Geofabrik) or a "
                        "BBBike extract of Blitar")
    rbuild.add_argument("--data-dir", type=Path, default=None,
                        help="default: roads.data_dir of the configuration")
    rbuild.add_argument("--margin-km", type=float, default=None,
                        help="default: roads.margin_km of the configuration")
    from dispatch.accounts_cli import add_parsers

    add_parsers(sub)
    bench = sub.add_parser("bench", help="measure the service beside the machine's own "
                                         "limits (uses a database of its own)")
    bench.add_argument("--quick", action="store_true", help="a small, fast run")
    bench.add_argument("--write", type=Path, default=None, metavar="RESULTS.md",
                       help="also write the table and the machine's description here")
    return p


def _bench(settings: Settings, args: argparse.Namespace) -> None:
    """``siap112 bench``: the configured services, or embedded ones when none are set."""
    from dispatch.benchmarks.runner import main as bench_main

    with _services(settings, use_embedded=True) as s:
        sys.stdout.write(asyncio.run(bench_main(s.database_url, s.redis_url,
                                                quick=args.quick, write=args.write)))
        sys.stdout.flush()


def _roads_build(settings: Settings, args: argparse.Namespace) -> int:
    """``siap112 roads build FILE``: what was built, on stdout for the operator."""
    from dispatch.roads import RoadsError, build

    data_dir = args.data_dir or Path(settings.roads.data_dir)
    margin = settings.roads.margin_km if args.margin_km is None else args.margin_km
    try:
        report = build(args.file, data_dir, margin)
    except RoadsError as exc:
        sys.stderr.write(f"siap112 roads build: {exc}\n")
        return 1
    sys.stdout.write(f"{data_dir}: {report.summary()}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log.level, settings.log.format)
        return _dispatch_command(args, settings)
    except SettingsError as exc:
        sys.stderr.write(f"siap112: configuration error: {exc}\n")
        return 2
    except MigrationFilesMissing as exc:
        sys.stderr.write(f"siap112: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch_command(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "bench":
        _bench(settings, args)
        return 0
    if command == "demo":
        _demo(settings, args)
        return 0
    if command == "simulate":
        from dispatch.simulate import SimulationError, run_simulation

        url = args.url or os.environ.get("SIAP112_URL") or \
            f"http://{settings.http.host}:{settings.http.port}"
        try:
            asyncio.run(run_simulation(url, calls=args.calls, rate=args.rate,
                                       time_scale=args.time_scale, seed=args.seed,
                                       wait_ready=True,
                                       token=args.token or os.environ.get("SIAP112_TOKEN", "")))
        except SimulationError as exc:
            sys.stderr.write(f"siap112 simulate: {exc}\n")
            return 1
        return 0
    if command == "roads":
        return _roads_build(settings, args)
    if command == "check":
        if not settings.database_url:
            raise SettingsError("SIAP112_DATABASE_URL not set")
        return asyncio.run(_check(settings, args.worker))
    _need_services(settings)
    if command in {"user", "token", "purge"}:
        from dispatch.accounts_cli import run as run_accounts

        return run_accounts(args, settings)
    if command == "serve":
        _serve(settings)
    elif command == "migrate":
        asyncio.run(_migrate(settings))
    elif command == "seed":
        asyncio.run(_seed(settings))
    elif command == "places":
        return _places_import(settings, args.file, args.format)
    else:
        asyncio.run(_run_worker(settings, command))
    return 0
