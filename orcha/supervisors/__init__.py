"""Supervisors: nurseries with a restart policy that keep the actor tree alive."""

from orcha.supervisors.supervisor import (
    ChildSpec,
    Intensity,
    Restart,
    Supervisor,
    SupervisorGaveUp,
    SupervisorStatistics,
    compact_reason,
)

__all__ = [
    "ChildSpec",
    "Intensity",
    "Restart",
    "Supervisor",
    "SupervisorGaveUp",
    "SupervisorStatistics",
    "compact_reason",
]
