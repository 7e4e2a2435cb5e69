"""The gate node's loop: a tap, its read, the verifier, the policy, the door; each one a log line.

``next_tap`` → :func:`read_tap` → :meth:`Verifier.verify` (through the tap's
:func:`~gateway.node.readers.tap.decide`) → policy :func:`decide` →
:meth:`AsyncDoor.grant` when granted. Every step ends in one structured event,
logged through structlog (one JSON line with :func:`configure_logging`) and
handed to any listener (tests, later the MQTT outbox):

``tap``       what answered and how the read went (``reason`` on a read failure)
``decision``  ``granted``, the ``stage`` that decided (``read``, ``credential``, ``policy``),
              the verifier's ``reason`` and the policy ``rule`` with its detail
``door``      every :class:`DoorEvent`: ``door_event`` names its kind, ``is_alarm`` flags alarms
``node``      ``started``, ``stopping``, ``stopped``
``passage``   a granted person went through (anti-passback state updated)

A card left on the reader is not read again until it has been away for
:data:`RETAP_HOLDOFF_S` (a ``tap`` line with ``read="repeat"`` at DEBUG).

Anti-passback: a policy grant is held as *pending* until the door senses the
passage (the contact opening while the grant's window is open, or an
authorised passage on a speed gate); only then does :class:`GateState` record
the person in (or out of) the zone. A window that lapses drops what was pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.decision import Decision
from gateway.credentials.verifier import Verifier
from gateway.node.door import (
    AsyncDoor,
    DoorController,
    DoorDevices,
    DoorEvent,
    DoorEventKind,
    DoorState,
)
from gateway.node.policy import (
    AccessRequest,
    CompiledPolicy,
    GateState,
    LoadedPolicy,
    PolicyDecision,
    decide,
)
from gateway.node.readers.failure import ReadFailure
from gateway.node.readers.tap import Phase, TapOutcome, read_tap
from gateway.node.readers.tap import decide as verify_tap
from gateway.node.sync.freshness import StalenessVerdict, apply_staleness

log = structlog.get_logger("gateway.node")
Listener = Callable[[dict[str, Any]], None]
WallClock = Callable[[], dt.datetime]
RETRY_AFTER_READER_ERROR_S = 0.5
# A card or phone left on the reader is activated again at once; the same UID is not read
# again until it has been out of the field this long. A phone that changes its random UID at
# each activation is read again (and granted again: the door just stays open).
RETAP_HOLDOFF_S = 1.0


# A relock for any other reason (time passed, a remote relock, lockdown) ends a grant's window
# with nobody through: what was pending lapses.
_RELOCK_AFTER_PASSAGE = frozenset({"door closed", "passage"})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TapSource(Protocol):
    """A reader backend: the NFC reader (:class:`NfcReader`) or the in-memory one."""

    device: str
    poll_interval: float

    async def next_tap(self) -> Any: ...

    async def close(self) -> None: ...


@dataclass
class NodeParts:
    """Everything the loop drives, built from a config (:mod:`.build`) or by a test."""

    door_id: str
    reader_id: str
    reader: TapSource
    verifier: Verifier
    policy: CompiledPolicy
    controller_factory: Callable[[Callable[[DoorEvent], None]], DoorController]
    devices: DoorDevices
    pin_factory: Any
    policy_version: int = 0
    loaded_policy: LoadedPolicy | None = None  # what the sync layer versions against
    policy_key: ec.EllipticCurvePublicKey | None = None  # the site's policy signer
    node_id: str = ""


class GateNode:
    def __init__(
        self,
        parts: NodeParts,
        *,
        now: WallClock = utc_now,
        listeners: tuple[Listener, ...] = (),
        retap_holdoff_s: float = RETAP_HOLDOFF_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.parts = parts
        self.now = now
        self.retap_holdoff_s = retap_holdoff_s
        self.monotonic = monotonic
        self._last_uid = b""
        self._last_at = 0.0
        self.listeners = list(listeners)
        self.state = GateState()
        self._pending: deque[PolicyDecision] = deque()
        self._door: AsyncDoor | None = None
        self._controller: DoorController | None = None
        self._closed = False
        self._stale = False
        # Until the reader fails, it is taken as ready: a gate may wait hours for its first tap.
        self._reader_state: tuple[str, str | None] = ("ready", None)

    @property
    def controller(self) -> DoorController | None:
        return self._controller

    @property
    def door(self) -> AsyncDoor | None:
        """The door on the event loop, once :meth:`start` ran."""
        return self._door

    def reader_health(self) -> tuple[str, str | None]:
        """``ready``, ``starting`` or ``error`` with the last error, for the heartbeat."""
        return self._reader_state

    # -- events -------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """Log one event (WARNING when it is an alarm, else INFO) and hand it to the listeners."""
        self.emit_at(logging.WARNING if fields.get("is_alarm") else logging.INFO, event, fields)

    def emit_at(self, level: int, event: str, fields: dict[str, Any]) -> None:
        record = {"event": event, **fields}
        log.log(level, event, **fields)
        for listener in self.listeners:
            listener(record)

    def _door_event(self, event: DoorEvent) -> None:
        self.emit(
            "door",
            door_event=event.kind.value,
            door=event.door_id,
            is_alarm=event.is_alarm,
            **dict(event.detail),  # alarm_cleared's "alarm" names the alarm it clears
        )
        self._track_passage(event)

    def _track_passage(self, event: DoorEvent) -> None:
        """Anti-passback: record a pending grant once its passage is sensed."""
        controller = self._controller
        if not self._pending or controller is None:
            return
        kind = event.kind
        passed = (kind is DoorEventKind.PASSAGE and event.detail.get("authorised") == "true") or (
            kind is DoorEventKind.DOOR_OPENED
            and controller.state is DoorState.UNLOCKED_FOR_GRANT  # emitted before it moves
        )
        if passed:
            decision = self._pending.popleft()
            self.state = self.state.after(decision, self.parts.policy)
            self.emit("passage", holder_id=decision.holder_id, zone=decision.zone)
        elif (
            kind is DoorEventKind.RELOCKED
            and event.detail.get("reason") not in _RELOCK_AFTER_PASSAGE
        ):
            lapsed = [d.holder_id for d in self._pending]
            self._pending.clear()
            self.emit("grant_lapsed", holder_ids=lapsed, note="no passage sensed")

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._controller = self.parts.controller_factory(self._door_event)
        self._door = await AsyncDoor.start(self._controller)
        self.emit(
            "node",
            phase="started",
            door=self.parts.door_id,
            reader=self.parts.reader.device,
            policy_version=self.parts.policy_version,
            lock=self._controller.config.wiring.describe(),
        )

    async def run(self) -> None:
        """Serve taps until cancelled. Call :meth:`start` first, :meth:`close` after."""
        while True:
            try:
                link = await self.parts.reader.next_tap()
            except ReadFailure as failure:
                self._reader_state = ("ready", None)  # the reader works; the tap failed
                self.emit("tap", read="failed", reason=failure.reason.value, detail=failure.detail)
                continue
            except Exception as exc:  # the reader device itself: absent, unplugged, refused
                detail = f"{type(exc).__name__}: {exc}"
                self._reader_state = ("error", detail)
                self.emit("tap", read="reader_error", detail=detail)
                await asyncio.sleep(RETRY_AFTER_READER_ERROR_S)
                continue
            self._reader_state = ("ready", None)
            if self._repeat(link.uid):
                await link.close()
                self.emit_at(logging.DEBUG, "tap", {"read": "repeat", "uid": link.uid.hex()})
                await asyncio.sleep(self.parts.reader.poll_interval)
                continue
            await self.handle_link(link)
            self._last_uid, self._last_at = link.uid, self.monotonic()

    def _repeat(self, uid: bytes) -> bool:
        """The same card still in the field: each sighting extends the hold-off."""
        now = self.monotonic()
        if uid != self._last_uid or now - self._last_at >= self.retap_holdoff_s:
            return False
        self._last_at = now
        return True

    async def handle_link(self, link: Any) -> PolicyDecision | None:
        now = self.now()
        async with link:
            result = await read_tap(link, reader_id=self.parts.reader_id, now=now)
        outcome = await verify_tap(result, self.parts.verifier, now)
        self._log_tap(outcome, result.uid)
        return self.judge(outcome, now)

    def judge(self, outcome: TapOutcome, now: dt.datetime) -> PolicyDecision | None:
        """The policy's word on a verified (or refused) credential, and the door's action."""
        if outcome.decision is None:
            failure = outcome.failure
            self.emit(
                "decision",
                granted=False,
                stage="read",
                reason=None if failure is None else failure.reason.value,
                detail=None if failure is None else failure.detail,
                door=self.parts.door_id,
            )
            return None
        freshness = self._freshness(outcome.decision, now)
        verdict = freshness.decision
        request = AccessRequest.from_verdict(verdict, self.parts.door_id)
        decision = decide(request, self.parts.policy, self.state, now)
        # The relay first: the person at the door must not wait on the log.
        door = self._door
        if decision.granted and door is not None and door.grant(decision.holder_id or ""):
            self._pending.append(decision)
        self.emit(
            "decision",
            granted=decision.granted,
            stage="policy" if verdict.granted else "credential",
            reason=None if verdict.reason is None else verdict.reason.value,
            credential_detail=verdict.detail or None,
            rule=decision.rule,
            detail=decision.detail,
            alarms=list(decision.alarms),
            is_alarm=bool(decision.alarms),
            holder_id=decision.holder_id,
            credential_serial=request.credential_serial,
            organization_code=request.organization_code,
            door=decision.door or self.parts.door_id,
            zone=decision.zone,
            direction=None if decision.direction is None else decision.direction.value,
            posture=decision.posture.value,
            degraded=freshness.degraded or None,
            status_age_s=None if freshness.status_age_s is None else round(freshness.status_age_s),
        )
        return decision

    def _freshness(self, verdict: Decision, now: dt.datetime) -> StalenessVerdict:
        """This zone's limit on the status list's age, and one alarm when it is crossed."""
        policy = self.parts.policy
        door = policy.document.doors.get(self.parts.door_id)
        staleness = policy.document.staleness_for(door.zone if door else "")
        freshness = apply_staleness(verdict, self.parts.verifier.status, staleness, now)
        if freshness.status_age_s is not None and freshness.stale != self._stale:
            self._stale = freshness.stale
            self.emit(
                "stale_status" if freshness.stale else "stale_status_cleared",
                is_alarm=freshness.stale,
                status_uri=verdict.status_uri,
                status_age_s=round(freshness.status_age_s),
                max_age_s=staleness.max_age_s,
                on_stale=staleness.on_stale,
            )
        return freshness

    def _log_tap(self, outcome: TapOutcome, uid: bytes) -> None:
        verification = outcome.phases.get(Phase.VERIFICATION)
        read_ms = sum(
            cost.wall_s for phase, cost in outcome.phases.items() if phase is not Phase.VERIFICATION
        )
        self.emit(
            "tap",
            read="failed" if outcome.failure else "ok",
            kind=None if outcome.kind is None else outcome.kind.value,
            uid=uid.hex(),
            reason=None if outcome.failure is None else outcome.failure.reason.value,
            detail=None if outcome.failure is None else outcome.failure.detail,
            read_ms=round(read_ms * 1e3, 1),
            verify_ms=None if verification is None else round(verification.wall_s * 1e3, 3),
        )

    async def close(self, reason: str = "stop") -> None:
        """Relock as the lock type requires, close the reader and the pins. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.emit("node", phase="stopping", reason=reason)
        if self._door is not None:
            self._door.close()  # relock_for_shutdown: its own `door` line says how
        elif self._controller is not None:
            self._controller.relock_for_shutdown()
        try:
            await self.parts.reader.close()
        finally:
            self.parts.devices.close()
            with contextlib.suppress(Exception):
                self.parts.pin_factory.close()
        self.emit("node", phase="stopped")
        for handler in logging.getLogger().handlers:
            handler.flush()
