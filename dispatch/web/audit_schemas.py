"""Query model of GET /api/v1/audit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.web.types import Line, PeriodTime, QueryId, QueryInt


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: Line | None = Field(default=None, max_length=64)
    subject_type: Line | None = Field(default=None, max_length=80)
    subject_id: QueryId | None = None
    action: Literal["insert", "update", "delete", "refused"] | None = None
    since: PeriodTime | None = None
    until: PeriodTime | None = None
    before_id: QueryId | None = Field(default=None, description="page: ids below")
    limit: QueryInt = Field(default=100, ge=1, le=1000)
