"""structlog configuration: key/value events, JSON by default, request ids from contextvars.

The standard library's loggers (aiohttp, asyncpg) go through the same renderer, so
the log stays one JSON object per line: a malformed request that aiohttp refuses
(an oversized header, a bad request line) is one ``http.bad_request`` line naming
the error, not a multi-line traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from structlog.typing import EventDict, Processor

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _bad_requests_in_one_line(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """aiohttp logs a request it cannot parse with the parser's traceback: keep the error."""
    exc_info = event.get("exc_info")
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(exc, HttpProcessingError):
        del event["exc_info"]
        event["message"] = event["event"]
        event["event"] = "http.bad_request"
        event["error"] = type(exc).__name__
        event["detail"] = exc.message
        event["status"] = exc.code
    return event


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # aiohttp and asyncpg log through the standard library; keep their warnings visible,
    # rendered like our own events.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name,
                           _bad_requests_in_one_line],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *([structlog.processors.format_exc_info] if fmt == "json" else []),
                    renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))
