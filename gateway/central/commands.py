"""The centre's side of operator commands: make one, sign it, and name its signer in the policy.

An operator holds a P-256 key. Its public half goes into the site policy under
``operators`` (:func:`operator_entry`); a command is a :class:`Command` with a
fresh 16-byte nonce and a short expiry (:func:`new_command`) signed as a
COSE_Sign1 whose kid is the operator id (:func:`sign_command`). The bytes are
published on the node's ``commands`` topic, QoS 1, never retained. See
docs/commands.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.mqtt.payloads import Command, Relock, Resync, Unlock
from gateway.mqtt.signed import CT_COMMAND, sign_message
from gateway.node.policy.document import Operator

NONCE_BYTES = 16
DEFAULT_LIFETIME_S = 60.0  # long enough for a slow link, far under the node's 10-minute cap


def new_command(
    site: str,
    node: str,
    do: Unlock | Relock | Resync,
    *,
    now: dt.datetime | None = None,
    lifetime_s: float = DEFAULT_LIFETIME_S,
) -> Command:
    """A command issued ``now`` (UTC by default) that expires ``lifetime_s`` later."""
    issued = dt.datetime.now(dt.UTC) if now is None else now
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(NONCE_BYTES)).rstrip(b"=").decode()
    return Command(
        site=site,
        node=node,
        id=nonce,
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=lifetime_s),
        do=do,
    )


def sign_command(command: Command, key: ec.EllipticCurvePrivateKey, operator_id: str) -> bytes:
    """The tagged COSE_Sign1 (ES256) bytes to publish; the kid is ``operator_id``."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("operator keys are P-256 (ES256)")
    return sign_message(command, key, kid=operator_id.encode("utf-8"), content_type=CT_COMMAND)


def public_key_text(key: ec.EllipticCurvePublicKey) -> str:
    """SubjectPublicKeyInfo DER in base64url without padding, as the policy stores it."""
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(der).rstrip(b"=").decode()


def operator_entry(
    public_key: ec.EllipticCurvePublicKey,
    actions: Iterable[str],
    doors: Iterable[str] = (),
    *,
    name: str = "",
) -> dict[str, Any]:
    """One value for the policy's ``operators`` map, checked by the policy's own model.

    ``doors`` empty: every door of the site.
    """
    entry: dict[str, Any] = {
        "public_key": public_key_text(public_key),
        "actions": list(actions),
        "doors": list(doors),
    }
    if name:
        entry["name"] = name
    Operator.model_validate(entry)  # a wrong action word fails here, not at every node
    return entry
