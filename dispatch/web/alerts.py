"""Alerts for overdue units and incidents (dispatch/workers/alerts.py raises them).

GET /api/v1/alerts lists the open alerts (``open=true``, the default) or the
alerts of the last ``hours``; POST /api/v1/alerts/{id}/acknowledge records who
saw one and when, on the incident's timeline (event ``alert.acknowledged``) and
in the audit log. Consoles hear ``alert.raised``, ``alert.cleared`` and
``alert.acknowledged`` on the event stream, each with ``{"alert": {...}}``.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch import actions
from dispatch.store import alerts as alert_sql
from dispatch.web.common import actor_of, connection, json_response, parse_query, path_id, transact
from dispatch.web.schemas import Strict
from dispatch.web.types import QueryInt

routes = web.RouteTableDef()


class AlertQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    open: Literal["true", "false", "1", "0"] = Field(
        default="true", description="true: the open alerts; false: every alert of the "
                                    "last `hours`, newest first")
    hours: QueryInt = Field(default=24, ge=1, le=168)
    limit: QueryInt = Field(default=200, ge=1, le=1000)


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    q = parse_query(request, AlertQuery)
    open_only = q.open in {"true", "1"}
    async with connection(request) as conn:
        rows = await conn.fetch(alert_sql.LIST_SQL, open_only, q.hours, q.limit)
    return json_response({"alerts": [actions.alert_out(r) for r in rows],
                          "open": open_only})


@routes.post("/api/v1/alerts/{id}/acknowledge")
async def acknowledge(request: web.Request) -> web.Response:
    alert_id = path_id(request)
    alert = await transact(request, lambda c: actions.acknowledge_alert(
        c, alert_id, actor=actor_of(request)))
    return json_response(alert)
