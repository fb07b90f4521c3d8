"""The unit status state machine.

dispatched -> acknowledged -> en_route -> on_scene -> (transporting -> at_hospital) -> available,
plus out_of_service. ``dispatched`` is entered only through an assignment.
"""

from __future__ import annotations

from enum import StrEnum


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"


S = UnitStatus

# A responder may skip the acknowledgement and go straight en route; a unit that
# breaks down may go out of service from any state (its incident is re-queued).
TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.AVAILABLE: frozenset({S.OUT_OF_SERVICE}),
    S.DISPATCHED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.OUT_OF_SERVICE}),
    S.ACKNOWLEDGED: frozenset({S.EN_ROUTE, S.OUT_OF_SERVICE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.OUT_OF_SERVICE}),
    S.ON_SCENE: frozenset({S.TRANSPORTING, S.AVAILABLE, S.OUT_OF_SERVICE}),
    S.TRANSPORTING: frozenset({S.AT_HOSPITAL, S.OUT_OF_SERVICE}),
    S.AT_HOSPITAL: frozenset({S.AVAILABLE, S.OUT_OF_SERVICE}),
    S.OUT_OF_SERVICE: frozenset({S.AVAILABLE}),
}

# Statuses in which a unit is working an incident (it has an open assignment).
ASSIGNED = frozenset({S.DISPATCHED, S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING,
                      S.AT_HOSPITAL})

# The assignment column stamped when a unit enters each status.
STAMP_COLUMN: dict[UnitStatus, str] = {
    S.ACKNOWLEDGED: "acknowledged_at",
    S.EN_ROUTE: "en_route_at",
    S.ON_SCENE: "on_scene_at",
    S.TRANSPORTING: "transporting_at",
    S.AT_HOSPITAL: "at_hospital_at",
}


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow; carries the allowed ones."""

    def __init__(self, current: UnitStatus, requested: UnitStatus) -> None:
        self.current = current
        self.requested = requested
        self.allowed = sorted(allowed_next(current))
        super().__init__(
            f"unit is {current.value}; cannot go to {requested.value}; "
            f"allowed: {', '.join(self.allowed) or 'none'}"
        )


def allowed_next(current: UnitStatus) -> frozenset[UnitStatus]:
    return TRANSITIONS[current]


def check_transition(current: UnitStatus, requested: UnitStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> requested`` is allowed."""
    if requested not in TRANSITIONS[current]:
        raise IllegalTransition(current, requested)


def ends_assignment(current: UnitStatus, requested: UnitStatus) -> str | None:
    """The reason an open assignment ends with this transition, or None if it stays open."""
    if current not in ASSIGNED:
        return None
    if requested is S.AVAILABLE:
        return "cleared"
    if requested is S.OUT_OF_SERVICE:
        # Once on scene the unit has done its part; before that the need is re-opened.
        return "cleared" if current not in {S.DISPATCHED, S.ACKNOWLEDGED, S.EN_ROUTE} \
            else "unit_out_of_service"
    return None
