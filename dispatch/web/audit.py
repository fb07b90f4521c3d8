"""GET /api/v1/audit: the audit log for supervisors, newest first, with filters."""

from __future__ import annotations

from aiohttp import web

from dispatch.store.audit import list_audit
from dispatch.web.audit_schemas import AuditQuery
from dispatch.web.common import connection, json_response, parse_query

routes = web.RouteTableDef()


@routes.get("/api/v1/audit")
async def audit(request: web.Request) -> web.Response:
    """Who changed what and when, with the row before and after (page with before_id)."""
    q = parse_query(request, AuditQuery)
    async with connection(request) as conn:
        items = await list_audit(conn, q.actor, q.subject_type, q.subject_id, q.action,
                                 q.since, q.until, q.before_id, q.limit)
    next_before = items[-1]["id"] if len(items) == q.limit else None
    return json_response({"items": items, "count": len(items), "next_before_id": next_before})
