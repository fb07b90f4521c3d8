"""Every Redis key, PostgreSQL channel and advisory-lock number in one place."""

from __future__ import annotations

# PostgreSQL NOTIFY channels (sent by triggers in sql/001_core.sql).
EVENTS_CHANNEL = "siap112_events"
DISPATCH_CHANNEL = "siap112_dispatch"

# pg_try_advisory_xact_lock key held by the relay that is publishing a batch:
# several relays may run, only one publishes at a time, so order is kept.
RELAY_LOCK_KEY = 0x51A9_0001

# The Redis stream itself is named in settings (redis.stream_key) so that
# several deployments or test runs can share one Redis.
STREAM_FIELD = "event"
