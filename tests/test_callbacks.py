"""Ghost-call callbacks and the prank paper trail, over the API of the real app.

The SMS gateway and the IP-PBX's telephony webhook are small real HTTP servers
run by the test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatch.privacy import purge
from tests.conftest import AppFactory
from tests.helpers import KANIGORO, bearer, get_json, post_json

NUMBER = "081399990001"


@dataclass
class Webhook:
    """A fake outside service: records each JSON body and header it is sent."""

    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": self.status == 200}, status=self.status)


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Webhook, Webhook]]:
    out = []
    for _ in range(2):
        hook = Webhook()
        app = web.Application()
        app.router.add_post("/hook", hook.handle)
        hook.server = TestServer(app, host="127.0.0.1")
        await hook.server.start_server()
        out.append(hook)
    yield out[0], out[1]
    for hook in out:
        assert hook.server is not None
        await hook.server.close()


async def ghost(client: TestClient, number: str = NUMBER) -> dict[str, Any]:
    return await post_json(client, "/api/v1/calls", {"caller_phone": number,
                                                     "disposition": "ghost"}, 201)


async def test_silent_call_opens_one_callback_task_with_history(client: TestClient) -> None:
    first = await ghost(client)
    assert first["callback_id"] is not None
    again = await ghost(client)     # the same number again: still one open task
    assert again["callback_id"] is None
    [task] = (await get_json(client, "/api/v1/callbacks?open=true"))["callbacks"]
    assert task["caller_phone"] == NUMBER and task["call_id"] == first["id"]
    assert [c["disposition"] for c in task["previous_calls"]] == ["ghost", "ghost"]
    assert task["taken_by"] is None and task["overdue"] is False


async def test_callback_off_opens_no_task(start_app: AppFactory) -> None:
    client = await start_app(calls={"callback_enabled": False})
    assert (await ghost(client))["callback_id"] is None
    assert (await get_json(client, "/api/v1/callbacks"))["callbacks"] == []


async def test_taking_and_finishing_a_callback(client: TestClient, db: asyncpg.Connection,
                                               start_app: AppFactory) -> None:
    audit_before = await db.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    task_id = (await ghost(client))["callback_id"]
    other = await start_app()
    other._session.headers.update(await bearer(db, "call_taker", "ayu"))
    taken = await post_json(client, f"/api/v1/callbacks/{task_id}/take", {}, 200)
    assert taken["taken_by"] == "operator" and taken["taken_at"]
    refused = await post_json(other, f"/api/v1/callbacks/{task_id}/take", {}, 409)
    assert refused["error"]["code"] == "callback_taken"
    # Reached, and an emergency: the call is logged as usual, the task names it.
    missing = await post_json(client, f"/api/v1/callbacks/{task_id}/outcome",
                              {"outcome": "emergency"}, 422)
    assert missing["error"]["field"] == "call_id"
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": NUMBER, "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1,
                     "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}}, 201)
    done = await post_json(client, f"/api/v1/callbacks/{task_id}/outcome",
                           {"outcome": "emergency", "call_id": call["id"]}, 200)
    assert (done["outcome"], done["outcome_call_id"]) == ("emergency", call["id"])
    again = await post_json(client, f"/api/v1/callbacks/{task_id}/outcome",
                            {"outcome": "no_answer"}, 409)
    assert again["error"]["code"] == "callback_done"
    audit = await db.fetch("SELECT action, actor FROM audit_log WHERE subject_type = "
                           "'callback_tasks' AND id > $1 ORDER BY id", audit_before)
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("insert", "operator"), ("update", "operator"), ("update", "operator")]
    assert all(NUMBER not in json.dumps(dict(r)) for r in await db.fetch(
        "SELECT before::text, after::text FROM audit_log WHERE subject_type = 'callback_tasks' "
        "AND id > $1", audit_before))


async def test_supervisor_sees_callback_rate_and_delay(client: TestClient) -> None:
    for i in range(3):
        await ghost(client, f"08139999100{i}")
    tasks = (await get_json(client, "/api/v1/callbacks"))["callbacks"]
    await post_json(client, f"/api/v1/callbacks/{tasks[0]['id']}/outcome",
                    {"outcome": "no_answer"}, 200)
    await post_json(client, f"/api/v1/callbacks/{tasks[1]['id']}/outcome",
                    {"outcome": "prank", "note": "Anak-anak bermain"}, 200)
    stats = await get_json(client, "/api/v1/callbacks/stats?days=1")
    assert (stats["ghost_calls"], stats["tasks"], stats["done"], stats["no_answer"],
            stats["prank"]) == (3, 3, 2, 1, 1)
    assert stats["callback_rate"] == round(2 / 3, 4)
    assert stats["in_time_share"] == round(2 / 3, 4)
    assert 0 <= stats["delay_p50_s"] <= stats["delay_p90_s"] < 120
    bad = await client.get("/api/v1/callbacks/stats?days=0")
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "days"


async def prank_calls(client: TestClient, n: int = 3) -> int:
    last = 0
    for _ in range(n):
        last = (await post_json(client, "/api/v1/calls", {"caller_phone": NUMBER,
                                                          "disposition": "prank"}, 201))["id"]
    return last


async def test_prank_list_warning_without_gateway_offers_the_text(
        client: TestClient, db: asyncpg.Connection, start_app: AppFactory) -> None:
    await prank_calls(client, 2)
    assert (await get_json(client, "/api/v1/pranks"))["numbers"] == []
    call_id = await prank_calls(client, 1)
    supervisor = await start_app()
    supervisor._session.headers.update(await bearer(db, "supervisor", "sari"))
    listed = await get_json(supervisor, "/api/v1/pranks")
    [number] = listed["numbers"]
    assert number["caller_phone"] == "*********001"    # masked for the supervisor
    assert number["recent"] == 3 and len(number["calls"]) == 3
    assert "3 kali" in number["warning_text"] and listed["sms_gateway"] is False
    warning = await post_json(supervisor, f"/api/v1/pranks/{number['call_id']}/warning",
                              {}, 201)
    assert warning["delivery"] == "copy" and warning["text"] == number["warning_text"]
    assert call_id == number["call_id"]
    history = (await get_json(supervisor, "/api/v1/pranks"))["numbers"][0]["actions"]
    assert [(a["kind"], a["actor"]) for a in history] == [("warning_sms", "sari")]


async def test_warning_sms_and_block_request_reach_their_webhooks(
        start_app: AppFactory, hooks: tuple[Webhook, Webhook], db: asyncpg.Connection
        ) -> None:
    sms, pbx = hooks
    client = await start_app(sms={"gateway_url": sms.url, "gateway_secret": "s3cret"},
                             pranks={"telephony_webhook_url": pbx.url})
    call_id = await prank_calls(client)
    sent = await post_json(client, f"/api/v1/pranks/{call_id}/warning", {}, 201)
    assert sent["delivery"] == "sent"
    assert sms.received == [{"to": NUMBER, "text": sent["text"]}]
    assert sms.headers[0]["X-Siap112-Secret"] == "s3cret"
    too_long = await post_json(client, f"/api/v1/pranks/{call_id}/block",
                               {"hours": 1000, "reason": "Iseng berulang"}, 422)
    assert too_long["error"]["field"] == "hours"
    block = await post_json(client, f"/api/v1/pranks/{call_id}/block",
                            {"hours": 24, "reason": "Iseng berulang"}, 201)
    assert block["delivery"] == "notified" and block["expires_at"]
    assert pbx.received[0]["action"] == "block" and pbx.received[0]["number"] == NUMBER
    exported = await get_json(client, "/api/v1/pranks/blocks")
    assert [b["number"] for b in exported["blocks"]] == [NUMBER]
    csv = await client.get("/api/v1/pranks/blocks?format=csv")
    assert NUMBER in await csv.text()
    # Nothing is blocked: an emergency from the number is answered, and flagged.
    call = await post_json(client, "/api/v1/calls", {
        "caller_phone": NUMBER, "disposition": "emergency",
        "incident": {"category": "medis", "priority": 1,
                     "location": {"lat": KANIGORO[0], "lon": KANIGORO[1]}}}, 201)
    assert call["repeat_caller"]["flagged"] is True
    assert call["repeat_caller"]["block_requested_until"] is not None
    assert call["incident"]["status"] in {"pending", "queued", "dispatched"}
    kinds = [r["kind"] for r in await db.fetch("SELECT kind FROM events WHERE kind LIKE "
                                               "'prank.%' ORDER BY id")]
    assert kinds == ["prank.warning_sms", "prank.block_request"]


async def test_gateway_failure_is_recorded_not_hidden(
        start_app: AppFactory, hooks: tuple[Webhook, Webhook]) -> None:
    sms, _ = hooks
    sms.status = 503
    client = await start_app(sms={"gateway_url": sms.url})
    call_id = await prank_calls(client)
    failed = await post_json(client, f"/api/v1/pranks/{call_id}/warning", {}, 201)
    assert failed["delivery"] == "failed" and "503" in failed["error"]


async def test_a_number_not_listed_gets_no_warning(client: TestClient) -> None:
    call_id = await prank_calls(client, 1)
    refused = await post_json(client, f"/api/v1/pranks/{call_id}/warning", {}, 409)
    assert refused["error"]["code"] == "not_listed"


async def test_purge_anonymises_callbacks_and_prank_actions(
        client: TestClient, db: asyncpg.Connection) -> None:
    call_id = await prank_calls(client)
    await ghost(client)
    await post_json(client, f"/api/v1/pranks/{call_id}/warning", {}, 201)
    await db.execute("UPDATE callback_tasks SET created_at = now() - interval '400 days'")
    await db.execute("UPDATE prank_actions SET at = now() - interval '400 days'")
    await db.execute("UPDATE calls SET logged_at = now() - interval '400 days'")
    counts = await purge(db, 365)
    assert counts["callback_tasks"] == 1 and counts["prank_actions"] == 1
    assert await db.fetchval("SELECT count(*) FROM callback_tasks WHERE caller_phone = $1 "
                             "OR phone_key <> '0'", NUMBER) == 0
    assert await db.fetchval("SELECT count(*) FROM prank_actions WHERE caller_phone = $1",
                             NUMBER) == 0


