"""Run cards (category and priority -> unit types), agencies, labels, dispositions, targets."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTERVALS = ("call_processing", "turnout", "travel", "total")


@dataclass(frozen=True)
class Label:
    id: str
    en: str


PRIORITIES = (1, 2, 3)


@dataclass(frozen=True)
class Category:
    code: str
    label: Label
    units: tuple[str, ...]
    # Priority -> unit types, where a priority needs another card than ``units``.
    by_priority: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    # CAP 1.2 <category> for public alerts (Geo, Met, Safety, Security, Rescue,
    # Fire, Health, Env, Transport, Infra, CBRNE, Other).
    cap_category: str = "Other"

    def units_for(self, priority: int | None) -> tuple[str, ...]:
        if priority is None:
            return self.units
        return self.by_priority.get(priority, self.units)


@dataclass(frozen=True)
class Agency:
    """A responding organisation and the unit types it fields."""

    code: str
    label: Label
    unit_types: tuple[str, ...]


@dataclass(frozen=True)
class RunCards:
    unit_types: Mapping[str, Label]
    categories: Mapping[str, Category]
    dispositions: Mapping[str, Label]
    agencies: Mapping[str, Agency] = field(default_factory=dict)
    # Groups of categories that may describe one event (for duplicate offers).
    duplicate_groups: tuple[tuple[str, ...], ...] = ()

    def category_codes(self) -> tuple[str, ...]:
        return tuple(self.categories)

    def required_types(self, category: str, priority: int | None = None) -> tuple[str, ...]:
        """The unit types an incident of this category (and priority) needs, in dispatch
        order; without a priority, the category's base card."""
        return self.categories[category].units_for(priority)

    def agencies_for(self, unit_type: str) -> tuple[str, ...]:
        """Codes of the agencies that field this unit type."""
        return tuple(a.code for a in self.agencies.values() if unit_type in a.unit_types)


class RunCardError(ValueError):
    """The run card file is inconsistent."""


def _label(raw: Mapping[str, Any], where: str) -> Label:
    try:
        return Label(id=str(raw["label_id"]), en=str(raw["label_en"]))
    except KeyError as exc:
        raise RunCardError(f"{where}: missing {exc.args[0]}") from exc


CAP_CATEGORIES = frozenset({"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health",
                            "Env", "Transport", "Infra", "CBRNE", "Other"})


def _units(raw: Any, known: Mapping[str, Label], where: str) -> tuple[str, ...]:
    units = tuple(raw or ())
    unknown = [u for u in units if u not in known]
    if not units or unknown:
        raise RunCardError(f"{where}: units must be known unit types, got {units}")
    return units


def _category(code: str, v: Mapping[str, Any], unit_types: Mapping[str, Label]) -> Category:
    where = f"categories.{code}"
    by_priority: dict[int, tuple[str, ...]] = {}
    for key, units in v.get("units_by_priority", {}).items():
        if not str(key).isdigit() or int(key) not in PRIORITIES:
            raise RunCardError(f"{where}.units_by_priority: priority must be 1, 2 or 3, "
                               f"got {key!r}")
        by_priority[int(key)] = _units(units, unit_types, f"{where}.units_by_priority.{key}")
    cap = str(v.get("cap_category", "Other"))
    if cap not in CAP_CATEGORIES:
        raise RunCardError(f"{where}.cap_category {cap!r} is not a CAP 1.2 category")
    return Category(code=code, label=_label(v, where),
                    units=_units(v.get("units"), unit_types, where),
                    by_priority=by_priority, cap_category=cap)


def _agencies(raw: Mapping[str, Any], unit_types: Mapping[str, Label]) -> dict[str, Agency]:
    out = {}
    for code, v in raw.items():
        out[code] = Agency(code=code, label=_label(v, f"agencies.{code}"),
                           unit_types=_units(v.get("unit_types"), unit_types,
                                             f"agencies.{code}"))
    return out


def load_runcards(path: Path) -> RunCards:
    """Load and check a run card file: every card and agency names only known unit types,
    every duplicate group only known categories."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    unit_types = {code: _label(v, f"unit_types.{code}") for code, v in raw["unit_types"].items()}
    categories = {code: _category(code, v, unit_types) for code, v in raw["categories"].items()}
    dispositions = {
        code: _label(v, f"dispositions.{code}") for code, v in raw.get("dispositions", {}).items()
    }
    groups = tuple(tuple(g) for g in raw.get("duplicates", {}).get("groups", ()))
    unknown = sorted({c for g in groups for c in g} - set(categories))
    if unknown:
        raise RunCardError(f"duplicates.groups name unknown categories: {unknown}")
    return RunCards(unit_types=unit_types, categories=categories, dispositions=dispositions,
                    agencies=_agencies(raw.get("agencies", {}), unit_types),
                    duplicate_groups=groups)


@dataclass(frozen=True)
class TargetTable:
    """Target seconds per (category, interval)."""

    by_category: Mapping[str, Mapping[str, float]]

    def target(self, category: str, interval: str) -> float:
        return self.by_category[category][interval]

    def rows(self) -> list[tuple[str, str, float]]:
        """Flattened (category, interval, seconds), the shape the stats query joins on."""
        return [
            (cat, interval, secs)
            for cat, per in self.by_category.items()
            for interval, secs in per.items()
        ]


def load_targets(raw: Mapping[str, Mapping[str, Any]], categories: Iterable[str]) -> TargetTable:
    """Resolve per-category targets over ``[targets.default]``."""
    default = raw.get("default", {})
    missing = [i for i in INTERVALS if i not in default]
    if missing:
        raise RunCardError(f"targets.default lacks {missing}")
    cats = list(categories)
    unknown = set(raw) - {"default"} - set(cats)
    if unknown:
        raise RunCardError(f"targets name unknown categories: {sorted(unknown)}")
    table = {}
    for cat in cats:
        merged = {i: float(default[i]) for i in INTERVALS}
        merged.update({i: float(s) for i, s in raw.get(cat, {}).items() if i in INTERVALS})
        table[cat] = merged
    return TargetTable(by_category=table)
