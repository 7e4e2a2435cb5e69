"""Whether a signed operator command may act here and now: every check, in a fixed order.

:meth:`CommandGate.check` turns the bytes of one MQTT message into
:class:`Accepted` or :class:`Refused` with a stable reason word (docs/commands.md):

1. ``retained``: a retained message is never acted on, however well signed;
2. ``malformed`` ``wrong_type`` ``unknown_signer`` ``bad_signature`` ``invalid``: the
   COSE_Sign1 envelope (:func:`gateway.mqtt.signed.open_message`); the kid is an
   operator id, its key the one in the policy in force *at this check*;
3. ``wrong_site``, ``wrong_node``;
4. ``not_yet_valid`` (issued more than ``skew_s`` ahead of the node's clock),
   ``expired``, ``too_long`` (a lifetime over ``max_lifetime_s``, which bounds the
   replay memory; an expiry not after the issue time is ``invalid``);
5. ``not_allowed`` (the action is not the operator's), ``unknown_door`` (not a door
   of this node), ``not_allowed`` (the door is not the operator's);
6. ``replayed``: the nonce was seen before. Only a command that passed every other
   check is recorded, and it is recorded here, before anything acts
   (``store_failed`` if the disk refuses: fail closed).

It never raises on hostile input: whatever the bytes, the answer is one of the two.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from gateway.mqtt.payloads import Command, Relock, Unlock
from gateway.mqtt.signed import CT_COMMAND, SignedMessageError, open_message
from gateway.node.commands.replay import ReplayMemory, ReplayStoreError
from gateway.node.policy.document import Operator, PolicyDocument

RefusalReason = Literal[
    "retained",
    "malformed",
    "wrong_type",
    "unknown_signer",
    "bad_signature",
    "invalid",
    "wrong_site",
    "wrong_node",
    "not_yet_valid",
    "expired",
    "too_long",
    "not_allowed",
    "unknown_door",
    "replayed",
    "store_failed",
]
DEFAULT_SKEW_S = 30.0
DEFAULT_MAX_LIFETIME_S = 600.0


@dataclass(frozen=True, slots=True)
class Accepted:
    command: Command
    operator_id: str
    operator: Operator


@dataclass(frozen=True, slots=True)
class Refused:
    reason: RefusalReason
    detail: str
    command_id: str | None = None  # only once the signature has verified
    operator_id: str | None = None
    command: Command | None = None  # likewise


Verdict = Accepted | Refused


@functools.lru_cache(maxsize=64)
def operator_key(public_key: str) -> ec.EllipticCurvePublicKey | None:
    """The P-256 key of a policy's ``public_key`` (SPKI DER, base64url); None if it is not one."""
    try:
        key = load_der_public_key(
            base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


class CommandGate:
    def __init__(
        self,
        site: str,
        node: str,
        door_ids: Collection[str],
        policy: Callable[[], PolicyDocument | None],
        replay: ReplayMemory,
        *,
        skew_s: float = DEFAULT_SKEW_S,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
    ) -> None:
        if skew_s < 0 or max_lifetime_s <= 0:
            raise ValueError("skew_s must be >= 0 and max_lifetime_s > 0")
        self.site = site
        self.node = node
        self.door_ids = frozenset(door_ids)
        self._policy = policy
        self.replay = replay
        self.skew = dt.timedelta(seconds=skew_s)
        self.max_lifetime = dt.timedelta(seconds=max_lifetime_s)

    def check(self, payload: bytes, *, retained: bool, now: dt.datetime) -> Verdict:
        if retained:
            return Refused("retained", "a retained command is never acted on")
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        policy = self._policy()
        if policy is None:
            return Refused("unknown_signer", "no policy in force, so no operator is known")
        operators = dict(policy.operators)  # one snapshot for the key and the rights
        try:
            command, kid = open_message(
                payload, _lookup(operators), content_type=CT_COMMAND, model=Command
            )
        except SignedMessageError as exc:
            return Refused(exc.reason, exc.detail)
        except Exception as exc:  # a decoder bug must not crash the node's link: fail closed
            return Refused("malformed", f"{type(exc).__name__}: {exc}")
        operator_id = kid.decode("utf-8")  # _lookup found it, so it decodes
        refusal = self._refusal(command, operators[operator_id], now)
        if refusal is not None:
            reason, detail = refusal
            return Refused(reason, detail, command.id, operator_id, command)
        try:
            fresh = self.replay.record(
                command.id, operator=operator_id, expires_at=command.expires_at, now=now
            )
        except ReplayStoreError as exc:
            return Refused("store_failed", str(exc), command.id, operator_id, command)
        if not fresh:
            seen = "this nonce was accepted before"
            return Refused("replayed", seen, command.id, operator_id, command)
        return Accepted(command, operator_id, operators[operator_id])

    def _refusal(
        self, command: Command, operator: Operator, now: dt.datetime
    ) -> tuple[RefusalReason, str] | None:
        if command.site != self.site:
            return "wrong_site", f"for site {command.site!r}, this is {self.site!r}"
        if command.node != self.node:
            return "wrong_node", f"for node {command.node!r}, this is {self.node!r}"
        if command.issued_at > now + self.skew:
            return "not_yet_valid", f"issued at {command.issued_at.isoformat()}, ahead of {now}"
        if now >= command.expires_at:
            return "expired", f"expired at {command.expires_at.isoformat()}"
        lifetime = command.expires_at - command.issued_at
        if lifetime <= dt.timedelta(0):
            return "invalid", "expires_at must be after issued_at"
        if lifetime > self.max_lifetime:
            return "too_long", f"lifetime {lifetime} is over {self.max_lifetime}"
        action = command.do.action
        if action not in operator.actions:
            return "not_allowed", f"the operator may not {action}"
        if isinstance(command.do, Unlock | Relock):
            door = command.do.door
            if door not in self.door_ids:
                return "unknown_door", f"{door!r} is not a door of node {self.node!r}"
            if operator.doors and door not in operator.doors:
                return "not_allowed", f"the operator may not command door {door!r}"
        return None


def _lookup(operators: dict[str, Operator]) -> Callable[[bytes], ec.EllipticCurvePublicKey | None]:
    def key_of(kid: bytes) -> ec.EllipticCurvePublicKey | None:
        try:
            operator = operators.get(kid.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        return None if operator is None else operator_key(operator.public_key)

    return key_of
