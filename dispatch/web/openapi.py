"""GET /api/v1/openapi.json: an OpenAPI 3.1 document built from the validating models.

The request bodies and query strings are described by the same pydantic models
that parse_body and parse_query validate with, so the document cannot drift from
what the service accepts. The routes come from the app's router and the roles
from web/auth.ROUTE_ROLES.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from dispatch import keys
from dispatch.core.bounds import INT64_MAX
from dispatch.core.runcards import RunCards
from dispatch.web import idempotency
from dispatch.web.alerts import AlertQuery
from dispatch.web.audit_schemas import AuditQuery
from dispatch.web.auth import PAGES, PUBLIC, TOKEN_BOUND, Route, allowed_roles
from dispatch.web.auth_schemas import LoginBody
from dispatch.web.callbacks import BlockIn, OutcomeIn
from dispatch.web.calls_schemas import AmlQuery, CallIn, CallQuery, DuplicateQuery, SmsAmlIn
from dispatch.web.common import json_response
from dispatch.web.intake import PATH_PARAMETERS, TelephonyEventIn
from dispatch.web.intake import NoteIn as IntakeNoteIn
from dispatch.web.locationlinks import TOKEN_MAX, FixIn, LinkIn
from dispatch.web.partners import HandoverIn, NoteIn, UpdateIn
from dispatch.web.places_schemas import ImportIn, ListQuery, PlaceIn, SearchQuery
from dispatch.web.reports_schemas import (
    CandidatesQuery,
    ExportQuery,
    GroupedQuery,
    HistogramQuery,
    RouteQuery,
)
from dispatch.web.schemas import (
    AssignIn,
    CloseIn,
    IncidentIn,
    IncidentQuery,
    LocationIn,
    RelocateIn,
    StatsQuery,
    StatusIn,
    UnitIn,
    UnitQuery,
)

REF = "#/components/schemas/{model}"
BODIES: dict[Route, type[BaseModel]] = {
    ("POST", "/api/v1/login"): LoginBody,
    ("POST", "/api/v1/incidents"): IncidentIn,
    ("POST", "/api/v1/incidents/{id}/assignments"): AssignIn,
    ("POST", "/api/v1/incidents/{id}/close"): CloseIn,
    ("POST", "/api/v1/units"): UnitIn,
    ("PUT", "/api/v1/units/{id}/location"): LocationIn,
    ("POST", "/api/v1/units/{id}/status"): StatusIn,
    ("POST", "/api/v1/calls"): CallIn,
    ("POST", "/api/v1/aml"): SmsAmlIn,
    ("POST", "/api/v1/calls/{id}/location-link"): LinkIn,
    ("POST", "/api/v1/l/{token}/fixes"): FixIn,
    ("POST", "/api/v1/incidents/{id}/handover"): HandoverIn,
    ("POST", "/api/v1/handovers/{id}/withdraw"): NoteIn,
    ("POST", "/api/v1/handovers/{id}/accept"): NoteIn,
    ("POST", "/api/v1/handovers/{id}/decline"): NoteIn,
    ("POST", "/api/v1/exchange/incidents/{id}/updates"): UpdateIn,
    ("POST", "/api/v1/callbacks/{id}/outcome"): OutcomeIn,
    ("POST", "/api/v1/pranks/{id}/block"): BlockIn,
    ("POST", "/api/v1/incidents/{id}/location"): RelocateIn,
    ("POST", "/api/v1/landmarks"): PlaceIn,
    ("PUT", "/api/v1/landmarks/{id}"): PlaceIn,
    ("POST", "/api/v1/landmark-imports"): ImportIn,
    ("POST", "/api/v1/incidents/{id}/notes"): IntakeNoteIn,
    ("POST", "/api/v1/telephony/events"): TelephonyEventIn,
}
QUERIES: dict[Route, type[BaseModel]] = {
    ("GET", "/api/v1/incidents"): IncidentQuery,
    ("GET", "/api/v1/units"): UnitQuery,
    ("GET", "/api/v1/stats/response-times"): StatsQuery,
    ("GET", "/api/v1/stats/calls"): StatsQuery,
    ("GET", "/api/v1/calls"): CallQuery,
    ("GET", "/api/v1/aml"): AmlQuery,
    ("GET", "/api/v1/duplicates"): DuplicateQuery,
    ("GET", "/api/v1/incidents/{id}/candidates"): CandidatesQuery,
    ("GET", "/api/v1/incidents/{id}/route"): RouteQuery,
    ("GET", "/api/v1/reports/response-times"): GroupedQuery,
    ("GET", "/api/v1/reports/histogram"): HistogramQuery,
    ("GET", "/api/v1/reports/incidents.csv"): ExportQuery,
    ("GET", "/api/v1/places"): SearchQuery,
    ("GET", "/api/v1/landmarks"): ListQuery,
    ("GET", "/api/v1/audit"): AuditQuery,
    ("GET", "/api/v1/alerts"): AlertQuery,
}
# Intake that honours Idempotency-Key (web/idempotency.py).
IDEMPOTENT: frozenset[Route] = frozenset({("POST", "/api/v1/incidents"),
                                          ("POST", "/api/v1/calls")})
# Successful answers that are not JSON.
CONTENT: dict[Route, str] = {
    ("GET", "/api/v1/incidents/{id}/cap"): "application/xml",
    ("GET", "/api/v1/reports/incidents.csv"): "text/csv",
    ("GET", "/api/v1/events"): "text/event-stream",
}
ERRORS = ("400", "401", "403", "404", "405", "408", "409", "410", "413", "415", "422", "429",
          "503")
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": "string"}, "fields": {"type": "array"}}}},
}

routes = web.RouteTableDef()


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema, its nested models moved into ``components``."""
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _run_card_values(runcards: RunCards) -> dict[str, list[str]]:
    """Field name -> the codes the run cards allow (configuration, not the models)."""
    return {"category": sorted(runcards.categories), "unit_type": sorted(runcards.unit_types),
            "disposition": sorted(runcards.dispositions)}


def _enum_of(prop: dict[str, Any], values: list[str]) -> None:
    """Give a plain string schema (or the string branch of an optional one, or the items
    of a list) the allowed values; a schema that already is an enum or a $ref is left."""
    if prop.get("type") == "string" and "enum" not in prop:
        prop["enum"] = values
    elif prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        _enum_of(prop["items"], values)
    for branch in prop.get("anyOf", []):
        _enum_of(branch, values)


def with_run_cards(schema: dict[str, Any], runcards: RunCards) -> dict[str, Any]:
    """``schema`` with category, unit type and closing disposition limited to the codes
    this service's run cards hold: clients see what will be accepted, and generated
    requests reach past validation."""
    values = _run_card_values(runcards)
    for name, prop in schema.get("properties", {}).items():
        if name in values:
            _enum_of(prop, values[name])
    return schema


def _query_parameters(model: type[BaseModel], components: dict[str, Any]
                      ) -> list[dict[str, Any]]:
    schema = _schema(model, components)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _responses(route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "done",
                          "content": {CONTENT.get(route, "application/json"): {}}}
    out: dict[str, Any] = {"200": ok, "201": ok} if route[0] == "POST" else {"200": ok}
    if route == ("POST", "/api/v1/logout"):
        out = {"204": {"description": "logged out"}}
    error = {"description": "refused; the body names the problem",
             "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    return out | {code: error for code in ERRORS}


def operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI operation object of one route."""
    op: dict[str, Any] = {"summary": f"roles: {', '.join(sorted(allowed_roles(route)))}",
                          "responses": _responses(route)}
    params: list[dict[str, Any]] = []
    if "{id}" in route[1]:
        params.append({"name": "id", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}})
    if "{token}" in route[1]:
        params.append({"name": "token", "in": "path", "required": True, "schema": {
            "type": "string", "minLength": 20, "maxLength": TOKEN_MAX,
            "pattern": "^[A-Za-z0-9_-]+$"}})
    for name, schema in PATH_PARAMETERS.items():
        if "{" + name + "}" in route[1]:
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if route in IDEMPOTENT:
        params.append({"name": idempotency.HEADER, "in": "header", "required": False,
                       "description": "The same key again gets the first answer; with "
                                      "another body, 422 idempotency_key_reused",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 200,
                                  "pattern": "^[!-~]{1,200}$"}})
    if route in QUERIES:
        params += _query_parameters(QUERIES[route], components)
    if params:
        op["parameters"] = params
    if route in BODIES:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema(BODIES[route], components)}}}
    if route in PUBLIC or route in TOKEN_BOUND:
        op["security"] = []
    return op


def _link_created(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from each 201 answer to the operations on what it created
    (POST /api/v1/units -> /api/v1/units/{id}/...), for clients and stateful testing."""
    for base, ops in paths.items():
        if "post" not in ops:
            continue
        links = {
            f"{method}{path.removeprefix(base)}".replace("/", "_").replace("{id}", "id"): {
                "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1")
                                + f"/{method}",
                "parameters": {"id": "$response.body#/id"}}
            for path, targets in paths.items() if path.startswith(base + "/{id}")
            for method in targets}
        if links:
            responses = ops["post"]["responses"]
            responses["201"] = dict(responses["201"], links=links)


def _limit_to_run_cards(paths: dict[str, dict[str, Any]], components: dict[str, Any],
                        runcards: RunCards) -> None:
    # Bodies only: a query filter naming an unknown code is no error, it matches nothing.
    for ops in paths.values():
        for op in ops.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                with_run_cards(body["schema"], runcards)
    for schema in components.values():
        with_run_cards(schema, runcards)


def document(app: web.Application) -> dict[str, Any]:
    """The whole document for the routes registered on ``app``."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for r in app.router.routes():
        if r.resource is None or r.method in {"HEAD", "*"}:
            continue
        route = (r.method, r.resource.canonical)
        if not route[1].startswith("/api/") or route[1] in PAGES:
            continue
        paths.setdefault(route[1], {})[route[0].lower()] = operation(route, components)
    _link_created(paths)
    _limit_to_run_cards(paths, components, app[keys.SETTINGS].runcards)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Siap112", "version": "1",
                 "description": "Emergency dispatch for Blitar Siap 112"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "siap112_session"}}},
        "security": [{"bearer": []}, {"session": []}],
    }


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(document(request.app))
