"""Domain errors, raised below the web layer and turned into HTTP answers by it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base: a request that cannot be carried out, with a machine code and details."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The principal may not do this (403)."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request is valid but the current state forbids it (409)."""

    status = 409
    code = "conflict"


class Invalid(DomainError):
    """The request names something that does not exist in configuration (422)."""

    status = 422
    code = "validation_failed"
