"""Which alerts should be open now: pure rules over the watched units and incidents.

Four conditions (thresholds from ``[alerts]``, dispatch/settings.AlertsSettings):

- ``unit_unacknowledged``: a unit dispatched and not acknowledged within its
  threshold (per unit type and priority);
- ``p1_no_en_route``: a priority-1 incident with no unit ever en route that long
  after its call was received;
- ``queued_too_long``: an incident waiting for a unit (pending or queued) that long,
  counted from its call or from when its last unit left it;
- ``on_scene_too_long``: a unit on scene longer than its unit type's minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

KINDS = ("unit_unacknowledged", "p1_no_en_route", "queued_too_long", "on_scene_too_long")
AlertKey = tuple[str, int, int | None]  # (kind, incident id, unit id)


class Thresholds(Protocol):
    @property
    def p1_no_en_route_s(self) -> float: ...

    @property
    def queued_s(self) -> float: ...

    def unacknowledged_for(self, unit_type: str, priority: int) -> float: ...

    def on_scene_for(self, unit_type: str) -> float: ...


@dataclass(frozen=True)
class Due:
    """An alert that should be open: its key, since when, and the threshold passed."""

    kind: str
    incident_id: int
    unit_id: int | None
    callsign: str | None
    since: datetime
    threshold_s: float

    @property
    def key(self) -> AlertKey:
        return self.kind, self.incident_id, self.unit_id


def _over(now: datetime, since: datetime, threshold_s: float) -> bool:
    return (now - since).total_seconds() >= threshold_s


def due_alerts(now: datetime, units: Iterable[Mapping[str, Any]],
               incidents: Iterable[Mapping[str, Any]], cfg: Thresholds) -> dict[AlertKey, Due]:
    """Every alert whose condition holds at ``now``, by key."""
    out: list[Due] = []
    for u in units:
        if u["status"] == "dispatched":
            limit = cfg.unacknowledged_for(u["unit_type"], u["priority"])
            if _over(now, u["dispatched_at"], limit):
                out.append(Due("unit_unacknowledged", u["incident_id"], u["unit_id"],
                               u["callsign"], u["dispatched_at"], limit))
        elif u["status"] == "on_scene" and u["on_scene_at"] is not None:
            limit = cfg.on_scene_for(u["unit_type"])
            if _over(now, u["on_scene_at"], limit):
                out.append(Due("on_scene_too_long", u["incident_id"], u["unit_id"],
                               u["callsign"], u["on_scene_at"], limit))
    for i in incidents:
        if i["priority"] == 1 and not i["en_route"] and _over(now, i["received_at"],
                                                               cfg.p1_no_en_route_s):
            out.append(Due("p1_no_en_route", i["id"], None, None, i["received_at"],
                           cfg.p1_no_en_route_s))
        if i["status"] in {"pending", "queued"}:
            since = max(i["received_at"], i["last_ended"] or i["received_at"])
            if _over(now, since, cfg.queued_s):
                out.append(Due("queued_too_long", i["id"], None, None, since, cfg.queued_s))
    return {d.key: d for d in out}
