"""The bounds every value from outside must keep: times, ids and text.

Pure functions, no I/O. The web layer's request types (dispatch/web/types.py),
the AML parser and the CLI all check with these, so a time of year 1, an id
written with superscript digits or an address of NUL bytes is refused where it
enters, with a message naming the problem, and never reaches SQL.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# PostgreSQL bigint: every id column and every integer a query compares with one.
INT64_MAX = 2**63 - 1
# The database refuses stored times outside this range too (sql/008_bounds.sql).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_ASCII_ID = re.compile(r"[0-9]{1,19}", re.ASCII)
# RFC 3339: a full date, a time, and an offset (or Z); at most microseconds.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})", re.ASCII)
# Characters that render as nothing: text made only of these (and spaces) is empty.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_STRIP = INVISIBLE + " \t\n\r\x0b\x0c\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" \
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\x1c\x1d\x1e\x1f\x85"
FREE_TEXT_CONTROLS = frozenset("\n\t")


@dataclass(frozen=True)
class TimeBounds:
    """The window an input time must fall in (settings section ``[bounds]``)."""

    earliest: datetime = EARLIEST
    # An event (a call, a position fix) cannot be later than now by more than this.
    # A period asked for (from/to of a report) may reach up to LATEST: "until 2100"
    # is a fair way to say "everything".
    future_skew_s: float = 60.0

    def event_latest(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.future_skew_s)


DEFAULT_BOUNDS = TimeBounds()


def parse_instant(raw: str) -> datetime:
    """An RFC 3339 date-time with its offset, e.g. 2026-12-02T10:00:00+07:00.

    A time without an offset is refused: the centre's clock (WIB) and the
    telephony's (often UTC) differ by seven hours, so a guess would be wrong.
    """
    if not _RFC3339.fullmatch(raw):
        raise ValueError("must be an RFC 3339 date-time with a timezone, "
                         "e.g. 2026-12-02T10:00:00+07:00 or 2026-12-02T03:00:00Z")
    text = raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a real date and time") from None


def check_instant(at: datetime, earliest: datetime, latest: datetime) -> datetime:
    """``at`` itself if it has a timezone and lies in [earliest, latest]."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("must have a timezone (an offset such as +07:00, or Z)")
    try:
        inside = earliest <= at <= latest
    except OverflowError:  # an offset pushing year 1 or 9999 past what Python can hold
        inside = False
    if not inside:
        raise ValueError(f"must lie between {earliest.isoformat()} and {latest.isoformat()}")
    return at


def parse_id(raw: str) -> int | None:
    """A database id written in ASCII digits, 1…2^63-1; None for anything else.

    ``str.isdigit`` is not enough: '²' and '①' are digits to it and crash ``int``.
    """
    if not _ASCII_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= INT64_MAX else None


def strict_int(raw: str) -> int:
    """An integer query value: an optional minus sign and ASCII digits only."""
    if not re.fullmatch(r"-?[0-9]{1,19}", raw, re.ASCII):
        raise ValueError("must be a whole number written with the digits 0-9")
    return int(raw)


def forbidden_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control character (or unpaired surrogate) in ``text`` not in ``allowed``."""
    for ch in text:
        if ch in allowed:
            continue
        if unicodedata.category(ch) in {"Cc", "Cs"}:
            return ch
    return None


def clean_text(text: str, *, multiline: bool = False) -> str:
    """``text`` without leading and trailing blanks, invisible characters included;
    ValueError when it holds a control character (newline and tab only in free text)."""
    bad = forbidden_character(text, FREE_TEXT_CONTROLS if multiline else frozenset())
    if bad is not None:
        where = "" if multiline else " (newline and tab only in free text)"
        raise ValueError(f"must not contain control character U+{ord(bad):04X}{where}")
    return text.strip(_STRIP)


def printable(raw: str) -> str:
    """``raw`` with every control character except newline and tab written as \\uXXXX,
    so a refused message can still be kept for audit (PostgreSQL text cannot hold NUL)."""
    if forbidden_character(raw, FREE_TEXT_CONTROLS) is None:
        return raw
    return "".join(
        f"\\u{ord(ch):04x}" if ch not in FREE_TEXT_CONTROLS
        and unicodedata.category(ch) in {"Cc", "Cs"} else ch for ch in raw)
