"""Per-process token buckets: intake per token and per client address, login per address.

Each web instance keeps its own buckets, so with N instances behind a balancer a
client gets at most N times the configured rate; the limits are there to stop a
runaway script or a password-guessing loop, not to meter fairly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from dispatch.errors import DomainError
from dispatch.settings import AuthSettings

MAX_KEYS = 10_000  # beyond this, buckets that have refilled are forgotten


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


@dataclass
class _Bucket:
    tokens: float
    at: float


class Limiter:
    """``per_minute`` requests per key, with bursts up to a minute's worth; 0 = no limit."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_full(now)
            b = self._buckets[key] = _Bucket(float(self.per_minute), now)
        b.tokens = min(float(self.per_minute), b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / rate

    def _forget_full(self, now: float) -> None:
        rate = self.per_minute / 60.0
        self._buckets = {k: b for k, b in self._buckets.items()
                         if b.tokens + (now - b.at) * rate < self.per_minute}


@dataclass
class Limits:
    intake: Limiter
    login: Limiter

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> Limits:
        return cls(Limiter(auth.intake_per_minute), Limiter(auth.login_per_minute))


LIMITS = web.AppKey("rate_limits", Limits)


def check(limiter: Limiter, *keys: str) -> None:
    """Raise RateLimited when any of ``keys`` has used up its allowance."""
    for key in keys:
        wait = limiter.take(key)
        if wait > 0:
            raise RateLimited(f"too many requests; try again in {wait:.1f} s",
                              retry_after_s=round(wait, 1))
