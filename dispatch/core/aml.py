"""Advanced Mobile Location (AML): parse and check the SMS v1 text and the HTTPS form.

Pure functions, no I/O. A phone dialling 112 sends its position by SMS
(``A"ML=1;lt=…;lg=…;rd=…;top=…;…;ml=…``) or by an HTTPS POST of form fields.
Both become one :class:`AmlFix`; anything wrong raises :class:`AmlError`
naming the field and the problem, so the centre can tell a broken network
relay from a phone that simply had no fix.

The HTTPS field names follow the AML HTTPS transport as documented for
Android's Emergency Location Service (``location_latitude``,
``location_accuracy``, ``location_time`` in milliseconds since the epoch,
``device_number`` …); the mapping lives in :func:`parse_https` alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dispatch.core.bounds import EARLIEST, forbidden_character

SMS_HEADER = 'A"ML=1'
METHODS = {"G": "satellite", "W": "wifi", "C": "cell", "N": "no_fix", "U": "unknown"}
HTTPS_SOURCES = {"gps": "G", "gnss": "G", "wifi": "W", "cell": "C", "network": "C",
                 "fused": "U", "unknown": "U"}
MAX_RADIUS_M = 100_000  # beyond this a "fix" locates nothing a dispatcher can use
_DEGREES = re.compile(r"^[+-]?\d{1,3}(\.\d+)?$")
_DIGITS = re.compile(r"^\d+$")
_PHONE = re.compile(r"^\+?[0-9]{3,15}$")


class AmlError(ValueError):
    """A message that cannot be used; ``code`` and ``field`` say why."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class AmlFix:
    """One caller position as the phone reported it."""

    transport: str  # 'sms' | 'https'
    method: str  # G W C N U
    lat: float | None
    lon: float | None
    radius_m: float | None
    positioned_at: datetime
    confidence: int | None = None
    imsi: str | None = None
    imei: str | None = None
    mcc: str | None = None
    mnc: str | None = None

    @property
    def has_position(self) -> bool:
        return self.lat is not None


def phone_key(number: str) -> str:
    """A caller number in one comparable form: +62 812… and 0812… are the same phone."""
    digits = re.sub(r"[^\d]", "", number)
    if digits.startswith("62"):
        return "0" + digits[2:]
    return digits


def _pairs(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise AmlError("malformed_field", f"field {part!r} is not key=value")
        if key in fields:
            raise AmlError("duplicate_field", f"field {key!r} appears twice", key)
        fields[key] = value
    return fields


def _degrees(raw: str | None, field: str, limit: float) -> float:
    if raw is None or not _DEGREES.match(raw):
        raise AmlError("bad_coordinate", f"{field} must be decimal degrees, got {raw!r}", field)
    value = float(raw)
    if not -limit <= value <= limit:
        raise AmlError("out_of_range", f"{field} {value} is outside -{limit}…{limit}", field)
    return value


def _int(raw: str | None, field: str, lo: int, hi: int) -> int:
    if raw is None or not _DIGITS.match(raw):
        raise AmlError("bad_number", f"{field} must be a whole number, got {raw!r}", field)
    value = int(raw)
    if not lo <= value <= hi:
        raise AmlError("out_of_range", f"{field} {value} is outside {lo}…{hi}", field)
    return value


def _check_time(at: datetime, field: str, now: datetime, skew: timedelta,
                earliest: datetime = EARLIEST) -> datetime:
    if at > now + skew:
        raise AmlError("time_in_future",
                       f"{field} {at.isoformat()} is later than now ({now.isoformat()})", field)
    if at < earliest:
        raise AmlError("time_too_old",
                       f"{field} {at.isoformat()} is before {earliest.isoformat()}", field)
    return at


def _no_controls(text: str, field: str) -> None:
    """A control character (NUL above all) means a broken relay, never a real message."""
    bad = forbidden_character(text)
    if bad is not None:
        raise AmlError("control_character",
                       f"{field} contains the control character U+{ord(bad):04X}", field)


def _sms_time(raw: str | None, now: datetime, skew: timedelta,
              earliest: datetime = EARLIEST) -> datetime:
    if raw is None or not re.fullmatch(r"\d{14}", raw):
        raise AmlError("bad_time", f"top must be UTC YYYYMMDDhhmmss, got {raw!r}", "top")
    try:
        at = datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise AmlError("bad_time", f"top {raw!r} is not a real date and time", "top") from None
    return _check_time(at, "top", now, skew, earliest)


def _optional_digits(fields: Mapping[str, str], key: str, lengths: range) -> str | None:
    raw = fields.get(key) or None
    if raw is not None and not (_DIGITS.match(raw) and len(raw) in lengths):
        raise AmlError("bad_identifier", f"{key} must be {lengths.start}–{lengths.stop - 1} "
                       f"digits, got {len(raw)} characters", key)
    return raw


def _position(lat: str | None, lon: str | None, radius: str | None, method: str,
              ) -> tuple[float | None, float | None, float | None]:
    """Coordinates and radius; a phone without a fix (pm=N) may leave them empty."""
    if method == "N" and not (lat or lon):
        return None, None, None
    return (_degrees(lat, "lt", 90), _degrees(lon, "lg", 180),
            float(_int(radius, "rd", 0, MAX_RADIUS_M)))


def parse_sms(text: str, *, now: datetime, skew_s: float = 60.0,
              earliest: datetime = EARLIEST) -> AmlFix:
    """Parse and check one AML SMS (version 1) message."""
    _no_controls(text.strip(), "text")
    text = text.strip()
    first = text.split(";", 1)[0]
    if first != SMS_HEADER:
        if first.startswith('A"ML='):
            raise AmlError("unsupported_version", f"only AML version 1 is read, got {first!r}",
                           "header")
        raise AmlError("bad_header", f'the message must start with {SMS_HEADER!r}, '
                       f"got {first[:12]!r}", "header")
    fields = _pairs(text)
    declared = _int(fields.get("ml"), "ml", 1, 1000)
    if declared != len(text):
        raise AmlError("length_mismatch", f"ml says {declared} characters but the message has "
                       f"{len(text)} (truncated or altered on the way?)", "ml")
    method = fields.get("pm", "")
    if method not in METHODS:
        raise AmlError("bad_method", f"pm must be one of {''.join(METHODS)}, got {method!r}",
                       "pm")
    lat, lon, radius = _position(fields.get("lt"), fields.get("lg"), fields.get("rd"), method)
    confidence = _int(fields["lc"], "lc", 0, 100) if fields.get("lc") else None
    return AmlFix(
        transport="sms", method=method, lat=lat, lon=lon, radius_m=radius,
        positioned_at=_sms_time(fields.get("top"), now, timedelta(seconds=skew_s), earliest),
        confidence=confidence,
        imsi=_optional_digits(fields, "si", range(5, 16)),
        imei=_optional_digits(fields, "ei", range(14, 17)),
        mcc=_optional_digits(fields, "mcc", range(3, 4)),
        mnc=_optional_digits(fields, "mnc", range(2, 4)),
    )


def _https_time(raw: str | None, now: datetime, skew: timedelta,
                earliest: datetime = EARLIEST) -> datetime:
    if raw is None or not _DIGITS.match(raw) or len(raw) > 15:
        raise AmlError("bad_time", "location_time must be milliseconds since 1970-01-01 UTC, "
                       f"got {raw!r}", "location_time")
    millis = int(raw)
    # Compared as numbers first: a year past 9999 cannot even become a datetime.
    if millis > (now + skew).timestamp() * 1000:
        raise AmlError("time_in_future", f"location_time {millis} ms is later than now "
                       f"({now.isoformat()})", "location_time")
    at = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return _check_time(at, "location_time", now, skew, earliest)


def parse_https(form: Mapping[str, str], *, now: datetime, skew_s: float = 60.0,
                earliest: datetime = EARLIEST) -> tuple[str, AmlFix]:
    """Parse and check the HTTPS form; returns (caller number, fix)."""
    for key, value in form.items():
        _no_controls(key, "form")
        _no_controls(value, key)
    version = form.get("v")
    if version is None or not _DIGITS.match(version):
        raise AmlError("bad_header", f"v (the AML version) must be a number, got {version!r}",
                       "v")
    phone = re.sub(r"[\s\-().]", "", form.get("device_number", ""))
    if not _PHONE.match(phone):
        raise AmlError("bad_number", "device_number must be the caller's phone number",
                       "device_number")
    source = (form.get("location_source") or "unknown").lower()
    if source not in HTTPS_SOURCES:
        raise AmlError("bad_method", f"location_source {source!r} is not one of "
                       f"{sorted(HTTPS_SOURCES)}", "location_source")
    accuracy = form.get("location_accuracy", "").split(".", 1)[0]
    fix = AmlFix(
        transport="https", method=HTTPS_SOURCES[source],
        lat=_degrees(form.get("location_latitude"), "location_latitude", 90),
        lon=_degrees(form.get("location_longitude"), "location_longitude", 180),
        radius_m=float(_int(accuracy or None, "location_accuracy", 0, MAX_RADIUS_M)),
        positioned_at=_https_time(form.get("location_time"), now, timedelta(seconds=skew_s),
                                  earliest),
        confidence=(_int(form["location_confidence"], "location_confidence", 0, 100)
                    if form.get("location_confidence") else None),
        imsi=_optional_digits(form, "device_imsi", range(5, 16)),
        imei=_optional_digits(form, "device_imei", range(14, 17)),
        mcc=_optional_digits(form, "network_mcc", range(3, 4)),
        mnc=_optional_digits(form, "network_mnc", range(2, 4)),
    )
    return phone, fix
