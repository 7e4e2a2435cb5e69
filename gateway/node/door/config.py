"""The behaviour settings of one door. The pins and lock wiring are in :mod:`.devices`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.node.door.devices import LockType, LockWiring


@dataclass(frozen=True, slots=True)
class DoorConfig:
    """How one door behaves.

    ``mode="turnstile"`` is a speed gate or turnstile: one passage per grant,
    sensed by the passage input instead of a door contact; an unauthorised
    passage within ``tailgate_window_s`` of an authorised one is tailgating.
    A single beam cannot tell two people apart while it stays broken; two breaks
    on one grant it can.

    ``shutdown_locked`` is the state :meth:`DoorController.relock_for_shutdown`
    leaves the lock in; ``None`` means what the lock type requires: a fail-secure
    strike locked, a fail-safe maglock unlocked (it releases on power loss anyway,
    so that is the state the door will be in once the node stops).
    """

    door_id: str
    wiring: LockWiring
    unlock_time_s: float = 5.0
    held_open_limit_s: float = 30.0
    held_open_warning_s: float = 20.0
    egress: bool = True  # a fire alarm releases it
    rex_in_lockdown: bool = True  # life safety: the exit button still lets people out
    mode: Literal["door", "turnstile"] = "door"
    tailgate_window_s: float = 3.0
    shutdown_locked: bool | None = None

    def __post_init__(self) -> None:
        if not self.door_id:
            raise ValueError("door_id must not be empty")
        for name in ("unlock_time_s", "held_open_limit_s", "held_open_warning_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.held_open_warning_s >= self.held_open_limit_s:
            raise ValueError(
                f"held_open_warning_s ({self.held_open_warning_s}) must be less than "
                f"held_open_limit_s ({self.held_open_limit_s}): the warning comes first"
            )
        if self.tailgate_window_s < 0:
            raise ValueError("tailgate_window_s must not be negative")

    @property
    def shutdown_state_locked(self) -> bool:
        if self.shutdown_locked is not None:
            return self.shutdown_locked
        return self.wiring.lock_type is LockType.FAIL_SECURE
