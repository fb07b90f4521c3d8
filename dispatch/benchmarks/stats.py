"""Small statistics helpers for the benchmark figures."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """Continuous percentile (linear interpolation), as PostgreSQL's percentile_cont."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def p50_p99_ms(seconds: Sequence[float]) -> str:
    """``"p50 1.2 ms, p99 3.4 ms"`` from durations in seconds."""
    return (f"p50 {percentile(seconds, 0.5) * 1e3:.2f} ms, "
            f"p99 {percentile(seconds, 0.99) * 1e3:.2f} ms")
