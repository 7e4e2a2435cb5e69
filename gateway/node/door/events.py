"""What the door controller tells the rest of the node: one small typed record per event.

The node wires the sink to the outbox later; tests collect the records in a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class DoorEventKind(StrEnum):
    """Every event the door controller emits. Alarms are the ``*_alarm`` kinds."""

    GRANTED = "granted"  # a grant unlocked the door
    GRANT_REFUSED = "grant_refused"  # lockdown, fire or a held alarm refused a grant
    REX = "rex"  # the exit button released the door
    REX_REFUSED = "rex_refused"  # lockdown on a door configured to ignore REX
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    RELOCKED = "relocked"
    PASSAGE = "passage"  # turnstile/speed gate: one person went through
    HELD_OPEN_WARNING = "held_open_warning"  # the pre-alarm buzzer started
    HELD_OPEN_ALARM = "held_open_alarm"
    FORCED_ALARM = "forced_alarm"
    TAMPER_ALARM = "tamper_alarm"
    TAILGATING_ALARM = "tailgating_alarm"
    ALARM_CLEARED = "alarm_cleared"  # detail["alarm"] names which
    FIRE_RELEASE = "fire_release"
    FIRE_INPUT_CLEARED = "fire_input_cleared"  # the door stays released until reset
    FIRE_RESET = "fire_reset"
    FIRE_RESET_REFUSED = "fire_reset_refused"
    LOCKDOWN_ON = "lockdown_on"
    LOCKDOWN_OFF = "lockdown_off"
    SHUTDOWN = "shutdown"
    # Signed operator commands (gateway.node.commands); detail names operator and command_id.
    REMOTE_UNLOCK = "remote_unlock"  # unlocked for detail["seconds"]
    REMOTE_UNLOCK_REFUSED = "remote_unlock_refused"  # fire, lockdown or shut down
    REMOTE_RELOCK = "remote_relock"  # any unlock window ended at once
    REMOTE_RELOCK_REFUSED = "remote_relock_refused"  # the fire release holds the door


ALARMS = frozenset(
    {
        DoorEventKind.HELD_OPEN_ALARM,
        DoorEventKind.FORCED_ALARM,
        DoorEventKind.TAMPER_ALARM,
        DoorEventKind.TAILGATING_ALARM,
    }
)


@dataclass(frozen=True, slots=True)
class DoorEvent:
    """One thing that happened at a door: ``at`` is the injected clock's monotonic seconds."""

    kind: DoorEventKind
    door_id: str
    at: float
    detail: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_alarm(self) -> bool:
        return self.kind in ALARMS


EventSink = Callable[[DoorEvent], None]
