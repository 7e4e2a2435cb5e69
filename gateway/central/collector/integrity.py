"""Per-node chain checks: each event's hash and Ed25519 signature, then its place in the chain.

State per node is the verified head (every seq up to it stored and linked) and
the *islands*: stored events above the head, waiting for the missing ones.

* a bad hash or signature: the event is refused, ``integrity`` alarm (stays);
* same seq stored with another hash: a fork, the copy is refused, ``integrity`` alarm;
* same seq, same hash: a redelivery or a replay of a genuine event, ignored quietly;
* seq beyond head+1: stored as an island, one ``integrity_gap`` alarm per node, which
  is cleared once the missing events arrive and the head reaches the last island;
* an event whose ``prev_hash`` is not its predecessor's hash: ``integrity`` alarm
  (broken link); the head moves on so one break is one alarm, not one per event.

The state is cached per collector, reloaded from the store after a failed write and
before calling anything a gap (another collector of a shared-subscription group may
have stored the events in between).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.central.collector.model import (
    AlarmKind,
    ChainState,
    ClearAlarm,
    NewAlarm,
    Severity,
)
from gateway.central.collector.store import EventStore
from gateway.node.outbox import GENESIS_HASH, ChainError, Event, event_hash, verify_chain

AlarmOp = NewAlarm | ClearAlarm


@dataclass
class _Node:
    head_seq: int
    head_hash: str
    islands: dict[int, tuple[str, str]]  # seq -> (prev_hash, hash), stored above the head
    had_gap: bool


@dataclass
class Verdict:
    accepted: list[Event] = field(default_factory=list)  # new, verified: store them
    duplicates: int = 0
    alarms: list[AlarmOp] = field(default_factory=list)
    chain: ChainState | None = None


def gaps(head_seq: int, islands: dict[int, tuple[str, str]]) -> list[tuple[int, int]]:
    """Missing ``[first, last]`` ranges between the head and the highest island."""
    missing: list[tuple[int, int]] = []
    expected = head_seq + 1
    for seq in sorted(islands):
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    return missing


def verify_events(
    events: list[Event], key: Ed25519PublicKey, *, every_signature: bool = True
) -> dict[int, str]:
    """Seqs of the events that fail, with the reason; ``events`` are one linked batch.

    ``every_signature``: each event's hash and signature (160 µs an event on a slow core).
    Otherwise every hash is recomputed and only the last event's signature is checked:
    the batch is linked by ``prev_hash`` (EventBatch refuses it otherwise), so that one
    signature authenticates the content of every event before it. If it fails, every
    event is checked on its own to name the bad ones.
    """
    if not every_signature and events:
        refused: dict[int, str] = {}
        for event in events:
            try:
                digest = event_hash(event.seq, event.at, event.kind, event.payload, event.prev_hash)
            except ValueError as exc:
                refused[event.seq] = f"payload cannot be encoded: {exc}"
                continue
            if digest != event.hash:
                refused[event.seq] = "hash does not match the event's content"
        if not refused:
            tail = events[-1]
            try:
                key.verify(bytes.fromhex(tail.signature), bytes.fromhex(tail.hash))
                return {}
            except (InvalidSignature, ValueError):
                pass
    refused = {}
    for event in events:
        try:
            verify_chain([event], key)
        except ChainError as exc:
            refused[event.seq] = exc.reason
    return refused


class ChainChecker:
    def __init__(
        self, store: EventStore, keys: dict[str, Ed25519PublicKey], *, every_signature: bool = True
    ) -> None:
        self._every_signature = every_signature
        self._store = store
        self._keys = keys
        self._nodes: dict[str, _Node] = {}
        self._touched: set[str] = set()  # nodes with changes in the open write set

    def knows(self, node: str) -> bool:
        return node in self._keys

    def begin(self) -> None:
        """A new write set starts: everything checked before it was committed or forgotten."""
        self._touched = set()

    def forget(self, node: str) -> None:
        """Drop the cached state (a write failed): the next check reloads it from the store."""
        self._nodes.pop(node, None)

    async def _load(self, node: str) -> _Node:
        if (state := self._nodes.get(node)) is not None:
            return state
        chain = await self._store.chain(node)
        head_seq, head_hash = (0, GENESIS_HASH)
        if chain is not None:
            head_seq, head_hash = chain.head_seq, chain.head_hash
        islands = {s: (p, h) for s, p, h in await self._store.links_after(node, head_seq)}
        state = _Node(head_seq, head_hash, islands, bool(chain and chain.gaps))
        self._nodes[node] = state
        return state

    async def check(self, site: str, node: str, events: list[Event], now: dt.datetime) -> Verdict:
        """Verdict on one batch of a known node (call :meth:`knows` first)."""
        key = self._keys[node]
        state = await self._load(node)
        first = min(e.seq for e in events)
        reloaded = False
        if (
            first > state.head_seq + 1
            and first - 1 not in state.islands
            and node not in self._touched  # nothing of this node is waiting to commit
        ):
            # Looks like a gap; with a shared subscription another collector may have
            # stored the events in between, so ask the store before saying so.
            self.forget(node)
            state = await self._load(node)
            reloaded = True
        self._touched.add(node)
        verdict = Verdict()
        below = [e.seq for e in events if e.seq <= state.head_seq]
        stored = await self._store.hashes(node, below) if below else {}

        def alarm(kind: AlarmKind, key: str, **detail: object) -> None:
            verdict.alarms.append(
                NewAlarm(kind, Severity.CRITICAL, key, now, site, node, None, dict(detail))
            )

        refused = verify_events(events, key, every_signature=self._every_signature)
        for event in events:
            if (reason := refused.get(event.seq)) is not None:
                alarm(
                    AlarmKind.INTEGRITY,
                    f"integrity:{node}:{event.seq}:bad",
                    seq=event.seq,
                    reason=reason,
                    hash=event.hash,
                )
                continue
            known = stored.get(event.seq) if event.seq <= state.head_seq else None
            if known is None and event.seq in state.islands:
                known = state.islands[event.seq][1]
            if known is None and event.seq <= state.head_seq:
                verdict.duplicates += 1  # below the head but purged: nothing to compare
                continue
            if known == event.hash:
                verdict.duplicates += 1
                continue
            if known is not None:
                alarm(
                    AlarmKind.INTEGRITY,
                    f"integrity:{node}:{event.seq}:fork",
                    seq=event.seq,
                    reason="fork: another event with this seq is stored",
                    stored_hash=known,
                    received_hash=event.hash,
                )
                continue
            state.islands[event.seq] = (event.prev_hash, event.hash)
            verdict.accepted.append(event)
        if not verdict.accepted:
            return verdict
        self._advance(state, site, node, now, verdict, reloaded)
        verdict.chain = ChainState(
            node, state.head_seq, state.head_hash, gaps(state.head_seq, state.islands)
        )
        return verdict

    def _advance(
        self,
        state: _Node,
        site: str,
        node: str,
        now: dt.datetime,
        verdict: Verdict,
        reloaded: bool,
    ) -> None:
        while (link := state.islands.pop(state.head_seq + 1, None)) is not None:
            prev_hash, digest = link
            if prev_hash != state.head_hash:
                verdict.alarms.append(
                    NewAlarm(
                        AlarmKind.INTEGRITY,
                        Severity.CRITICAL,
                        f"integrity:{node}:{state.head_seq + 1}:link",
                        now,
                        site,
                        node,
                        None,
                        {
                            "seq": state.head_seq + 1,
                            "reason": "prev_hash does not link to the stored previous event",
                        },
                    )
                )
            state.head_seq += 1
            state.head_hash = digest
        missing = gaps(state.head_seq, state.islands)
        gap_key = f"integrity_gap:{node}"
        if missing and not state.had_gap:
            verdict.alarms.append(
                NewAlarm(
                    AlarmKind.INTEGRITY_GAP,
                    Severity.WARNING,
                    gap_key,
                    now,
                    site,
                    node,
                    None,
                    {"missing": [list(r) for r in missing], "head_seq": state.head_seq},
                )
            )
        elif not missing and (state.had_gap or reloaded):  # another collector may have raised it
            verdict.alarms.append(ClearAlarm(gap_key, now))
        state.had_gap = bool(missing)
