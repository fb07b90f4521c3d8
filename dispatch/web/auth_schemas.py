"""Request models of the login endpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dispatch.web.types import Line


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Line = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    # Where the login page was sent from; answered back as a safe same-site path.
    next: str | None = Field(default=None, max_length=2048)
