"""Who may do what: the one role table, the authentication middleware, log in and out.

People log in with a password and carry an HttpOnly, SameSite=Strict session
cookie; a state-changing request made with the cookie must also carry the
session's CSRF token in ``X-CSRF-Token``. Machines send ``Authorization: Bearer
<token>``. Unauthenticated API requests get 401, the wrong role 403; a page
asked for without a login redirects to /login.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import orjson
import structlog
from aiohttp import web

from dispatch import keys
from dispatch.core.bounds import parse_id
from dispatch.errors import DomainError
from dispatch.privacy import PERSONAL_DATA_ROLES, mask
from dispatch.store import accounts, throttle
from dispatch.store.accounts import Principal
from dispatch.store.audit import record_refusal
from dispatch.web import ratelimit
from dispatch.web.auth_schemas import LoginBody
from dispatch.web.common import connection, json_response, parse_body, transact
from dispatch.web.middleware import Handler
from dispatch.web.pages import STATIC_DIR

COOKIE = "siap112_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Route = tuple[str, str]
Roles = frozenset[str]

ALL: Roles = frozenset(accounts.ROLES)
STAFF: Roles = frozenset({"call_taker", "dispatcher", "operator", "supervisor", "admin"})
# The operator (one person taking calls and dispatching) holds both of these.
INTAKE: Roles = frozenset({"call_taker", "operator", "admin"})
DISPATCH: Roles = frozenset({"dispatcher", "operator", "admin"})
FIELD: Roles = frozenset({"dispatcher", "operator", "responder", "admin"})
OVERSIGHT: Roles = frozenset({"supervisor", "admin"})
# A partner centre's token ([partners.<name>].token_in): the exchange service only.
PARTNER: Roles = frozenset({"partner"})
# The IP-PBX's machine token (`siap112 token create --role telephony`): calls only.
TELEPHONY: Roles = frozenset({"telephony"})

# No login needed: probes, the login page and its scripts and styles.
PUBLIC: frozenset[Route] = frozenset({
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"), ("POST", "/api/v1/login"),
    ("GET", "/static"),
})
# No login either, but bound to the unguessable token in the path: the caller's
# location page and the positions it posts (web/locationlinks.py checks the token).
TOKEN_BOUND: frozenset[Route] = frozenset({
    ("GET", "/l/{token}"), ("POST", "/api/v1/l/{token}/fixes"),
})
# The one table of which role may call which endpoint. The middleware enforces it
# and tests/test_auth.py asserts every cell; a route missing here is admin-only.
ROUTE_ROLES: dict[Route, Roles] = {
    ("GET", "/"): STAFF,
    ("GET", "/responder"): FIELD | OVERSIGHT,
    ("GET", "/supervisor"): OVERSIGHT,
    ("GET", "/api/v1"): ALL,
    ("GET", "/api/v1/meta"): ALL,
    ("GET", "/api/v1/geo"): ALL,
    ("GET", "/api/v1/places"): STAFF,
    ("GET", "/api/v1/landmarks"): STAFF,
    ("GET", "/api/v1/landmarks/{id}"): STAFF,
    ("POST", "/api/v1/landmarks"): OVERSIGHT,
    ("PUT", "/api/v1/landmarks/{id}"): OVERSIGHT,
    ("DELETE", "/api/v1/landmarks/{id}"): OVERSIGHT,
    ("POST", "/api/v1/landmark-imports"): OVERSIGHT,
    ("GET", "/places"): OVERSIGHT,
    ("GET", "/api/v1/session"): ALL,
    ("POST", "/api/v1/logout"): ALL,
    ("GET", "/api/v1/events"): ALL,
    ("POST", "/api/v1/calls"): INTAKE,
    ("GET", "/api/v1/calls"): STAFF,
    ("GET", "/api/v1/calls/{id}"): STAFF,
    ("POST", "/api/v1/aml"): INTAKE,
    ("POST", "/api/v1/calls/{id}/location-link"): INTAKE | DISPATCH,
    ("GET", "/api/v1/calls/{id}/location-fixes"): STAFF,
    ("POST", "/api/v1/location-fixes/{id}/use"): INTAKE | DISPATCH,
    ("GET", "/api/v1/aml"): STAFF,
    ("GET", "/api/v1/duplicates"): STAFF,
    ("POST", "/api/v1/incidents"): INTAKE,
    ("GET", "/api/v1/incidents"): ALL,
    ("GET", "/api/v1/incidents/{id}"): ALL,
    ("POST", "/api/v1/incidents/{id}/take-over"): INTAKE | DISPATCH,
    ("POST", "/api/v1/incidents/{id}/location"): INTAKE | DISPATCH,
    ("GET", "/api/v1/incidents/{id}/candidates"): DISPATCH | OVERSIGHT,
    ("GET", "/api/v1/incidents/{id}/route"): DISPATCH | OVERSIGHT,
    ("POST", "/api/v1/incidents/{id}/assignments"): DISPATCH,
    ("POST", "/api/v1/incidents/{id}/close"): DISPATCH,
    ("GET", "/api/v1/incidents/{id}/cap"): STAFF,
    ("GET", "/api/v1/incidents/{id}/eido"): STAFF,
    ("GET", "/api/v1/units"): ALL,
    ("POST", "/api/v1/units"): OVERSIGHT,
    ("GET", "/api/v1/units/{id}"): ALL,
    ("PUT", "/api/v1/units/{id}/location"): FIELD,
    ("POST", "/api/v1/units/{id}/status"): FIELD,
    ("GET", "/api/v1/stats/response-times"): STAFF,
    ("GET", "/api/v1/stats/calls"): STAFF,
    ("GET", "/api/v1/reports/response-times"): OVERSIGHT,
    ("GET", "/api/v1/reports/histogram"): OVERSIGHT,
    ("GET", "/api/v1/reports/incidents.csv"): OVERSIGHT,
    ("GET", "/api/v1/audit"): OVERSIGHT,
    ("GET", "/api/v1/openapi.json"): ALL,
    # Centre-to-centre handover (web/partners.py).
    ("GET", "/api/v1/partners"): STAFF,
    ("POST", "/api/v1/incidents/{id}/handover"): INTAKE | DISPATCH,
    ("GET", "/api/v1/handovers"): STAFF,
    ("POST", "/api/v1/handovers/{id}/withdraw"): INTAKE | DISPATCH,
    ("POST", "/api/v1/handovers/{id}/accept"): INTAKE | DISPATCH,
    ("POST", "/api/v1/handovers/{id}/decline"): INTAKE | DISPATCH,
    ("POST", "/api/v1/exchange/incidents"): PARTNER,
    ("GET", "/api/v1/exchange/incidents/{id}"): PARTNER,
    ("POST", "/api/v1/exchange/incidents/{id}/updates"): PARTNER,
    # Ghost-call callbacks and prank numbers (web/callbacks.py, web/pranks.py).
    ("GET", "/api/v1/callbacks"): STAFF,
    ("POST", "/api/v1/callbacks/{id}/take"): INTAKE,
    ("POST", "/api/v1/callbacks/{id}/outcome"): INTAKE,
    ("GET", "/api/v1/callbacks/stats"): OVERSIGHT,
    ("GET", "/api/v1/pranks"): OVERSIGHT,
    ("POST", "/api/v1/pranks/{id}/warning"): OVERSIGHT,
    ("POST", "/api/v1/pranks/{id}/block"): OVERSIGHT,
    # The call-taker's console (web/intake.py): caller history by number (the roles that
    # see numbers, as GET /api/v1/calls?phone=), notes and the timeline, telephony.
    ("GET", "/api/v1/callers/{phone}"): INTAKE | DISPATCH,
    ("POST", "/api/v1/incidents/{id}/notes"): STAFF,
    ("GET", "/api/v1/incidents/{id}/timeline"): ALL,
    ("POST", "/api/v1/telephony/events"): TELEPHONY,
    ("GET", "/api/v1/telephony/calls"): INTAKE,
    ("POST", "/api/v1/telephony/calls/{call}/claim"): INTAKE,
    # The real numbers, for the IP-PBX or the operator: admin only.
    ("GET", "/api/v1/pranks/blocks"): frozenset({"admin"}),
    # Timers that shout (web/alerts.py) and the supervisor's daily report (web/reports.py).
    ("GET", "/api/v1/alerts"): DISPATCH | OVERSIGHT,
    ("POST", "/api/v1/alerts/{id}/acknowledge"): DISPATCH | OVERSIGHT,
    ("GET", "/reports/daily"): OVERSIGHT,
}
ADMIN_ONLY: Roles = frozenset({"admin"})
# Rate-limited per token and per client address (web/ratelimit.py).
INTAKE_ROUTES: frozenset[Route] = frozenset({
    ("POST", "/api/v1/incidents"), ("POST", "/api/v1/calls"), ("POST", "/api/v1/aml"),
    ("POST", "/api/v1/telephony/events"),
})
# Pages answer a missing login with a redirect to the login page, not a JSON 401.
PAGES: frozenset[str] = frozenset({"/", "/responder", "/supervisor", "/places",
                                   "/reports/daily"})
# A responder may act on these only for the unit its account is bound to.
UNIT_SCOPED: frozenset[Route] = frozenset({
    ("PUT", "/api/v1/units/{id}/location"), ("POST", "/api/v1/units/{id}/status"),
})

# Pages load scripts and styles from this origin only: no inline script can run.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}



def page_headers(tile_origin: str) -> dict[str, str]:
    """PAGE_HEADERS, with the map's tile server (one origin, if any) allowed as images."""
    if not tile_origin:
        return PAGE_HEADERS
    csp = PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {tile_origin}")
    return dict(PAGE_HEADERS, **{"Content-Security-Policy": csp})


routes = web.RouteTableDef()
log = structlog.get_logger(__name__)
MAX_NEXT = 2048
# Backslash and control characters: browsers rewrite or drop them in a URL.
_UNSAFE_IN_NEXT = re.compile(r"[\\\x00-\x1f\x7f]")


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class LoginThrottled(DomainError):
    status = 429
    code = "login_throttled"


def allowed_roles(route: Route) -> Roles:
    """The roles that may call ``route`` (method, path template)."""
    return ROUTE_ROLES.get(route, ADMIN_ONLY)


def route_of(request: web.Request) -> Route | None:
    """(method, path template) of the matched route; None when nothing matched."""
    info = request.match_info
    if info.http_exception is not None:
        return None  # 404 and 405 are answered as they are
    resource = info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return method, resource.canonical


async def principal_of(request: web.Request, *, fresh: bool = False) -> Principal | None:
    """The bearer token's or the session cookie's principal, if valid.

    Served from the principal cache (dispatch/web/principals.py) while it hears every
    change to access; ``fresh`` reads the tables whatever the cache holds.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    cookie = request.cookies.get(COOKIE, "")
    if not (header or cookie):
        return None
    if header and scheme.lower() == "bearer" and secret.strip():
        partner = _partner_principal(request, secret.strip())
        if partner is not None:
            return partner
    if header:
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        kind, key = "token", accounts.digest(secret.strip())
    else:
        kind, key = "user", accounts.digest(cookie)
    cache = request.app[keys.PRINCIPALS]
    if not fresh and (hit := cache.get(kind, key)) is not None:
        return hit
    generation = cache.generation
    async with connection(request) as conn:
        found = await accounts.principal_until(conn, kind, key)
    if found is None:
        return None
    cache.put(kind, key, *found, generation=generation)
    return found[0]


def _partner_principal(request: web.Request, secret: str) -> Principal | None:
    """The partner centre whose token_in this is; compared in constant time."""
    found = None
    for partner in request.app[keys.SETTINGS].exchange.partners.values():
        if hmac.compare_digest(secret.encode(), partner.token_in.encode()):
            found = partner
    if found is None:
        return None
    return Principal("partner", 0, f"partner:{found.name}", "partner", None)


def check(principal: Principal, route: Route, request: web.Request) -> None:
    """Raise Forbidden unless ``principal`` may make this request."""
    if principal.role not in allowed_roles(route):
        raise Forbidden(f"the {principal.role} role may not {route[0]} {route[1]}",
                        role=principal.role)
    if principal.csrf is not None and route[0] not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
            raise Forbidden(f"a request made with the session cookie needs the {CSRF_HEADER} "
                            "header of that session", code="csrf_failed")
    if principal.role == "responder" and route in UNIT_SCOPED:
        target = request.match_info.get("id", "")
        if target != str(principal.unit_id):
            raise Forbidden(f"a responder may change only its own unit ({principal.unit_id})",
                            code="not_your_unit", field="id")


async def _audit_refusal(request: web.Request, principal: Principal, route: Route,
                         exc: Forbidden) -> None:
    target = request.match_info.get("id", "")
    async with connection(request) as conn:
        await record_refusal(conn, principal.name, f"{route[0]} {route[1]}",
                             parse_id(target),
                             {"code": exc.code, "role": principal.role,
                              "kind": principal.kind})


def _mask_personal_data(response: web.StreamResponse) -> None:
    """Caller numbers and device identifiers masked in a JSON answer (UU 27/2022)."""
    if (isinstance(response, web.Response) and response.content_type == "application/json"
            and isinstance(response.body, bytes)):
        response.body = orjson.dumps(mask(orjson.loads(response.body)))


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce ROUTE_ROLES on every request; record who acts for actor_of()."""
    route = route_of(request)
    limits = request.app[ratelimit.LIMITS]
    if route == ("POST", "/api/v1/login"):
        ratelimit.check(limits.login, f"addr:{request.remote}")
    if route is None or route in PUBLIC or route in TOKEN_BOUND:
        return await handler(request)
    principal = await principal_of(request)
    if principal is None:
        if route[0] == "GET" and route[1] in PAGES:
            raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
        raise Unauthenticated("log in, or send Authorization: Bearer <API token>")
    try:
        check(principal, route, request)
    except Forbidden as exc:
        await _audit_refusal(request, principal, route, exc)
        raise
    request[keys.PRINCIPAL] = principal
    if route in INTAKE_ROUTES:
        ratelimit.check(limits.intake, f"{principal.kind}:{principal.id}",
                        f"addr:{request.remote}")
    response = await handler(request)
    if route[1] in PAGES:
        response.headers.update(page_headers(request.app[keys.SETTINGS].map.tile_origin))
    elif principal.role not in PERSONAL_DATA_ROLES and principal.kind != "partner":
        # A partner gets the callback number of an incident handed over to it only.
        _mask_personal_data(response)
    return response


def _who(principal: Principal, csrf: str | None) -> dict[str, object]:
    return {"name": principal.name, "kind": principal.kind, "role": principal.role,
            "unit_id": principal.unit_id, "csrf": csrf}


@routes.get("/login")
async def login_page(request: web.Request) -> web.FileResponse:
    """The login form (the only page served without a login)."""
    return web.FileResponse(STATIC_DIR / "login.html", headers=PAGE_HEADERS)


def safe_next(raw: str | None) -> str:
    """Where to go after logging in: a path on this site, else ``/``.

    Browsers read ``\\`` as ``/`` and drop tabs and newlines, so ``/\\evil.example``
    and ``/<tab>/evil.example`` lead off-site; so do their percent-encoded forms
    once a layer of encoding is taken off. Every layer must be a plain path.
    """
    if not raw or len(raw) > MAX_NEXT:
        return "/"
    layer = raw
    for _ in range(4):
        if not layer.startswith("/") or layer.startswith("//") or _UNSAFE_IN_NEXT.search(layer):
            return "/"
        decoded = unquote(layer)
        if decoded == layer:
            break
        layer = decoded
    else:
        return "/"
    parts = urlsplit(raw)
    return "/" if parts.scheme or parts.netloc else raw


@routes.post("/api/v1/login")
async def login(request: web.Request) -> web.Response:
    """Check a password; on success start a session (cookie) and return its CSRF token.

    Unknown and known usernames get the same answers: the same 401, the same
    throttling, and an argon2 verification each (of a dummy hash when unknown).
    """
    body = await parse_body(request, LoginBody)
    cfg = request.app[keys.SETTINGS].auth
    scope = throttle.Scope.of(body.username, request.remote or "")
    async with connection(request) as conn:
        wait_s = await throttle.claim(conn, scope, cfg)
        row = None if wait_s is not None else await conn.fetchrow(
            accounts.USER_FOR_LOGIN_SQL, body.username)
    if wait_s is not None:
        log.info("login.throttled", retry_after_s=round(wait_s, 1))
        raise LoginThrottled(f"too many login attempts from this address; try again in "
                             f"{max(1, math.ceil(wait_s))} s", retry_after_s=round(wait_s, 1))
    stored = None if row is None else row["password_hash"]
    # The hash is checked with no database connection held.
    if not await asyncio.to_thread(accounts.password_matches, stored, body.password):
        async with connection(request) as conn:
            await throttle.purge(conn, cfg)
        log.info("login.failed")
        raise Unauthenticated("wrong username or password", code="invalid_credentials")
    assert row is not None

    async def start(conn: asyncpg.Connection) -> tuple[str, str]:
        await throttle.forgive(conn, scope, cfg)
        return await accounts.start_session(conn, row["id"], cfg.session_ttl_s)

    secret, csrf = await transact(request, start)
    principal = Principal("user", row["id"], row["username"], row["role"], row["unit_id"])
    resp = json_response(dict(_who(principal, csrf), next=safe_next(body.next)))
    resp.set_cookie(COOKIE, secret, httponly=True, samesite="Strict", path="/",
                    secure=cfg.cookie_secure, max_age=int(cfg.session_ttl_s))
    return resp


@routes.post("/api/v1/logout")
async def logout(request: web.Request) -> web.Response:
    """End the cookie's session (a bearer token is revoked with the CLI instead)."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        async with connection(request) as conn:
            await accounts.end_session(conn, cookie)
        # Refused here from this moment; other web processes hear it by NOTIFY (sql/024).
        request.app[keys.PRINCIPALS].clear()
    resp = web.Response(status=204)
    resp.del_cookie(COOKIE, path="/")
    return resp


@routes.get("/api/v1/session")
async def whoami(request: web.Request) -> web.Response:
    """Who is logged in, and the CSRF token the pages send with every change."""
    principal = request[keys.PRINCIPAL]
    return json_response(_who(principal, principal.csrf))
