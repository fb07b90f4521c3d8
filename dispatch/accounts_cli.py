"""``siap112 user create|disable|unlock``, ``siap112 token create|revoke``, ``siap112 purge``,
and the demo's accounts.

Secrets (generated passwords, API tokens) are written to standard output once and
never stored in clear: only their hashes are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from dispatch.privacy import purge, purge_positions
from dispatch.settings import Settings, SettingsError
from dispatch.store import accounts, throttle
from dispatch.store.db import init_connection
from dispatch.store.migrate import migrate

UNIT_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM units WHERE id = $1)"
USER_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)"
# One account per role for `siap112 demo`; the responder drives the first unit.
DEMO_USERS = ("call_taker", "dispatcher", "operator", "supervisor", "responder", "admin")
MAX_DAYS = 3650  # ten years: beyond any token lifetime or retention period worth typing


def day_count(text: str) -> int:
    """An argparse type: a whole number of days within 1...MAX_DAYS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}"
                                         ) from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DAYS}, got {value}")
    return value


def add_parsers(sub: Any) -> None:
    """The user and token sub-commands."""
    user = sub.add_parser("user", help="create or disable a user account")
    uc = user.add_subparsers(dest="action", required=True)
    create = uc.add_parser("create", help="create a user; prints a generated password once")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=accounts.ROLES)
    create.add_argument("--unit", type=int, default=None, help="the responder's unit id")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input instead")
    uc.add_parser("disable", help="disable a user and end their sessions").add_argument(
        "username")
    uc.add_parser("unlock", help="forget the failed logins counted against a user, from "
                                 "every address, so they may log in at once").add_argument(
        "username")
    token = sub.add_parser("token", help="create or revoke an API token")
    tc = token.add_subparsers(dest="action", required=True)
    tcreate = tc.add_parser("create", help="create a token; prints its secret once")
    tcreate.add_argument("name", help="who uses it; recorded as the actor of its changes")
    tcreate.add_argument("--role", required=True, choices=accounts.TOKEN_ROLES)
    tcreate.add_argument("--unit", type=int, default=None, help="the responder's unit id")
    tcreate.add_argument("--days", type=day_count, default=None,
                         help=f"lifetime, 1-{MAX_DAYS} (default: auth.token_days)")
    tc.add_parser("revoke", help="revoke a token by id").add_argument("id", type=int)
    purge = sub.add_parser("purge", help="anonymise caller numbers, IMSI and IMEI older than "
                                         "the retention period (response times are kept), "
                                         "and delete unit positions older than "
                                         "units.position_retention_days")
    purge.add_argument("--days", type=day_count, default=None,
                       help="retention in days (default: auth.personal_data_days)")


async def _connected(settings: Settings, work: Callable[[asyncpg.Connection],
                                                        Awaitable[str]]) -> str:
    conn = await asyncpg.connect(settings.database_url)
    await init_connection(conn)  # aware times only, as in the service's pool
    try:
        await migrate(conn)
        return await work(conn)
    finally:
        await conn.close()


def _check_name(name: str) -> None:
    if accounts.reserved_name(name):
        raise SettingsError(f"the name {name!r} is reserved: the system itself acts as "
                            "system, anonymous, purge, dispatcher... and relay...")


async def _check_binding(conn: asyncpg.Connection, role: str, unit: int | None) -> None:
    if (role == "responder") != (unit is not None):
        raise SettingsError("--unit is required for a responder and allowed for no other role")
    if unit is not None and not await conn.fetchval(UNIT_EXISTS_SQL, unit):
        raise SettingsError(f"no unit with id {unit}")


def _user_command(args: argparse.Namespace) -> Callable[[asyncpg.Connection], Awaitable[str]]:
    async def create(conn: asyncpg.Connection) -> str:
        _check_name(args.username)
        await _check_binding(conn, args.role, args.unit)
        given = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
        password = given or secrets.token_urlsafe(12)
        try:
            await accounts.create_user(conn, args.username, args.role, password, args.unit)
        except asyncpg.UniqueViolationError:
            raise SettingsError(f"user {args.username!r} exists already") from None
        except asyncpg.CheckViolationError:
            raise SettingsError("usernames are 1-64 of a-z 0-9 _ . @ -") from None
        shown = "" if given else f" password={password}"
        return f"user {args.username} role={args.role}{shown}\n"

    async def disable(conn: asyncpg.Connection) -> str:
        if not await accounts.disable_user(conn, args.username):
            raise SettingsError(f"no active user {args.username!r}")
        return f"user {args.username} disabled\n"

    async def unlock(conn: asyncpg.Connection) -> str:
        if not await conn.fetchval(USER_EXISTS_SQL, args.username):
            raise SettingsError(f"no user {args.username!r}")
        cleared = await throttle.unlock(conn, args.username)
        return f"user {args.username} unlocked ({cleared} throttled address(es) cleared)\n"

    return {"create": create, "disable": disable, "unlock": unlock}[args.action]


def _token_command(args: argparse.Namespace, settings: Settings
                   ) -> Callable[[asyncpg.Connection], Awaitable[str]]:
    async def create(conn: asyncpg.Connection) -> str:
        _check_name(args.name)
        await _check_binding(conn, args.role, args.unit)
        days = args.days or settings.auth.token_days
        try:
            token_id, secret, expires = await accounts.create_token(
                conn, args.name, args.role, days, args.unit)
        except asyncpg.CheckViolationError:
            raise SettingsError("token names are 1-64 of letters, digits, _ . @ - and space"
                                ) from None
        sys.stderr.write(f"token id={token_id} role={args.role} expires={expires.isoformat()}\n")
        return secret + "\n"

    async def revoke(conn: asyncpg.Connection) -> str:
        if not await accounts.revoke_token(conn, args.id):
            raise SettingsError(f"no active token with id {args.id}")
        return f"token {args.id} revoked\n"

    return create if args.action == "create" else revoke


def _purge_command(args: argparse.Namespace, settings: Settings
                   ) -> Callable[[asyncpg.Connection], Awaitable[str]]:
    async def work(conn: asyncpg.Connection) -> str:
        days = settings.auth.personal_data_days if args.days is None else args.days
        if days < 1:
            raise SettingsError("--days must be >= 1")
        counts = await purge(conn, days)
        counts.update(await purge_positions(conn, settings.units.position_retention_days))
        return "purged " + " ".join(f"{t}={n}" for t, n in counts.items()) + "\n"

    return work


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out ``siap112 user|token|purge ...``; writes the result to stdout."""
    if args.command == "purge":
        work = _purge_command(args, settings)
    elif args.command == "user":
        work = _user_command(args)
    else:
        work = _token_command(args, settings)
    sys.stdout.write(asyncio.run(_connected(settings, work)))
    sys.stdout.flush()
    return 0


async def demo_accounts(settings: Settings) -> tuple[str, str]:
    """(credentials text, simulator token): one demo user per role, created if missing."""
    async def work(conn: asyncpg.Connection) -> str:
        unit = await conn.fetchval("SELECT min(id) FROM units")
        lines = ["Demo accounts (shown once; passwords are not stored in clear):"]
        for role in DEMO_USERS:
            name = f"demo_{role}"
            if role == "responder" and unit is None:
                continue  # no fleet to bind a responder to
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)",
                                   name):
                lines.append(f"  {name:<16} {role:<11} (exists already)")
                continue
            password = secrets.token_urlsafe(9)
            await accounts.create_user(conn, name, role, password,
                                       unit if role == "responder" else None)
            lines.append(f"  {name:<16} {role:<11} password {password}")
        _, secret, _ = await accounts.create_token(conn, "simulator", "admin", 1)
        return "\n".join(lines) + "\n" + secret

    text, _, token = (await _connected(settings, work)).rpartition("\n")
    return text + "\n", token
