"""Pydantic models of every MQTT payload; ``docs/schemas/<topic>.json`` is generated from them.

Four wire encodings occur (the registry says which topic uses which):

* ``json``: UTF-8 JSON that validates against the model.
* ``text``: a bare UTF-8 word (the availability topic: ``online`` / ``offline``).
* ``cose_sign1``: a tagged COSE_Sign1 (CBOR tag 18, ES256) whose payload is the
  UTF-8 JSON the model describes; the signer's key id is in the protected
  header. Verify the signature first, then validate the JSON.
* ``cwt``: the IETF Token Status List in CWT form (``application/statuslist+cwt``),
  a tagged COSE_Sign1 over a CBOR claims map. The model is the logical view of
  the claims; the CBOR keys are given in each field's description.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, model_validator

IDENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Ident = Annotated[str, Field(pattern=IDENT_PATTERN, examples=["sejong-6", "gate-6-01"])]
Hash = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex digits")
]
B64Url = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", description="base64url without padding")]
Sig = Annotated[str, Field(pattern=r"^[0-9a-f]{128}$", description="64 bytes, lowercase hex")]
Version = Annotated[int, Field(ge=1, description="only moves forward; older values are refused")]
PostureName = Literal["normal", "level4", "level3", "level2", "level1", "lockdown", "fire"]
GENESIS_HASH = "0" * 64
MAX_BATCH = 500
MAX_RESEND = 10_000


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- node → centre -------------------------------------------------------------------------


class Event(Payload):
    """One outbox event, as ``gateway.node.outbox.Event.to_wire()`` gives it.

    ``hash`` is SHA-256 over ``b"gateway.outbox.v1\\n"`` and the canonical JSON
    (keys sorted, no spaces, UTF-8) of ``[seq, at, kind, payload, prev_hash]``;
    ``sig`` is the node's Ed25519 signature over the 32 hash bytes.
    """

    seq: int = Field(ge=1, description="per-node sequence number, monotonic across restarts")
    at: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$",
        description="when it happened: node wall clock, UTC, microseconds, 'Z'",
    )
    kind: str = Field(min_length=1, max_length=64, description="e.g. 'decision', 'door'")
    payload: dict[str, Any] = Field(description="kind-specific body")
    prev_hash: Hash = Field(description="`hash` of event seq-1 (64 zeros before seq 1)")
    hash: Hash
    sig: Sig = Field(description="Ed25519 by the node key over the 32 bytes of `hash`")


class EventBatch(Payload):
    """One message on the events topic: one event or a batch of consecutive ones.

    A batch carries consecutive sequence numbers in ascending order, each event
    chained to the one before by ``prev_hash`` and each signed on its own, so
    every event is verifiable alone and a batch is only a unit of transport
    (one PUBLISH, one PUBACK). A single event is a batch of one. The collector
    deduplicates by (node, seq), so a redelivered batch is harmless.
    """

    v: Literal[1] = 1
    site: Ident
    node: Ident
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _chained(self) -> Self:
        for before, after in zip(self.events, self.events[1:], strict=False):
            if after.seq != before.seq + 1:
                raise ValueError(f"seq {after.seq} does not follow {before.seq} in the batch")
            if after.prev_hash != before.hash:
                raise ValueError(f"event {after.seq} does not chain to event {before.seq}")
        return self


class Availability(RootModel[Literal["online", "offline"]]):
    """The bare word ``online`` (published retained on connect) or ``offline`` (Last Will)."""


class Synced(Payload):
    """How fresh one synced document is at the node."""

    version: int | None = Field(description="installed version; null if never received")
    age_s: float | None = Field(ge=0, description="seconds since it was issued; null if none")
    stale: bool = Field(description="past the configured maximum age for some zone")


class OutboxHealth(Payload):
    depth: int = Field(ge=0, description="events not yet acknowledged by the broker")
    oldest_age_s: float | None = Field(ge=0, description="age of the oldest undelivered event")
    limit: int = Field(ge=1, description="depth past which the node raises an alarm")
    last_seq: int = Field(ge=0, description="the latest sequence number written")


class ComponentHealth(Payload):
    id: str = Field(min_length=1, max_length=64)
    ok: bool
    state: str = Field(max_length=32, description="reader: 'ready'|'error'…; door: 'closed'…")
    detail: str | None = Field(default=None, max_length=256)


class Heartbeat(Payload):
    """Periodic node health."""

    v: Literal[1] = 1
    site: Ident
    node: Ident
    ts: AwareDatetime
    software_version: str = Field(min_length=1, max_length=64)
    uptime_s: float = Field(ge=0)
    status_lists: dict[str, Synced] = Field(description="per status list id")
    policy: Synced
    posture: Synced
    outbox: OutboxHealth
    readers: list[ComponentHealth]
    doors: list[ComponentHealth]


class CommandResult(Payload):
    """What the node did with a command (it is also logged as an event)."""

    v: Literal[1] = 1
    site: Ident
    node: Ident
    command_id: B64Url = Field(description="the command's nonce")
    ts: AwareDatetime
    outcome: Literal["done", "refused", "failed"]
    reason: str | None = Field(
        default=None,
        max_length=256,
        description="e.g. 'expired', 'replayed', 'bad_signature', 'unknown_door'",
    )
    event_seq: int | None = Field(default=None, ge=1, description="the event that logs it")


# --- centre → node -------------------------------------------------------------------------


class ResendRequest(Payload):
    """The collector asks a node to publish its events ``from_seq``..``to_seq`` again.

    Sent when the collector sees a gap it cannot otherwise fill (events the broker
    acknowledged to the node and then lost, e.g. across a broker restart). It needs no
    signature: it can only make the node re-send events that carry the node's own
    signatures, which the collector checks and deduplicates by (node, seq). The node
    caps the span and keeps one range in hand, so a flood of requests costs little.
    """

    v: Literal[1] = 1
    site: Ident
    node: Ident
    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.to_seq < self.from_seq:
            raise ValueError("to_seq must not be below from_seq")
        if self.to_seq - self.from_seq >= MAX_RESEND:
            raise ValueError(f"at most {MAX_RESEND} events per request")
        return self


class StatusListClaims(Payload):
    """Logical view of a Status List Token (CWT). See gateway/credentials/status_list.py."""

    sub: str = Field(description="CWT claim 2: the list URI credentials point at")
    iat: int = Field(ge=0, description="CWT claim 6: issued at; the list's version")
    exp: int | None = Field(default=None, description="CWT claim 4: hard end of validity")
    ttl: int | None = Field(default=None, ge=0, description="CWT claim 65534, from iat")
    bits: Literal[1, 2, 4, 8] = Field(description="claim 65533 'bits'")
    lst: B64Url = Field(
        description="claim 65533 'lst': ZLIB-compressed status bytes (CBOR bstr on the wire)"
    )


class StatusListDelta(Payload):
    """Changes since the token with ``iat == base``; signed by the status list signer."""

    sub: str = Field(description="the list URI, as in the token")
    base: int = Field(ge=0, description="the iat of the token (or delta) this applies on top of")
    iat: int = Field(ge=0, description="this delta's version; must exceed base")
    changes: list[tuple[int, int]] = Field(
        min_length=1, description="[index, status] pairs (status 0 VALID, 1 INVALID, 2 SUSPENDED)"
    )

    @model_validator(mode="after")
    def _forward(self) -> Self:
        if self.iat <= self.base:
            raise ValueError("a delta must move the version forward")
        return self


class SignedPolicy(BaseModel):
    """The signed site policy document (format: docs/policy.md)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    version: Version


class PostureState(Payload):
    """The emergency posture in force, site-wide and per building (a building overrides)."""

    v: Literal[1] = 1
    site: Ident
    version: Version
    issued_at: AwareDatetime
    posture: PostureName
    buildings: dict[str, PostureName] = Field(default_factory=dict)
    drill: bool = Field(default=False, description="a fire drill: act as 'fire', log as drill")
    reason: str | None = Field(default=None, max_length=256)


class TrustAnchors(Payload):
    """The certificates a node trusts, signed by the site root."""

    v: Literal[1] = 1
    site: Ident
    version: Version
    issued_at: AwareDatetime
    iaca: list[B64Url] = Field(description="IACA certificates (DER, base64url) for mdocs")
    card_roots: list[B64Url] = Field(default_factory=list, description="chip card CA roots")
    status_list_signers: list[B64Url] = Field(description="certificates of status list signers")
    policy_signers: list[B64Url] = Field(description="certificates of policy/posture signers")


class Unlock(Payload):
    action: Literal["unlock"] = "unlock"
    door: Ident
    seconds: int = Field(ge=1, le=300)


class Relock(Payload):
    action: Literal["relock"] = "relock"
    door: Ident


class Resync(Payload):
    action: Literal["resync"] = "resync"
    what: list[Literal["status_list", "policy", "posture", "trust_anchors"]] = Field(min_length=1)


class Command(Payload):
    """A command to one node, signed by an operator key the policy allows.

    The node ignores it if the message is retained, if ``expires_at`` has
    passed, if ``node`` is not itself, or if it has seen ``id`` before.
    """

    v: Literal[1] = 1
    site: Ident
    node: Ident
    id: B64Url = Field(min_length=22, description="nonce: at least 16 random bytes")
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    do: Unlock | Relock | Resync = Field(discriminator="action")
