"""Apply an accepted command at the door, and say what happened: a result and an event.

Every command ends in one :class:`CommandOutcome`: the :class:`CommandResult` the
node publishes on ``command_results`` (none when the refusal came before the
signature verified: then there is no command id anyone vouched for) and the
fields of one ``command`` event for the outbox, with the same words.

* ``unlock``: :meth:`DoorController.remote_unlock` for the command's seconds;
  refused ``lockdown``, ``fire`` (the egress door is already released) or ``shut_down``.
* ``relock``: :meth:`DoorController.remote_relock` ends any unlock window at once;
  refused ``fire`` (the release holds until the fire is reset) or ``shut_down``.
* ``resync``: nothing at the door; :attr:`CommandOutcome.resync` names the documents
  the link should request again.

The door calls are synchronous and quick (they run on the loop's thread, as a
grant does), so :func:`run_command` is a plain function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.mqtt.payloads import CommandResult, Relock, Resync, Unlock
from gateway.node.commands.checks import Accepted, Refused
from gateway.node.door.controller import RemoteRefusal

EVENT_KIND = "command"
ResyncTarget = Literal["status_list", "policy", "posture", "trust_anchors"]
Outcome = Literal["done", "refused", "failed"]


class RemoteDoor(Protocol):
    """What a command needs of a door: :class:`AsyncDoor` and :class:`DoorController` have it."""

    def remote_unlock(
        self, seconds: float, *, operator: str, command_id: str
    ) -> RemoteRefusal | None: ...

    def remote_relock(self, *, operator: str, command_id: str) -> RemoteRefusal | None: ...


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    result: CommandResult | None
    event: dict[str, Any]  # the fields of one event of kind EVENT_KIND
    resync: tuple[ResyncTarget, ...] = ()

    @property
    def outcome(self) -> Outcome:
        value: Outcome = self.event["outcome"]
        return value


def run_command(
    accepted: Accepted, doors: Mapping[str, RemoteDoor], *, site: str, node: str, now: dt.datetime
) -> CommandOutcome:
    command, who = accepted.command, accepted.operator_id
    do = command.do
    resync: tuple[ResyncTarget, ...] = ()
    outcome: Outcome = "done"
    reason: str | None = None
    detail: str | None = None
    try:
        if isinstance(do, Unlock | Relock):
            door = doors.get(do.door)
            if door is None:  # the gate checked the door ids; a mismatch is a wiring fault
                outcome, reason = "failed", "unknown_door"
            elif isinstance(do, Unlock):
                reason = door.remote_unlock(do.seconds, operator=who, command_id=command.id)
            else:
                reason = door.remote_relock(operator=who, command_id=command.id)
            if reason is not None and outcome == "done":
                outcome = "refused"
        elif isinstance(do, Resync):
            resync = tuple(dict.fromkeys(do.what))
    except Exception as exc:  # the relay or pins refused: say so, and never claim it was done
        outcome, reason, detail = "failed", "door_error", f"{type(exc).__name__}: {exc}"
    result = CommandResult(
        site=site, node=node, command_id=command.id, ts=now, outcome=outcome, reason=reason
    )
    event = _event(
        operator=who, action=do.action, door=getattr(do, "door", None),
        seconds=do.seconds if isinstance(do, Unlock) else None,
        what=list(resync) or None, outcome=outcome, reason=reason, detail=detail,
        command_id=command.id,
    )  # fmt: skip
    return CommandOutcome(result, event, resync)


def refused_outcome(
    refused: Refused, *, site: str, node: str, now: dt.datetime, payload_size: int | None = None
) -> CommandOutcome:
    """The result and event of a command the gate refused (no result before the signature)."""
    result = None
    if refused.command_id is not None:
        result = CommandResult(
            site=site,
            node=node,
            command_id=refused.command_id,
            ts=now,
            outcome="refused",
            reason=refused.reason,
        )
    do = None if refused.command is None else refused.command.do
    event = _event(
        operator=refused.operator_id, action=None if do is None else do.action,
        door=getattr(do, "door", None), seconds=do.seconds if isinstance(do, Unlock) else None,
        what=list(do.what) if isinstance(do, Resync) else None, outcome="refused",
        reason=refused.reason, detail=refused.detail[:256], command_id=refused.command_id,
        bytes=payload_size,
    )  # fmt: skip
    return CommandOutcome(result, event)


def _event(**fields: Any) -> dict[str, Any]:
    # Anything on a node's command topic that is not a well-formed command signed for it
    # (garbage, unsigned, retained, forged, replayed, for another site or node, beyond the
    # operator's rights) is a security signal, and so is a node that cannot record nonces.
    # Only an operator's own mistakes (late, early, too long, the wrong door) are not.
    fields["is_alarm"] = fields["outcome"] == "refused" and fields["reason"] not in _NOT_ALARMING
    return fields


_NOT_ALARMING = frozenset({"expired", "not_yet_valid", "too_long", "unknown_door"})
