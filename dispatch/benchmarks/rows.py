"""One row of the benchmark table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str
    figure: str
    baseline: str
    target: str
    met: bool | None  # None: no target, a figure to record
