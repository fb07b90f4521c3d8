"""Request ids, and the one place errors become JSON answers (never a bare 500)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from pydantic import ValidationError

from dispatch import keys
from dispatch.core.lifecycle import IllegalTransition
from dispatch.errors import DomainError
from dispatch.store.db import UNAVAILABLE_ERRORS
from dispatch.web.common import json_response, path_id

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEPT_HEADERS = frozenset({"Allow", "Retry-After"})


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def validation_response(exc: ValidationError) -> web.Response:
    fields = [
        {"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return json_response(
        error_body("validation_failed", f"invalid request: {summary}",
                   field=fields[0]["field"] if fields else "body", fields=fields),
        status=422,
    )


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:
        response.headers["X-Request-ID"] = request_id
    log.info("http.request", method=request.method, path=request.path,
             status=response.status, duration_ms=round((time.perf_counter() - started) * 1000, 2))
    return response


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return validation_response(exc)
    except IllegalTransition as exc:
        return json_response(error_body(
            "illegal_transition", str(exc), current=exc.current.value,
            requested=exc.requested.value, allowed=exc.allowed), status=409)
    except DomainError as exc:
        return json_response(error_body(exc.code, exc.message, **exc.details),
                             status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status, "http_error")
        message = exc.reason if exc.status != 413 else (
            "the request body is larger than the "
            f"{request.app[keys.SETTINGS].http.max_body_bytes} bytes allowed")
        # A 405 names the methods the resource takes (RFC 9110 15.5.6).
        kept = {k: v for k, v in exc.headers.items() if k in _KEPT_HEADERS}
        return json_response(error_body(code, message), status=exc.status, headers=kept)
    except asyncpg.IntegrityConstraintViolationError as exc:
        # Validation should have caught it; the database refused it, nothing was stored.
        log.warning("request.constraint", path=request.path, error=str(exc))
        return json_response(error_body("constraint_violation", str(exc)), status=409)
    except UNAVAILABLE_ERRORS as exc:
        log.warning("request.db_unavailable", path=request.path, error=str(exc))
        return json_response(error_body(
            "service_unavailable",
            "the database is not reachable right now; the request was not carried out, "
            "try again"), status=503, headers={"Retry-After": "2"})
    except (asyncpg.QueryCanceledError, asyncpg.LockNotAvailableError) as exc:
        # A statement ran into statement_timeout or lock_timeout (a long lock held by a
        # migration, a VACUUM FULL): rolled back, nothing stored; the console retries.
        log.warning("request.db_busy", path=request.path, error=str(exc))
        return json_response(error_body(
            "database_busy",
            "the database is busy right now; the request was not carried out, try again"),
            status=503, headers={"Retry-After": "2"})
    except Exception:
        log.exception("request.failed", path=request.path, method=request.method)
        return json_response(error_body(
            "internal_error", "an unexpected error occurred; it has been logged",
            request_id=structlog.contextvars.get_contextvars().get("request_id")), status=500)


@web.middleware
async def strict_path_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a path id that is not ASCII digits within bigint before anything reads it
    (authentication's refusal audit included): 404 naming the parameter."""
    for name in request.match_info:
        if name == "id" or name.endswith("_id"):
            path_id(request, name)
    return await handler(request)
