"""GET /api/v1/meta serves the limits the API validates with and the role table, so the
console counts characters against the same limit and shows only controls a role may use."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from dispatch.web.auth import ROUTE_ROLES
from tests.helpers import KANIGORO, WLINGI, get_json


async def test_meta_limits_are_the_ones_the_api_refuses_at(client: TestClient) -> None:
    meta = await get_json(client, "/api/v1/meta")
    limits = meta["limits"]
    assert limits["description"] == 4000 and limits["address"] == 500
    assert limits["incident_note"] == 2000 and limits["call_address"] == 500
    # Two places far apart: the second report is no possible duplicate of the first.
    for field, (lat, lon) in (("description", KANIGORO), ("address", WLINGI)):
        base = {"caller_phone": "081234567890", "disposition": "emergency",
                "incident": {"category": "kebakaran", "priority": 1,
                             "location": {"lat": lat, "lon": lon}}}
        at_limit = {**base, "incident": {**base["incident"], field: "x" * limits[field]}}
        resp = await client.post("/api/v1/calls", json=at_limit)
        assert resp.status == 201, await resp.text()
        over = {**base, "incident": {**base["incident"], field: "x" * (limits[field] + 1)}}
        resp = await client.post("/api/v1/calls", json=over)
        body = await resp.json()
        assert resp.status == 422
        assert body["error"]["fields"][0]["type"] == "string_too_long"


async def test_meta_serves_the_route_role_table(client: TestClient) -> None:
    table = (await get_json(client, "/api/v1/meta"))["route_roles"]
    assert table == {f"{m} {p}": sorted(r) for (m, p), r in ROUTE_ROLES.items()}
    assert table["POST /api/v1/calls"] == ["admin", "call_taker", "operator"]
