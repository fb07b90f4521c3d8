"""Call statistics: prank and ghost share, by kecamatan and hour, answer times vs NENA targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import KANIGORO, WLINGI, get_json, percentile_linear, post_json


async def test_call_stats_match_the_logged_calls(client: TestClient) -> None:
    # 10 calls rung at 02:xx WIB (19:xx UTC the day before), answer times in seconds:
    base = datetime.now(UTC).replace(hour=19, minute=0, second=0, microsecond=0)
    if base > datetime.now(UTC) - timedelta(minutes=15):
        base -= timedelta(days=1)
    answers = [3.0, 5.0, 8.0, 9.5, 12.0, 14.0, 16.0, 19.0, 25.0, 41.0]
    dispositions = ["prank", "ghost", "ghost", "prank", "information", "ghost", "emergency",
                    "wrong_number", "ghost", "emergency"]
    for n, (secs, disposition) in enumerate(zip(answers, dispositions, strict=True)):
        rang = base + timedelta(minutes=n)
        body: dict[str, Any] = {"caller_phone": f"08123400{n:04d}", "disposition": disposition,
                                "rang_at": rang.isoformat(),
                                "answered_at": (rang + timedelta(seconds=secs)).isoformat()}
        if disposition == "emergency":
            at = KANIGORO if n == 6 else WLINGI
            body["incident"] = {"category": "medis", "priority": 2,
                                "location": {"lat": at[0], "lon": at[1]}}
        await post_json(client, "/api/v1/calls", body, 201)
    await post_json(client, "/api/v1/calls", {"caller_phone": "0812", "disposition": "test"},
                    201)  # no ring time: counted, but not in answer times

    stats = await get_json(client, "/api/v1/stats/calls")
    assert stats["total"] == 11
    assert stats["by_disposition"] == {"prank": 2, "ghost": 4, "information": 1,
                                       "emergency": 2, "wrong_number": 1, "test": 1}
    assert stats["prank_share"] == pytest.approx(2 / 11)
    assert stats["ghost_share"] == pytest.approx(4 / 11)
    by_kec = {r["kecamatan"]: r["count"] for r in stats["by_kecamatan"]}
    assert by_kec == {"Kanigoro": 1, "Wlingi": 1, None: 9}
    assert stats["prank_or_ghost_share"] == pytest.approx(6 / 11)
    hours = {r["hour"]: r for r in stats["by_hour"]}
    assert hours[2]["count"] == 10  # 19:xx UTC is 02:xx WIB
    assert hours[2]["prank_or_ghost"] == 6
    # Of the hour's 10 answered calls, 6 within the first target (15 s).
    assert (hours[2]["answered"], hours[2]["within_target"]) == (10, 6)
    assert stats["simulated"] == {"calls": 11, "simulated": 0, "flag": False}

    answer = stats["answer_time"]
    assert answer["count"] == 10
    for p in (0.5, 0.9, 0.95):
        assert answer[f"p{int(p * 100)}"] == pytest.approx(percentile_linear(answers, p))
    targets = {t["target_s"]: t for t in answer["targets"]}
    assert targets[15.0]["share"] == pytest.approx(6 / 10)  # NENA: 90 % within 15 s
    assert targets[15.0]["met"] is False
    assert targets[20.0]["share"] == pytest.approx(8 / 10)
    assert targets[20.0]["required_share"] == 0.95


async def test_empty_period(client: TestClient) -> None:
    stats = await get_json(client, "/api/v1/stats/calls?from=2020-01-01T00:00:00Z"
                                   "&to=2020-01-02T00:00:00Z")
    assert stats["total"] == 0 and stats["prank_share"] is None
    assert stats["answer_time"]["count"] == 0
    assert all(t["share"] is None for t in stats["answer_time"]["targets"])
