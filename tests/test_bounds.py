"""The edge types, property by property (hypothesis), and the database's second line:
the timestamptz codec that never yields a naive time, and migration 008's checks and
repairs."""

from __future__ import annotations

import shutil
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from dispatch.core.bounds import EARLIEST, INT64_MAX, LATEST, TimeBounds, parse_id, printable
from dispatch.settings import SettingsError, load_settings
from dispatch.store.db import AWARE_MAX, AWARE_MIN, init_connection
from dispatch.store.migrate import SQL_DIR, migrate
from dispatch.web.types import EventTime, FreeText, Id, Line, PeriodTime, QueryInt
from tests.conftest import AppFactory

NOW = datetime.now(UTC)
BOUNDS = TimeBounds()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    at: EventTime | None = None
    id: Id | None = None
    line: Line | None = None
    free: FreeText | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    to: PeriodTime | None = None
    n: QueryInt | None = None


def _refused(model: type[BaseModel], **data: object) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data, context=BOUNDS)
    [error] = info.value.errors()
    return str(error["loc"][0])


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
any_time = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=offsets)


@given(any_time)
def test_an_event_time_is_accepted_exactly_inside_the_window(at: datetime) -> None:
    inside = EARLIEST <= at <= datetime.now(UTC) + timedelta(seconds=BOUNDS.future_skew_s)
    text = at.isoformat()
    if inside:
        assert Body.model_validate({"at": text}, context=BOUNDS).at == at
    else:
        assert _refused(Body, at=text) == "at"


@given(any_time)
def test_a_period_end_is_accepted_exactly_inside_its_window(at: datetime) -> None:
    inside = EARLIEST <= at <= LATEST
    text = at.isoformat()
    if inside:
        assert Query.model_validate({"to": text}, context=BOUNDS).to == at
    else:
        assert _refused(Query, to=text) == "to"


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2026, 1, 1)))
def test_a_time_without_timezone_is_refused(at: datetime) -> None:
    assert _refused(Body, at=at.isoformat()) == "at"
    assert _refused(Query, to=at.isoformat()) == "to"


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans()))
def test_a_number_is_never_a_time(value: object) -> None:
    assert _refused(Body, at=value) == "at"
    assert _refused(Query, to=str(value)) == "to"


@given(st.text(max_size=40))
def test_any_text_is_either_refused_or_a_time_inside_the_window(text: str) -> None:
    try:
        at = Query.model_validate({"to": text}, context=BOUNDS).to
    except ValidationError:
        return
    assert at is not None and at.tzinfo is not None and at >= EARLIEST


@given(st.integers(1, INT64_MAX))
def test_every_bigint_id_is_accepted(n: int) -> None:
    assert parse_id(str(n)) == n
    assert Body.model_validate({"id": n}).id == n


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=INT64_MAX + 1)))
def test_ids_outside_bigint_are_refused(n: int) -> None:
    assert parse_id(str(n)) is None
    assert _refused(Body, id=n) == "id"


@given(st.text(max_size=25))
def test_an_id_is_ascii_digits_or_nothing(raw: str) -> None:
    value = parse_id(raw)
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= INT64_MAX:
        assert value == int(raw)
    else:
        assert value is None


@given(st.text(max_size=8).filter(lambda s: not (s.isascii() and s.lstrip("-").isdigit())))
def test_a_query_integer_is_ascii_digits_only(raw: str) -> None:
    assert _refused(Query, n=raw) == "n"


def test_unicode_digits_are_not_ids() -> None:
    for raw in ("²", "①", "１", "٣", "1_000", " 1", "1 ", "+1", "0x10"):
        assert parse_id(raw) is None, raw
        assert _refused(Query, n=raw) == "n"


def _controls(allowed: str = "") -> st.SearchStrategy[str]:
    return st.characters(categories=["Cc", "Cs"]).filter(lambda c: c not in allowed)


@given(st.text(max_size=20), _controls(), st.text(max_size=20))
def test_a_line_with_any_control_character_is_refused(a: str, bad: str, b: str) -> None:
    assert _refused(Body, line=a + bad + b) == "line"


@given(st.text(max_size=20), _controls("\n\t"), st.text(max_size=20))
def test_free_text_refuses_every_control_but_newline_and_tab(a: str, bad: str, b: str) -> None:
    assert _refused(Body, free=a + bad + b) == "free"


@given(st.text(st.characters(exclude_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"),
               max_size=60))
def test_free_text_keeps_newlines_and_tabs_inside(text: str) -> None:
    kept = Body.model_validate({"free": text}).free
    assert kept is not None and kept in text
    assert kept == kept.strip()


@given(st.text(st.sampled_from(" \u200b\u200c\u200d\u2060\ufeff\u00a0\u3000"), max_size=10))
def test_blank_and_zero_width_text_is_empty(text: str) -> None:
    assert Body.model_validate({"line": text}).line == ""


@given(st.text(max_size=60))
def test_printable_keeps_text_storable_and_recognisable(text: str) -> None:
    out = printable(text)
    assert all(unicodedata.category(c) not in {"Cc", "Cs"} or c in "\n\t" for c in out)
    if all(unicodedata.category(c) not in {"Cc", "Cs"} or c in "\n\t" for c in text):
        assert out == text


# --- the database layer -------------------------------------------------------

async def test_the_codec_never_yields_a_naive_time(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await init_connection(conn)
        for text, expected in (("infinity", AWARE_MAX), ("-infinity", AWARE_MIN),
                               ("4713-01-01 BC", AWARE_MIN), ("0001-01-01T00:00:00Z", AWARE_MIN),
                               ("294276-12-31 23:59:59Z", AWARE_MAX),
                               ("9999-12-31T23:59:59.999999Z", AWARE_MAX),
                               ("2026-12-02T10:00:00+07:00",
                                datetime(2026, 12, 2, 3, tzinfo=UTC))):
            got = await conn.fetchval("SELECT $1::text::timestamptz", text)
            assert got == expected and got.tzinfo is not None, text
        at = datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
        assert await conn.fetchval("SELECT $1::timestamptz", at) == at
        with pytest.raises(asyncpg.DataError, match="naive"):
            await conn.fetchval("SELECT $1::timestamptz", datetime(2026, 12, 2))
    finally:
        await conn.close()


async def test_the_database_refuses_absurd_stored_times(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO units (callsign, unit_type, agency) VALUES ('A-1', "
                     "'ambulance', 'x')")
    for value in ("-infinity", "infinity", "1970-01-01T00:00:00Z", "2200-01-01T00:00:00Z"):
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute("UPDATE units SET lat = -8.1, lon = 112.2, position_at = $1::text"
                             "::timestamptz", value)


async def test_migration_008_repairs_rows_stored_before_it(services: tuple[str, str],
                                                           tmp_path: Path) -> None:
    admin_url = services[0]
    name = f"siap112_bounds_{datetime.now(UTC):%H%M%S%f}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        for path in SQL_DIR.glob("*.sql"):
            if int(path.name[:3]) < 8:
                shutil.copy(path, tmp_path)
        await migrate(conn, tmp_path)
        await conn.execute("""
            INSERT INTO units (callsign, unit_type, agency, lat, lon, position_at)
            VALUES ('A-1', 'ambulance', 'x', -8.1, 112.2, '-infinity');
            INSERT INTO incidents (caller_phone, category, priority, address, required_types,
                                   received_at, logged_by)
            VALUES ('081234567890', 'medis', 1, 'Jl. Mawar', '{ambulance}', '0001-01-01Z', 't'),
                   ('081234567890', 'medis', 1, 'Jl. Melati', '{ambulance}', '1970-01-01Z', 't');
            INSERT INTO calls (caller_phone, phone_key, disposition, logged_by, rang_at,
                               answered_at)
            VALUES ('081234567890', '081234567890', 'prank', 't', '-infinity', '1970-01-02Z');
        """)
        await migrate(conn)
        assert await conn.fetchval("SELECT position_at = '2000-01-01Z' FROM units")
        assert await conn.fetchval("SELECT bool_and(received_at = logged_at) FROM incidents")
        assert tuple(await conn.fetchrow("SELECT rang_at, answered_at FROM calls")) == (
            None, None)
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


# --- the configured window ---------------------------------------------------

def test_the_window_comes_from_the_settings_and_cannot_outgrow_the_database() -> None:
    settings = load_settings(env={"SIAP112_BOUNDS_EARLIEST": "2020-01-01T00:00:00+07:00",
                                  "SIAP112_BOUNDS_FUTURE_SKEW_S": "5"})
    assert settings.bounds == TimeBounds(
        earliest=datetime(2019, 12, 31, 17, tzinfo=UTC), future_skew_s=5.0)
    for earliest in ("1999-12-31T23:59:59Z", "2026-01-01T00:00:00", "yesterday"):
        with pytest.raises(SettingsError, match="bounds.earliest"):
            load_settings(env={"SIAP112_BOUNDS_EARLIEST": earliest})


async def test_a_configured_window_is_what_the_api_enforces(start_app: AppFactory) -> None:
    client = await start_app(bounds={"earliest": datetime(2020, 1, 1, tzinfo=UTC),
                                     "future_skew_s": 600.0})
    body = {"caller_phone": "081234567890", "category": "medis", "priority": 1,
            "address": "Jl. Mawar"}
    for at, status in (("2019-12-31T23:59:59Z", 422), ("2020-01-01T00:00:00Z", 201),
                       ((datetime.now(UTC) + timedelta(minutes=5)).isoformat(), 201),
                       ((datetime.now(UTC) + timedelta(minutes=15)).isoformat(), 422)):
        resp = await client.post("/api/v1/incidents", json=body | {"call_received_at": at})
        assert resp.status == status, (at, await resp.text())
    resp = await client.get("/api/v1/stats/calls?from=2019-06-01T00:00:00Z")
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "from"
