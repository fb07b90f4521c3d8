"""Run cards (category -> unit types), labels, dispositions and response-time targets."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERVALS = ("call_processing", "turnout", "travel", "total")


@dataclass(frozen=True)
class Label:
    id: str
    en: str


@dataclass(frozen=True)
class Category:
    code: str
    label: Label
    units: tuple[str, ...]


@dataclass(frozen=True)
class RunCards:
    unit_types: Mapping[str, Label]
    categories: Mapping[str, Category]
    dispositions: Mapping[str, Label]

    def category_codes(self) -> tuple[str, ...]:
        return tuple(self.categories)

    def required_types(self, category: str) -> tuple[str, ...]:
        """The unit types an incident of this category needs, in dispatch order."""
        return self.categories[category].units


class RunCardError(ValueError):
    """The run card file is inconsistent."""


def _label(raw: Mapping[str, Any], where: str) -> Label:
    try:
        return Label(id=str(raw["label_id"]), en=str(raw["label_en"]))
    except KeyError as exc:
        raise RunCardError(f"{where}: missing {exc.args[0]}") from exc


def load_runcards(path: Path) -> RunCards:
    """Load and check a run card file: every category names only known unit types."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    unit_types = {code: _label(v, f"unit_types.{code}") for code, v in raw["unit_types"].items()}
    categories: dict[str, Category] = {}
    for code, v in raw["categories"].items():
        units = tuple(v.get("units", ()))
        unknown = [u for u in units if u not in unit_types]
        if not units or unknown:
            raise RunCardError(f"categories.{code}: units must be known unit types, got {units}")
        categories[code] = Category(code=code, label=_label(v, f"categories.{code}"), units=units)
    dispositions = {
        code: _label(v, f"dispositions.{code}") for code, v in raw.get("dispositions", {}).items()
    }
    return RunCards(unit_types=unit_types, categories=categories, dispositions=dispositions)


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
