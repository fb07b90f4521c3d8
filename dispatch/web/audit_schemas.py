"""Query model of GET /api/v1/audit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(default=None, max_length=64)
    subject_type: str | None = Field(default=None, max_length=80)
    subject_id: int | None = Field(default=None, ge=1, le=2**62)
    action: Literal["insert", "update", "delete", "refused"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = Field(default=None, ge=1, le=2**62, description="page: ids below")
    limit: int = Field(default=100, ge=1, le=1000)
