"""One typed settings object, built once from config/ and the environment.

Defaults live in ``config/siap112.toml``; any leaf can be overridden by an
environment variable ``SIAP112_<PATH>`` where PATH is the TOML path joined by
underscores (``SIAP112_DATABASE_URL``, ``SIAP112_HTTP_PORT``,
``SIAP112_DISPATCH_STALE_POSITION_S``). Connection URLs have no default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dispatch.core.bounds import EARLIEST, LATEST, TimeBounds, parse_instant
from dispatch.core.runcards import RunCards, TargetTable, load_runcards, load_targets
from dispatch.resources import config_dir

ENV_PREFIX = "SIAP112_"
# Inside the package (an installed wheel) or the checkout's config/ (dispatch/resources.py).
DEFAULT_CONFIG_DIR = config_dir()


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which value and why."""


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int
    max_body_bytes: int
    # Headers and then body must each arrive within this (web/hardening.py).
    request_timeout_s: float
    # How long after SIGTERM a web instance waits for requests in flight.
    shutdown_timeout_s: float = 10.0
    # How long an Idempotency-Key of POST /api/v1/incidents is remembered.
    idempotency_ttl_s: float = 86400.0


@dataclass(frozen=True)
class LogSettings:
    level: str
    format: str


@dataclass(frozen=True)
class DbSettings:
    pool_min: int
    pool_max: int
    connect_attempts: int
    acquire_timeout_s: float
    statement_timeout_ms: int


@dataclass(frozen=True)
class RedisSettings:
    stream_key: str
    stream_maxlen: int
    socket_timeout_s: float


@dataclass(frozen=True)
class DispatchSettings:
    run_in_web: bool
    poll_interval_s: float
    stale_position_s: float
    road_factor: float
    # Rows per read of the queue: a pass reads page after page, so every incident a
    # free unit could serve is considered whatever the queue's length.
    batch: int
    speed_kmh: Mapping[str, float]
    # How long after SIGTERM a standalone dispatcher or relay may take to finish
    # or roll back its current transaction before it is abandoned.
    shutdown_timeout_s: float = 10.0

    def speed_for(self, unit_type: str) -> float:
        return self.speed_kmh.get(unit_type, self.speed_kmh.get("default", 40.0))


@dataclass(frozen=True)
class RelaySettings:
    run_in_web: bool
    batch: int
    poll_interval_s: float


@dataclass(frozen=True)
class SseSettings:
    heartbeat_s: float
    queue_size: int
    # Open streams re-check their session or token this often, and end with
    # `event: logout` once it no longer grants access.
    recheck_s: float = 10.0
    # Open streams one user or token may hold on one web instance; 0 = no cap.
    max_streams_per_principal: int = 8


@dataclass(frozen=True)
class SuperviseSettings:
    """The supervised background loops (dispatch/supervise.py)."""

    # A loop with no progress for its poll interval plus this long is stalled.
    stall_after_s: float = 30.0
    # First back-off after a loop fails (or the dispatcher fails to serve one incident)...
    restart_delay_s: float = 0.5
    restart_delay_max_s: float = 30.0  # ...doubling while it keeps failing, up to this
    heartbeat_write_s: float = 5.0    # how often heartbeats are written to the database


@dataclass(frozen=True)
class AlertsSettings:
    """Timers that shout (dispatch/workers/alerts.py): thresholds in seconds.

    ``unacknowledged_s`` and ``on_scene_min`` are tables: the most specific key wins,
    ``<unit_type>.p<priority>`` then ``<unit_type>`` then ``p<priority>`` then
    ``default`` (``on_scene_min`` by unit type only, in minutes)."""

    run_in_web: bool = True           # each web process checks (raising is idempotent)
    check_s: float = 5.0              # how often the conditions are checked
    unacknowledged_s: Mapping[str, float] = field(default_factory=lambda: {"default": 90.0})
    p1_no_en_route_s: float = 120.0   # a priority-1 incident with no unit en route
    queued_s: float = 120.0           # an incident waiting for a unit
    on_scene_min: Mapping[str, float] = field(default_factory=lambda: {"default": 60.0})

    def unacknowledged_for(self, unit_type: str, priority: int) -> float:
        table = self.unacknowledged_s
        for key in (f"{unit_type}.p{priority}", unit_type, f"p{priority}"):
            if key in table:
                return float(table[key])
        return float(table.get("default", 90.0))

    def on_scene_for(self, unit_type: str) -> float:
        """Seconds a unit of ``unit_type`` may stay on scene before it is flagged."""
        table = self.on_scene_min
        return float(table.get(unit_type, table.get("default", 60.0))) * 60


def _alerts_settings(raw: Mapping[str, Any]) -> AlertsSettings:
    tree = dict(raw)
    for key in ("unacknowledged_s", "on_scene_min"):
        if key in tree:
            value = tree[key]
            tree[key] = ({k: float(v) for k, v in value.items()} if isinstance(value, dict)
                         else {"default": float(value)})
    alerts = AlertsSettings(**tree)
    numbers = [alerts.check_s, alerts.p1_no_en_route_s, alerts.queued_s,
               *alerts.unacknowledged_s.values(), *alerts.on_scene_min.values()]
    if min(numbers) <= 0:
        raise SettingsError("alerts: check_s and every threshold must be > 0")
    return alerts


@dataclass(frozen=True)
class CallsSettings:
    """The call log, AML matching, duplicate offers and exchange formats (issue 3)."""

    repeat_caller_calls: int = 3
    repeat_caller_days: int = 7
    aml_match_window_s: float = 900.0
    duplicate_radius_m: float = 300.0
    duplicate_window_min: float = 30.0
    answer_targets_s: tuple[float, ...] = (15.0, 20.0)
    answer_target_shares: tuple[float, ...] = (0.90, 0.95)
    cap_sender: str = "siap112@blitarkab.go.id"
    cap_circle_km: float = 0.5
    timezone: str = "Asia/Jakarta"
    # A caller location link (/l/<token>) works this long after it is made.
    location_link_ttl_s: float = 1800.0
    location_link_max_fixes: int = 240      # positions one link takes before it is used up
    location_fixes_per_minute: int = 30     # per link and (x4) per client address; 0 = off
    # The centre's public address the link starts with; "" = the address the console used.
    location_link_base_url: str = ""
    # A silent or dropped ('ghost') call opens a callback task due this soon.
    callback_enabled: bool = True
    callback_within_s: float = 120.0
    # GET /api/v1/callers/{phone}: the number's calls this many days back.
    history_days: int = 30


# --- centre-to-centre exchange, SMS gateway, prank handling ----------------

@dataclass(frozen=True)
class PartnerSettings:
    """A neighbouring 112 centre we hand incidents over to (and take them from)."""

    name: str
    label: str
    base_url: str                 # e.g. https://112.blitarkota.go.id
    # The area codes it serves (BPS codes, e.g. "35.72" Kota Blitar): an incident whose
    # area code starts with one of them may be handed over to it.
    area_codes: tuple[str, ...]
    token_out: str                # we send this as Bearer to the partner
    token_in: str                 # the partner sends this as Bearer to us
    phone: str = ""               # the fall-back: its 112 desk's phone number


@dataclass(frozen=True)
class ExchangeSettings:
    """EIDO handover between centres (NENA-STA-021 documents, outbox delivery)."""

    centre: str = "kab-blitar"    # our id in EIDO identifiers
    centre_label: str = "112 Kabupaten Blitar"
    run_in_web: bool = True       # deliver the outbox from each web process
    poll_interval_s: float = 1.0
    timeout_s: float = 5.0        # one delivery attempt
    retry_initial_s: float = 2.0  # back-off after a failed attempt, doubling...
    retry_max_s: float = 60.0     # ...up to this
    partners: Mapping[str, PartnerSettings] = field(default_factory=dict)


@dataclass(frozen=True)
class PrankSettings:
    """Warning SMS and block requests for numbers past the repeat threshold."""

    warning_template: str = (
        "Peringatan dari 112 Kabupaten Blitar: nomor Anda tercatat {count} kali melakukan "
        "panggilan iseng atau diam ke 112. Panggilan iseng dapat menghalangi pertolongan "
        "bagi orang lain dan dapat dikenai sanksi. Gunakan 112 hanya untuk keadaan darurat.")
    block_max_hours: float = 168.0     # a block request expires within a week at most
    block_default_hours: float = 24.0
    telephony_webhook_url: str = ""    # the IP-PBX's block webhook; empty: export only
    telephony_secret: str = ""
    list_days: int = 30                # history shown on the list


def _partners(raw: Mapping[str, Any]) -> dict[str, PartnerSettings]:
    out: dict[str, PartnerSettings] = {}
    for name, tree in raw.items():
        if not isinstance(tree, Mapping) or not name.replace("_", "").isalnum():
            raise SettingsError(f"partners.{name}: expected a table named [a-z0-9_]")
        try:
            partner = PartnerSettings(name=name, label=str(tree.get("label", name)),
                                      base_url=str(tree["base_url"]).rstrip("/"),
                                      area_codes=tuple(str(c) for c in tree["area_codes"]),
                                      token_out=str(tree["token_out"]),
                                      token_in=str(tree["token_in"]),
                                      phone=str(tree.get("phone", "")))
        except KeyError as exc:
            raise SettingsError(f"partners.{name} needs {exc.args[0]}") from None
        if len(partner.token_in) < 24 or len(partner.token_out) < 24:
            raise SettingsError(f"partners.{name}: tokens must be at least 24 characters")
        if not partner.base_url.startswith(("https://", "http://")):
            raise SettingsError(f"partners.{name}.base_url must be an http(s) URL")
        out[name] = partner
    return out


def _exchange_settings(raw: Mapping[str, Any], partners: Mapping[str, Any]
                       ) -> ExchangeSettings:
    exchange = ExchangeSettings(**raw, partners=_partners(partners))
    if min(exchange.poll_interval_s, exchange.timeout_s, exchange.retry_initial_s) <= 0 \
            or exchange.retry_max_s < exchange.retry_initial_s:
        raise SettingsError("exchange: intervals must be > 0, retry_max_s >= retry_initial_s")
    return exchange


@dataclass(frozen=True)
class AuthSettings:
    """Accounts and sessions (issue 4)."""

    session_ttl_s: float = 43200.0    # a browser session lasts one 12-hour shift
    token_days: int = 90              # default lifetime of an API token
    # Login throttling (sql/009): per (username, client address) and per address, never
    # per account alone, so no outsider can keep the owner from logging in elsewhere.
    login_free_attempts: int = 3      # per username and address before delays begin
    login_address_free_attempts: int = 20  # per address, any usernames; 0 = no such throttle
    login_delay_s: float = 1.0        # the first delay; doubles with every further attempt...
    login_delay_max_s: float = 30.0   # ...up to this
    login_forget_s: float = 900.0     # a scope quiet this long starts counting again
    cookie_secure: bool = False       # set true behind HTTPS
    login_per_minute: int = 30        # login attempts per client address; 0 = no limit
    intake_per_minute: int = 600      # intake requests per token and per address; 0 = no limit
    # A token or session seen lately is not read again for this long, while the web
    # process hears every change to access (sql/024; dispatch/web/principals.py); 0 = off.
    principal_cache_s: float = 10.0
    personal_data_days: int = 365     # `siap112 purge` anonymises caller data older than this


@dataclass(frozen=True)
class UnitsSettings:
    """Unit positions: how often consoles get them, and how long the track is kept."""

    position_event_s: float = 5.0       # at most one unit.location event per unit this often
    position_retention_days: int = 30   # `siap112 purge` deletes older track points


@dataclass(frozen=True)
class MapSettings:
    """The consoles' slippy map: base tiles, or none (vector boundaries only, offline)."""

    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"
    tile_max_zoom: int = 19

    @property
    def tile_origin(self) -> str:
        """scheme://host[:port] of the tiles, for the pages' img-src; '' when tiles are off."""
        if not self.tile_url:
            return ""
        parts = urlsplit(self.tile_url.replace("{s}", "a"))
        return f"{parts.scheme}://{parts.netloc}"


def _map_settings(raw: Mapping[str, Any]) -> MapSettings:
    m = MapSettings(**raw)
    if m.tile_url:
        parts = urlsplit(m.tile_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or "{s}" in parts.netloc \
                or not all(k in m.tile_url for k in ("{z}", "{x}", "{y}")):
            raise SettingsError("map.tile_url must be an http(s) URL with {z}, {x} and {y} "
                                "on one host, or empty for no base tiles")
    return m


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway the caller location link is sent through: an HTTP webhook that
    takes a JSON body {to, text}. Empty gateway_url: no SMS, the link is shown to copy.
    The secret has no default; set SIAP112_SMS_GATEWAY_SECRET."""

    gateway_url: str = ""
    secret_header: str = "X-Siap112-Secret"
    gateway_secret: str = ""
    timeout_s: float = 5.0


def _sms_settings(raw: Mapping[str, Any]) -> SmsSettings:
    sms = SmsSettings(**raw)
    if sms.gateway_url and urlsplit(sms.gateway_url).scheme not in {"http", "https"}:
        raise SettingsError("sms.gateway_url must be an http(s) URL, or empty")
    if not 0 < sms.timeout_s <= 60:
        raise SettingsError("sms.timeout_s must be in (0, 60]")
    return sms


@dataclass(frozen=True)
class RoadsSettings:
    """Travel time by road from an OpenStreetMap extract built with `siap112 roads build`
    (dispatch/roads.py). No routing data in ``data_dir``: geodesic distance x road_factor."""

    data_dir: str = "/var/lib/siap112/roads"
    margin_km: float = 10.0          # the extract is clipped to the regency plus this
    k: int = 8                       # the geodesically nearest candidates timed by road
    max_radius_m: float = 60000.0    # candidates farther than this are not timed by road
    budget_ms: float = 200.0         # one engine call longer than this: geodesic for the pass
    # The engine's costing per unit type (auto, truck, motorcycle, motor_scooter, ...).
    costing: Mapping[str, str] = field(default_factory=lambda: {
        "ambulance": "auto", "fire": "truck", "police": "motorcycle", "default": "auto"})

    def costing_for(self, unit_type: str) -> str:
        return self.costing.get(unit_type, self.costing.get("default", "auto"))


ROAD_COSTINGS = frozenset({"auto", "truck", "motorcycle", "motor_scooter", "bus", "taxi"})


def _roads_settings(raw: Mapping[str, Any], unit_types: Any) -> RoadsSettings:
    tree = dict(raw)
    costing = {**RoadsSettings().costing, **{k: str(v) for k, v in
                                              tree.pop("costing", {}).items()}}
    roads = RoadsSettings(**tree, costing=costing)
    if not 1 <= roads.k <= 50:
        raise SettingsError("roads.k must be in [1, 50]")
    if roads.budget_ms <= 0 or roads.max_radius_m <= 0 or roads.margin_km < 0:
        raise SettingsError("roads.budget_ms and max_radius_m must be > 0, margin_km >= 0")
    bad = {t: c for t, c in costing.items() if c not in ROAD_COSTINGS}
    if bad:
        raise SettingsError(f"roads.costing: unknown costing {bad}; "
                            f"allowed {sorted(ROAD_COSTINGS)}")
    unknown = set(costing) - set(unit_types) - {"default"}
    if unknown:
        raise SettingsError(f"roads.costing names unknown unit types: {sorted(unknown)}")
    return roads


def _units_settings(raw: Mapping[str, Any]) -> UnitsSettings:
    units = UnitsSettings(**raw)
    if units.position_event_s < 0:
        raise SettingsError("units.position_event_s must be >= 0")
    if units.position_retention_days < 1:
        raise SettingsError("units.position_retention_days must be >= 1")
    return units


def _calls_settings(raw: Mapping[str, Any]) -> CallsSettings:
    tree = dict(raw)
    for key in ("answer_targets_s", "answer_target_shares"):
        if key in tree:
            tree[key] = tuple(float(v) for v in tree[key])
    calls = CallsSettings(**tree)
    if len(calls.answer_targets_s) != len(calls.answer_target_shares):
        raise SettingsError("calls.answer_targets_s and answer_target_shares differ in length")
    if not 60 <= calls.location_link_ttl_s <= 86400:
        raise SettingsError("calls.location_link_ttl_s must be 60…86400")
    if not 1 <= calls.history_days <= 366:
        raise SettingsError("calls.history_days must be 1…366")
    if calls.repeat_caller_calls < 1 or calls.repeat_caller_days < 1:
        raise SettingsError("calls.repeat_caller_calls and repeat_caller_days must be >= 1")
    return calls


def _bounds_settings(raw: Mapping[str, Any]) -> TimeBounds:
    """The window for input times; never wider than what the database accepts."""
    tree = dict(raw)
    try:
        earliest = parse_instant(str(tree.pop("earliest", EARLIEST.isoformat())))
    except ValueError as exc:
        raise SettingsError(f"bounds.earliest: {exc}") from None
    bounds = TimeBounds(earliest=earliest, **{k: float(v) for k, v in tree.items()})
    if not EARLIEST <= bounds.earliest < LATEST:
        raise SettingsError(f"bounds.earliest must lie in {EARLIEST:%Y}…{LATEST:%Y}, "
                            "the range the database stores (sql/008_bounds.sql)")
    if not 0 <= bounds.future_skew_s <= 3600:
        raise SettingsError("bounds.future_skew_s must be 0…3600")
    return bounds


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    http: HttpSettings
    log: LogSettings
    db: DbSettings
    redis: RedisSettings
    dispatch: DispatchSettings
    relay: RelaySettings
    sse: SseSettings
    runcards: RunCards
    targets: TargetTable
    config_dir: Path = field(default=DEFAULT_CONFIG_DIR)
    calls: CallsSettings = field(default_factory=CallsSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    units: UnitsSettings = field(default_factory=UnitsSettings)
    bounds: TimeBounds = field(default_factory=TimeBounds)
    supervise: SuperviseSettings = field(default_factory=SuperviseSettings)
    map: MapSettings = field(default_factory=MapSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    pranks: PrankSettings = field(default_factory=PrankSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    roads: RoadsSettings = field(default_factory=RoadsSettings)


def _coerce(value: str, like: Any, name: str) -> Any:
    if isinstance(like, bool):
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}: expected true/false, got {value!r}")
    try:
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a number, got {value!r}") from exc
    return value


def _apply_env(tree: dict[str, Any], env: Mapping[str, str], path: tuple[str, ...] = ()) -> None:
    for key, value in tree.items():
        here = (*path, key)
        if isinstance(value, dict):
            _apply_env(value, env, here)
            continue
        name = ENV_PREFIX + "_".join(here).upper()
        if name in env:
            tree[key] = _coerce(env[name], value, name)


def load_settings(
    config_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read ``siap112.toml`` and the run cards, apply environment overrides, validate."""
    config_dir = Path(
        config_dir or (env or os.environ).get("SIAP112_CONFIG_DIR") or DEFAULT_CONFIG_DIR
    )
    env = os.environ if env is None else env
    path = config_dir / "siap112.toml"
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"configuration file not found: {path}") from exc
    _apply_env(tree, env)
    tree.update(overrides)
    runcards = load_runcards(config_dir / tree.get("runcards_file", "runcards.toml"))
    targets = load_targets(tree.get("targets", {}), runcards.category_codes())
    dispatch_tree = dict(tree["dispatch"])
    speeds = {k: float(v) for k, v in dispatch_tree.pop("speed_kmh", {}).items()}
    settings = Settings(
        database_url=str(tree.get("database_url", "")),
        redis_url=str(tree.get("redis_url", "")),
        http=HttpSettings(**tree["http"]),
        log=LogSettings(**tree["log"]),
        db=DbSettings(**tree["db"]),
        redis=RedisSettings(**tree["redis"]),
        dispatch=DispatchSettings(**dispatch_tree, speed_kmh=speeds),
        relay=RelaySettings(**tree["relay"]),
        sse=SseSettings(**tree["sse"]),
        runcards=runcards,
        targets=targets,
        config_dir=config_dir,
        calls=_calls_settings(tree.get("calls", {})),
        auth=AuthSettings(**tree.get("auth", {})),
        units=_units_settings(tree.get("units", {})),
        bounds=_bounds_settings(tree.get("bounds", {})),
        supervise=SuperviseSettings(**tree.get("supervise", {})),
        map=_map_settings(tree.get("map", {})),
        exchange=_exchange_settings(tree.get("exchange", {}), tree.get("partners", {})),
        sms=_sms_settings(tree.get("sms", {})),
        pranks=PrankSettings(**tree.get("pranks", {})),
        alerts=_alerts_settings(tree.get("alerts", {})),
        roads=_roads_settings(tree.get("roads", {}), runcards.unit_types),
    )
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not 0 < s.http.port < 65536:
        raise SettingsError(f"http.port out of range: {s.http.port}")
    if s.db.pool_min < 1 or s.db.pool_max < s.db.pool_min:
        raise SettingsError("db.pool_min must be >= 1 and <= db.pool_max")
    if s.dispatch.stale_position_s <= 0 or s.dispatch.road_factor < 1:
        raise SettingsError("dispatch.stale_position_s must be > 0 and road_factor >= 1")
    if not 0 <= s.auth.principal_cache_s <= 300:
        raise SettingsError("auth.principal_cache_s must be 0…300")
    if s.log.format not in {"json", "console"}:
        raise SettingsError(f"log.format must be json or console, got {s.log.format!r}")
    if s.dispatch.batch < 1 or s.sse.queue_size < 1 or s.sse.recheck_s <= 0:
        raise SettingsError("dispatch.batch and sse.queue_size must be >= 1, "
                            "sse.recheck_s > 0")
    if min(s.supervise.stall_after_s, s.supervise.restart_delay_s,
           s.supervise.heartbeat_write_s) <= 0:
        raise SettingsError("supervise.stall_after_s, restart_delay_s and heartbeat_write_s "
                            "must be > 0")
    _validate_alert_keys(s)
    unknown = set(s.dispatch.speed_kmh) - set(s.runcards.unit_types) - {"default"}
    if unknown:
        raise SettingsError(f"dispatch.speed_kmh names unknown unit types: {sorted(unknown)}")


def _validate_alert_keys(s: Settings) -> None:
    types = set(s.runcards.unit_types)
    priorities = {"p1", "p2", "p3"}
    allowed = {"default"} | types | priorities | {f"{t}.{p}" for t in types for p in priorities}
    bad = sorted(set(s.alerts.unacknowledged_s) - allowed)
    bad += sorted(set(s.alerts.on_scene_min) - types - {"default"})
    if bad:
        raise SettingsError(f"alerts: unknown unit types or priorities in the tables: {bad}")
