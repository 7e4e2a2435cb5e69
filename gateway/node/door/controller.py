"""The door state machine: synchronous and deterministic, driven by edges, commands and ``tick``.

It never sleeps and never reads the wall clock. Time comes from the injected
:class:`~gateway.node.door.clock.Clock`; deadlines (unlock time, held-open warning
and limit) are kept here and acted on by :meth:`DoorController.tick`, which every
edge and command also runs first, so a late tick cannot reorder what happened.
:meth:`next_deadline` tells a driver when to tick next.

Modes overlay the door's phase: a latched fire release (egress doors) beats
lockdown, which beats grants. Tamper is an alarm beside the phase.

A remote unlock (a signed operator command) opens a *window*: the door stays
released for its seconds however often it opens and closes, a door held open
inside it is no alarm until the window ends, and a grant never shortens it nor it
a grant. It is refused, like a grant, in lockdown, during a fire release and after
shutdown; lockdown and fire end it. A remote relock ends any window at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from gateway.node.door.clock import Clock
from gateway.node.door.config import DoorConfig
from gateway.node.door.devices import DoorDevices, DoorInput
from gateway.node.door.events import DoorEvent, DoorEventKind, EventSink

K = DoorEventKind


class DoorState(StrEnum):
    LOCKED = "locked"
    UNLOCKED_FOR_GRANT = "unlocked_for_grant"  # a grant or REX opened the access window
    OPEN = "open"  # authorised opening (or a turnstile passage in progress)
    HELD_OPEN = "held_open"  # alarm: open past the limit
    FORCED = "forced"  # alarm: opened with no grant and no REX (or tailgating)
    RELEASED_FIRE = "released_fire"  # latched until reset_fire()
    LOCKDOWN = "lockdown"  # locked, grants refused


_PHASES_UNLOCKED = frozenset({DoorState.UNLOCKED_FOR_GRANT, DoorState.OPEN, DoorState.HELD_OPEN})
RemoteRefusal = Literal["shut_down", "fire", "lockdown"]


@dataclass(frozen=True, slots=True)
class _RemoteWindow:
    until: float
    operator: str
    command_id: str


class DoorController:
    def __init__(
        self, config: DoorConfig, devices: DoorDevices, clock: Clock, sink: EventSink
    ) -> None:
        self.config = config
        self.devices = devices
        self.clock = clock
        self._sink = sink
        self._turnstile = config.mode == "turnstile"
        self._open_input = DoorInput.PASSAGE if self._turnstile else DoorInput.CONTACT
        if self._turnstile and not devices.has(DoorInput.PASSAGE):
            raise ValueError(f"door {config.door_id}: turnstile mode needs a passage input")
        self._phase = DoorState.LOCKED  # never RELEASED_FIRE or LOCKDOWN: those are modes
        self._credits = 0  # passages the current grants allow
        self._unlock_deadline: float | None = None
        self._warn_deadline: float | None = None
        self._held_deadline: float | None = None
        self._warning = False
        self._open_alarm = K.FORCED_ALARM
        self._last_passage_end: float | None = None
        self._fire = False
        self._lockdown = False
        self._tamper = False
        self._shut_down = False
        self._remote: _RemoteWindow | None = None
        self._seen = dict.fromkeys(DoorInput, False)
        for name in DoorInput:  # start from what the inputs show now
            if devices.read(name):
                self._edge(name, True, booting=True)
        self._apply()

    # -- what the outside sees --------------------------------------------------------
    @property
    def state(self) -> DoorState:
        if self._fire:
            return DoorState.RELEASED_FIRE
        if self._lockdown and self._phase is DoorState.LOCKED:
            return DoorState.LOCKDOWN
        return self._phase

    @property
    def tamper(self) -> bool:
        return self._tamper

    @property
    def lockdown(self) -> bool:
        return self._lockdown

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work to do, on the injected clock; None if never."""
        warn = None if self._warning else self._warn_deadline
        pending = [d for d in (self._unlock_deadline, warn, self._held_deadline) if d is not None]
        return min(pending, default=None)

    # -- commands ---------------------------------------------------------------------
    def grant(self, subject: str = "") -> bool:
        """Unlock for one entry (one passage in turnstile mode). False if refused."""
        self.tick()
        who = {"subject": subject} if subject else {}
        if self._shut_down or self._fire or self._lockdown:
            reason = "shut down" if self._shut_down else "fire" if self._fire else "lockdown"
            self._emit(K.GRANT_REFUSED, reason=reason, **who)
            return False
        self._credits = self._credits + 1 if self._turnstile else 1
        self._emit(K.GRANTED, **who)
        if self._phase in (DoorState.LOCKED, DoorState.UNLOCKED_FOR_GRANT):
            self._unlock()
        self._apply()
        return True

    def remote_unlock(
        self, seconds: float, *, operator: str, command_id: str
    ) -> RemoteRefusal | None:
        """Keep the door released for ``seconds``; None when done, else why it was refused."""
        self.tick()
        who = {"operator": operator, "command_id": command_id, "seconds": f"{seconds:g}"}
        refusal = self._remote_refusal(lockdown_refuses=True)
        if refusal is not None:
            self._emit(K.REMOTE_UNLOCK_REFUSED, reason=refusal, **who)
            return refusal
        if seconds <= 0:
            raise ValueError(f"a remote unlock needs a positive duration, got {seconds}")
        until = self.clock.now() + seconds
        self._remote = _RemoteWindow(until, operator, command_id)
        self._emit(K.REMOTE_UNLOCK, **who)
        if self._phase in (DoorState.LOCKED, DoorState.UNLOCKED_FOR_GRANT):
            self._phase = DoorState.UNLOCKED_FOR_GRANT
            self._unlock_deadline = max(until, self._unlock_deadline or until)
        elif self._phase is DoorState.OPEN:
            self._start_held_timers()  # from the window's end now
        self._apply()
        return None

    def remote_relock(self, *, operator: str, command_id: str) -> RemoteRefusal | None:
        """End any unlock window (remote or grant) at once; an open door locks when it shuts."""
        self.tick()
        who = {"operator": operator, "command_id": command_id}
        refusal = self._remote_refusal(lockdown_refuses=False)
        if refusal is not None:
            self._emit(K.REMOTE_RELOCK_REFUSED, reason=refusal, **who)
            return refusal
        self._end_remote_window()
        self._credits = 0
        self._emit(K.REMOTE_RELOCK, **who)
        if self._phase is DoorState.UNLOCKED_FOR_GRANT:
            self._relock("remote relock", **who)
        self._apply()
        return None

    def set_lockdown(self, on: bool, reason: str = "") -> None:
        self.tick()
        if on == self._lockdown or self._shut_down:
            return
        self._lockdown = on
        self._emit(K.LOCKDOWN_ON if on else K.LOCKDOWN_OFF, reason=reason)
        if on:
            self._end_remote_window()
        if on and self._phase is DoorState.UNLOCKED_FOR_GRANT:
            self._relock("lockdown")
        self._apply()

    def reset_fire(self) -> bool:
        """End a fire release. Refused while the fire input is still in alarm."""
        self.tick()
        if not self._fire:
            return True
        if self._seen[DoorInput.FIRE]:
            self._emit(K.FIRE_RESET_REFUSED, reason="fire input still in alarm")
            return False
        self._fire = False
        self._emit(K.FIRE_RESET)
        if self._seen[self._open_input]:
            self._phase = DoorState.OPEN
            self._start_held_timers()
        else:
            self._relock("fire reset")
        self._apply()
        return True

    def relock_for_shutdown(self) -> None:
        """Leave the lock as its type requires (:attr:`DoorConfig.shutdown_state_locked`)."""
        locked = self.config.shutdown_state_locked
        self._shut_down = True
        self._unlock_deadline = self._warn_deadline = self._held_deadline = None
        self.devices.set_locked(locked)
        self.devices.indicate(green=not locked, buzzer=False)
        relay_off = self.config.wiring.locked_when_relay_off()
        self._emit(
            K.SHUTDOWN,
            locked=str(locked).lower(),
            when_node_stops="locked" if relay_off else "unlocked",
        )

    # -- inputs and time --------------------------------------------------------------
    def handle_input(self, name: DoorInput, asserted: bool) -> None:
        """One edge from the devices, on whatever thread the caller runs the controller."""
        self.tick()
        self._edge(name, asserted)
        self._apply()

    def tick(self) -> None:
        """Act on every deadline that has passed."""
        if self._shut_down:
            return
        now = self.clock.now()
        changed = False
        if self._unlock_deadline is not None and now >= self._unlock_deadline:
            remote = self._remote
            if remote is not None and remote.until == self._unlock_deadline:
                self._relock(
                    "remote unlock ended", operator=remote.operator, command_id=remote.command_id
                )
            else:
                self._relock("unlock time passed")
            changed = True
        if self._remote is not None and now >= self._remote.until:
            self._remote = None
        if not self._warning and self._warn_deadline is not None and now >= self._warn_deadline:
            self._warning = True
            self._emit(K.HELD_OPEN_WARNING)
            changed = True
        if self._held_deadline is not None and now >= self._held_deadline:
            self._held_deadline = None
            self._phase = DoorState.HELD_OPEN
            self._emit(K.HELD_OPEN_ALARM, limit_s=str(self.config.held_open_limit_s))
            changed = True
        if changed:
            self._apply()

    # -- transitions --------------------------------------------------------------------
    def _edge(self, name: DoorInput, asserted: bool, *, booting: bool = False) -> None:
        if self._shut_down or self._seen[name] == asserted:
            return  # a repeated edge (contact bounce) changes nothing
        self._seen[name] = asserted
        if name is self._open_input:
            self._door_opened(booting) if asserted else self._door_closed()
        elif name is DoorInput.REX and asserted:
            self._rex()
        elif name is DoorInput.TAMPER:
            self._tamper = asserted
            if asserted:
                self._emit(K.TAMPER_ALARM)
            else:
                self._emit(K.ALARM_CLEARED, alarm=K.TAMPER_ALARM.value)
        elif name is DoorInput.FIRE:
            self._fire_input(asserted)

    def _door_opened(self, booting: bool) -> None:
        if not self._turnstile:
            self._emit(K.DOOR_OPENED)
        if self._fire:
            self._phase = DoorState.OPEN
        elif self._phase is DoorState.UNLOCKED_FOR_GRANT or booting:
            self._credits = max(0, self._credits - 1)
            self._unlock_deadline = None
            self._phase = DoorState.OPEN
            self._start_held_timers()
        elif self._phase is DoorState.LOCKED:
            now = self.clock.now()
            recent = self._last_passage_end is not None and (
                now - self._last_passage_end <= self.config.tailgate_window_s
            )
            self._open_alarm = K.TAILGATING_ALARM if self._turnstile and recent else K.FORCED_ALARM
            self._phase = DoorState.FORCED
            self._emit(self._open_alarm)

    def _door_closed(self) -> None:
        phase = self._phase
        self._stop_held_timers()
        if self._turnstile:
            if phase in _PHASES_UNLOCKED and not self._fire:
                self._last_passage_end = self.clock.now()
            self._emit(K.PASSAGE, authorised=str(phase in _PHASES_UNLOCKED).lower())
        else:
            self._emit(K.DOOR_CLOSED)
        if phase is DoorState.HELD_OPEN:
            self._emit(K.ALARM_CLEARED, alarm=K.HELD_OPEN_ALARM.value)
        elif phase is DoorState.FORCED:
            self._emit(K.ALARM_CLEARED, alarm=self._open_alarm.value)
        if self._fire:
            self._phase = DoorState.LOCKED  # the relay stays released while the fire latch holds
        elif self._remote is not None and not self._lockdown:
            self._unlock()  # the window outlasts each opening
        elif self._turnstile and self._credits > 0 and not self._lockdown:
            self._unlock()
        elif phase in _PHASES_UNLOCKED:
            self._relock("door closed" if not self._turnstile else "passage")
        else:
            self._phase = DoorState.LOCKED

    def _rex(self) -> None:
        if self._fire:
            self._emit(K.REX, result="already released")
            return
        if self._lockdown and not self.config.rex_in_lockdown:
            self._emit(K.REX_REFUSED, reason="lockdown")
            return
        self._emit(K.REX)
        if self._phase in (DoorState.LOCKED, DoorState.UNLOCKED_FOR_GRANT):
            self._credits = max(self._credits, 1)
            self._unlock()

    def _fire_input(self, asserted: bool) -> None:
        if not asserted:
            if self._fire:
                self._emit(K.FIRE_INPUT_CLEARED, note="door stays released until reset")
            return
        if not self.config.egress:
            self._emit(K.FIRE_RELEASE, released="false", reason="not an egress door")
            return
        self._fire = True
        self._credits = 0
        self._remote = None
        self._unlock_deadline = None
        self._stop_held_timers()
        if self._phase is DoorState.UNLOCKED_FOR_GRANT:
            self._phase = DoorState.LOCKED  # the window is void; reset relocks a shut door
        if self._phase in (DoorState.HELD_OPEN, DoorState.FORCED):
            held = self._phase is DoorState.HELD_OPEN
            cleared = K.HELD_OPEN_ALARM if held else self._open_alarm
            self._emit(K.ALARM_CLEARED, alarm=cleared.value)
            self._phase = DoorState.OPEN
        self._emit(K.FIRE_RELEASE, released="true")

    def _unlock(self) -> None:
        self._phase = DoorState.UNLOCKED_FOR_GRANT
        deadline = self.clock.now() + self.config.unlock_time_s
        remote = self._remote
        self._unlock_deadline = deadline if remote is None else max(deadline, remote.until)

    def _relock(self, reason: str, **detail: str) -> None:
        self._phase = DoorState.LOCKED
        self._credits = 0
        self._unlock_deadline = None
        self._emit(K.RELOCKED, reason=reason, **detail)

    def _remote_refusal(self, *, lockdown_refuses: bool) -> RemoteRefusal | None:
        if self._shut_down:
            return "shut_down"
        if self._fire:
            return "fire"  # the latched release holds until reset_fire()
        if self._lockdown and lockdown_refuses:
            return "lockdown"
        return None

    def _end_remote_window(self) -> None:
        """Drop the window; a door held open inside it is timed from now, not from its end."""
        if self._remote is None:
            return
        self._remote = None
        if self._phase is DoorState.OPEN:
            self._start_held_timers()

    def _start_held_timers(self) -> None:
        # Inside a remote window an open door is expected: its timers run from the window's end.
        now = self.clock.now()
        start = now if self._remote is None else max(now, self._remote.until)
        self._warn_deadline = start + self.config.held_open_warning_s
        self._held_deadline = start + self.config.held_open_limit_s
        self._warning = False

    def _stop_held_timers(self) -> None:
        self._warn_deadline = self._held_deadline = None
        self._warning = False

    def _apply(self) -> None:
        """Drive relay, LEDs and buzzer from the state. Safe to call any number of times."""
        if self._shut_down:
            return
        released = self._fire or self._phase in _PHASES_UNLOCKED
        self.devices.set_locked(not released)
        alarm = (
            self._warning or self._tamper or self._phase in (DoorState.HELD_OPEN, DoorState.FORCED)
        )
        self.devices.indicate(green=released, buzzer=alarm)

    def _emit(self, kind: DoorEventKind, **detail: str) -> None:
        event = DoorEvent(kind, self.config.door_id, self.clock.now(), MappingProxyType(detail))
        self._sink(event)
