"""What every API answer and request body goes through: media types, read timeouts,
client hang-ups, and the headers a client or a cache relies on.

- A request body must arrive within ``http.request_timeout_s`` (else 408 and the
  connection is closed); the request line and headers too, which aiohttp enforces
  with its keep-alive timer from the moment a connection opens
  (``handler_args`` below): a connection that has not sent a whole request by
  then is closed.
- A body must be JSON (415 otherwise), except the media types an endpoint
  documents besides (the AML HTTPS form): a plain HTML form cannot log anyone in
  or post a report in their name.
- A client that hangs up while sending its body is logged as such, never as a
  database outage.
- Every API answer carries ``Cache-Control: no-store`` (they hold caller numbers and
  addresses), and every 429 a ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
import structlog
from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from dispatch import keys
from dispatch.errors import DomainError
from dispatch.web.middleware import Handler

log = structlog.get_logger(__name__)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Endpoints that take more than JSON, as documented: the AML HTTPS transport is a form.
MEDIA_TYPES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/aml"): frozenset({JSON, FORM}),
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# After an answer to a request whose body was not read, how long aiohttp keeps
# reading and discarding the rest before it closes the connection.
LINGERING_TIME_S = 2.0


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class BodyTimeout(DomainError):
    status = 408
    code = "request_timeout"


class ClientGone(DomainError):
    """The client hung up while sending its request; nobody is left to answer."""

    status = 400
    code = "client_disconnected"


def handler_args(request_timeout_s: float) -> dict[str, Any]:
    """aiohttp connection settings: ``keepalive_timeout`` starts when a connection
    opens and closes it if no whole request has arrived by then (slow headers), and
    again after each answer (idle keep-alive connections)."""
    return {"keepalive_timeout": request_timeout_s, "lingering_time": LINGERING_TIME_S}


def _route(request: web.Request) -> tuple[str, str] | None:
    resource = request.match_info.route.resource
    if request.match_info.http_exception is not None or resource is None:
        return None
    return request.method, resource.canonical


def _check_media_type(request: web.Request, route: tuple[str, str]) -> None:
    allowed = MEDIA_TYPES.get(route, frozenset({JSON}))
    if request.content_type not in allowed:
        raise UnsupportedMediaType(
            f"the body must be sent as {' or '.join(sorted(allowed))}, "
            f"not {request.content_type}", field="Content-Type", allowed=sorted(allowed))


async def _read_body(request: web.Request, timeout_s: float) -> None:
    """Read the whole body now (aiohttp keeps it for the handler's own read())."""
    try:
        async with asyncio.timeout(timeout_s):
            await request.read()
    except TimeoutError:
        log.info("http.body_timeout", path=request.path, timeout_s=timeout_s)
        raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s") from None
    except (ClientPayloadError, HttpProcessingError, OSError) as exc:
        log.info("http.client_disconnected", path=request.path, error=str(exc) or type(exc)
                 .__name__)
        raise ClientGone("the connection was closed before the request body arrived"
                         ) from None


@web.middleware
async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the media type and read the body within the request timeout."""
    route = _route(request)
    if (route is None or not request.path.startswith("/api/")
            or request.method not in BODY_METHODS or not request.body_exists):
        return await handler(request)
    _check_media_type(request, route)
    try:
        await _read_body(request, request.app[keys.SETTINGS].http.request_timeout_s)
    except BodyTimeout:
        request.protocol.close()  # after this answer, not another request on it
        raise
    return await handler(request)


def _retry_after(response: web.StreamResponse) -> str:
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes) and response.content_type == JSON:
        try:
            wait = orjson.loads(body).get("error", {}).get("retry_after_s")
        except (orjson.JSONDecodeError, AttributeError):
            wait = None
        if isinstance(wait, int | float) and wait > 0:
            return str(math.ceil(wait))
    return "1"


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every answer needs, whichever view or middleware produced it."""
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    if response.status == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = _retry_after(response)
