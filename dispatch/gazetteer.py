"""Find a place the way a caller names it: desa, kelurahan, kecamatan and the centre's places.

Names and queries are folded alike (case, accents, the old spellings oe/dj/tj, the
prefixes "desa", "ds.", "kel.", "kec."); PostgreSQL's pg_trgm then scores the
folded query against each folded name, its name with its kecamatan ("Sumberjo
Kanigoro") and, for prefixes, as a word (word_similarity). The desa and kecamatan
names come from the shipped boundaries and travel as query parameters (a few
hundred short strings); the centre's places are rows of the places table.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

import asyncpg

from dispatch.core.bounds import parse_id
from dispatch.errors import Invalid
from dispatch.geodata import kecamatan_of, wilayah
from dispatch.store import places as places_sql

# Below this trigram score a name is not offered at all.
MIN_SCORE = 0.3
# The uncertainty that goes with a landmark's point: "at the market" is the market.
PLACE_RADIUS_M = 50

_PREFIX = re.compile(r"^(?:desa|ds|kelurahan|kel|kecamatan|kec|dusun|dsn)\b\.?\s*")
_OLD = (("oe", "u"), ("dj", "j"), ("tj", "c"), ("sj", "sy"))


_HINTS = {"desa": "desa", "ds": "desa", "kelurahan": "kelurahan", "kel": "kelurahan",
          "kecamatan": "kecamatan", "kec": "kecamatan"}


def kind_hint(text: str) -> str | None:
    """The kind a prefix asks for: "Kec. Kanigoro" is the kecamatan, not the kelurahan."""
    first = re.split(r"[^a-z]+", text.strip().lower(), maxsplit=1)[0]
    return _HINTS.get(first)


def fold(text: str) -> str:
    """The comparable form of a name or a query."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    words = []
    for word in text.split():
        for old, new in _OLD:
            word = word.replace(old, new)
        words.append(word)
    text = " ".join(words)
    while True:
        stripped = _PREFIX.sub("", text)
        if stripped == text:
            return text
        text = stripped


@dataclass(frozen=True)
class Entry:
    kind: str
    code: str
    name: str
    kecamatan: str | None
    lat: float
    lon: float
    radius_m: int


@cache
def entries() -> tuple[Entry, ...]:
    """Every desa, kelurahan and kecamatan of the regency and of Kota Blitar."""
    w = wilayah()
    kec_names = {r.code: r.name for r in w.kecamatan.regions}
    out = [Entry(r.kind, r.code, r.name, kec_names.get(kecamatan_of(r.code)), r.label_lat,
                 r.label_lon, r.radius_m) for r in w.desa.regions]
    out += [Entry("kecamatan", r.code, r.name, r.name, r.label_lat, r.label_lon, r.radius_m)
            for r in w.kecamatan.regions]
    return tuple(out)


@cache
def _arrays() -> tuple[list[Any], ...]:
    es = entries()
    return ([e.kind for e in es], [e.code for e in es], [e.name for e in es],
            [e.kecamatan for e in es], [e.lat for e in es], [e.lon for e in es],
            [float(e.radius_m) for e in es], [fold(e.name) for e in es],
            [fold(f"{e.name} {e.kecamatan or ''}") for e in es])


# $1 the folded query, $2 limit, $3-$11 the entry arrays of _arrays(), $12 the least
# score, $13 the radius of a place, $14 the kind a prefix asked for (scores a little more).
SEARCH_SQL = """
WITH w AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
                         $8::float8[], $9::float8[], $10::text[], $11::text[])
        AS w(kind, code, name, kecamatan, lat, lon, radius_m, folded, qualified)
), scored AS (
    SELECT kind, code, name, kecamatan, lat, lon, radius_m,
           greatest(similarity($1, folded), similarity($1, qualified),
                    0.9 * word_similarity($1, folded))
           + CASE WHEN kind = $14 THEN 0.05 ELSE 0 END AS score
    FROM w
    UNION ALL
    SELECT 'place', p.id::text, p.name, p.kecamatan, p.lat, p.lon, $13::float8,
           greatest(similarity($1, p.search_text), 0.9 * word_similarity($1, p.search_text))
    FROM places p
    WHERE p.retired_at IS NULL AND p.search_text %> $1
)
SELECT kind, code, name, kecamatan, lat, lon, radius_m, score FROM scored
WHERE score >= $12
ORDER BY score DESC, CASE kind WHEN 'place' THEN 2 WHEN 'kecamatan' THEN 1 ELSE 0 END,
         name, code
LIMIT $2
"""


async def search(conn: asyncpg.Connection, text: str, limit: int) -> list[dict[str, Any]]:
    """The best matches for what the call-taker typed, best first."""
    q = fold(text)
    if not q:
        return []
    # word_similarity's own threshold for the place index (%>): the same floor.
    await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)",
                       str(MIN_SCORE))
    rows = await conn.fetch(SEARCH_SQL, q, limit, *_arrays(), MIN_SCORE, float(PLACE_RADIUS_M),
                            kind_hint(text))
    return [{k: r[k] for k in ("kind", "code", "name", "kecamatan", "lat", "lon", "radius_m")}
            | {"radius_m": None if r["radius_m"] is None else int(r["radius_m"])}
            for r in rows]


def region_entry(code: str) -> Entry | None:
    """The desa, kelurahan or kecamatan with this Kemendagri code."""
    return next((e for e in entries() if e.code == code), None)


async def resolve(conn: asyncpg.Connection, lat: float, lon: float, source: str,
                  radius_m: float | None, code: str | None
                  ) -> tuple[float, float, str, float | None]:
    """(lat, lon, source, radius_m) of a chosen location.

    A desa or kecamatan puts the incident at its label point (the source's centroid
    when it lies inside) with the radius of a circle of its area; a place at its
    own point. Any other source keeps the position and radius it came with.
    """
    if source in ("desa", "kecamatan"):
        entry = region_entry(code or "")
        if entry is None or (entry.kind == "kecamatan") != (source == "kecamatan"):
            raise Invalid(f"no {source} with code {code!r}", field="location.code")
        return entry.lat, entry.lon, source, float(entry.radius_m)
    if source == "place":
        place_id = parse_id(code or "")
        row = None if place_id is None else await places_sql.get_place(conn, place_id)
        if row is None or row["retired_at"] is not None:
            raise Invalid(f"no place with id {code!r}", field="location.code")
        return row["lat"], row["lon"], "place", float(PLACE_RADIUS_M)
    return lat, lon, source, radius_m
