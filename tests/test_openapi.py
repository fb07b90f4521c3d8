"""The OpenAPI document: generated from the validating models, and fuzzed by schemathesis.

schemathesis (its own process, its own HTTP client) reads the served document and
sends generated valid and invalid requests with an admin token, NUL bytes included,
through its coverage, fuzzing and stateful phases (the latter along the document's
links): no answer may be a 5xx, and every answer must pass all of its checks.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from dispatch import keys
from dispatch.web.auth import ROUTE_ROLES, TOKEN_BOUND
from dispatch.web.openapi import BODIES, QUERIES, REF, with_run_cards
from dispatch.web.schemas import IncidentIn
from tests.helpers import KANIGORO, WLINGI, bearer, create_incident, create_unit, get_json

ST = Path(sys.executable).with_name("st")
# Every check, NUL bytes in generated strings, stateful sequences along the document's links.
ST_CONFIG = """
continue-on-failure = true

[generation]
allow-x00 = true

[phases.stateful]
max-steps = 30

[phases.stateful.generation]
max-examples = 40

[checks.positive_data_acceptance]
# A request valid by the document may still name what the configuration does not hold
# (a category outside the run cards, a unit already busy, 'to' before 'from', an SMS
# that is not AML): refused with 409 or 422 and a body naming the field, by design.
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""


async def test_document_is_generated_from_the_validating_models(client: TestClient) -> None:
    doc = await get_json(client, "/api/v1/openapi.json")
    assert doc["openapi"] == "3.1.0"
    for method, path in ROUTE_ROLES:
        if path.startswith("/api/"):
            assert method.lower() in doc["paths"][path], (method, path)
    body = doc["paths"]["/api/v1/incidents"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    runcards = client.server.app[keys.SETTINGS].runcards
    expected = with_run_cards(IncidentIn.model_json_schema(by_alias=True, ref_template=REF),
                              runcards)
    defs = expected.pop("$defs")
    assert body == expected
    assert all(doc["components"]["schemas"][name] == with_run_cards(schema, runcards)
               for name, schema in defs.items())
    # Codes from the run cards are listed where the service checks them against config.
    assert body["properties"]["category"]["enum"] == sorted(runcards.categories)
    unit = doc["paths"]["/api/v1/units"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["unit_type"]
    assert unit["enum"] == sorted(runcards.unit_types)
    # Every documented body and query model is one a view validates with.
    assert set(BODIES) | set(QUERIES) <= set(ROUTE_ROLES) | TOKEN_BOUND | {
        ("POST", "/api/v1/login")}
    units = doc["paths"]["/api/v1/units"]["get"]["parameters"]
    assert {p["name"] for p in units} == {"status", "type"}


async def test_document_describes_the_bounded_types(client: TestClient) -> None:
    doc = await get_json(client, "/api/v1/openapi.json")

    def body(path: str, method: str = "post") -> dict[str, Any]:
        props: dict[str, Any] = doc["paths"][path][method]["requestBody"]["content"][
            "application/json"]["schema"]["properties"]
        return props

    at = body("/api/v1/units/{id}/location", "put")["at"]["anyOf"][0]
    assert (at["type"], at["format"]) == ("string", "date-time")
    incident = body("/api/v1/incidents")
    assert incident["address"]["maxLength"] == 500
    assert "\\u0000-\\u001f" in incident["address"]["pattern"]
    assert "\\u000b" in incident["description"]["pattern"]
    assert body("/api/v1/incidents/{id}/assignments")["unit_id"]["maximum"] == 2**63 - 1
    [path_id] = doc["paths"]["/api/v1/units/{id}"]["get"]["parameters"]
    assert path_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    stats = {p["name"]: p["schema"] for p in
             doc["paths"]["/api/v1/stats/calls"]["get"]["parameters"]}
    assert stats["to"]["anyOf"][0]["format"] == "date-time"
    links = doc["paths"]["/api/v1/units"]["post"]["responses"]["201"]["links"]
    assert links["put_id_location"] == {
        "operationRef": "#/paths/~1api~1v1~1units~1{id}~1location/put",
        "parameters": {"id": "$response.body#/id"}}


async def test_schemathesis_finds_no_server_error_and_no_breach_of_the_document(
        client: TestClient, db: asyncpg.Connection, tmp_path: Path) -> None:
    await create_unit(client, "AMB-ST", "ambulance", KANIGORO)
    await create_incident(client, WLINGI)
    auth = (await bearer(db, "admin", name="schemathesis"))["Authorization"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(ST_CONFIG, encoding="utf-8")  # noqa: ASYNC240 - a few bytes
    proc = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(config), "run",
        str(client.make_url("/api/v1/openapi.json")),
        "--header", f"Authorization: {auth}", "--checks", "all",
        "--exclude-path", "/api/v1/events",  # an endless stream: covered by test_events
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "12",
        "--seed", "112", "--workers", "1", "--request-timeout", "20",
        "--suppress-health-check", "all", "--report-dir", str(tmp_path),
        cwd=tmp_path,  # its example database (.schemathesis/) stays out of the checkout
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 400)
    text = out.decode()
    (tmp_path / "schemathesis.txt").write_text(text)  # noqa: ASYNC240 - kept for reading
    assert proc.returncode == 0, text[-6000:]
    tested = re.search(r"Tested: (\d+)", text)
    cases = re.search(r"(\d+) generated, (\d+) passed", text)
    assert tested and int(tested.group(1)) >= 30, text[-3000:]  # every operation but the stream
    assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 1000, text[-3000:]
    # Sequences along the document's links ran too (create, then act on what was created).
    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    assert scenarios and int(scenarios.group(1)) > 0, text[-3000:]
