"""The real gate node with the outbox as a listener: a grant and a refusal land in the chain.

Built as ``tests/node/test_node_app.py`` builds its node (simulated reader on
nfcpy's udp driver, the policy and status list of that module's world).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config.loader import load_node_config
from gateway.node.door import FakeClock
from gateway.node.outbox import Outbox, verify_chain
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from simulator.holder.chip_card import ChipCard, UidOnlyCard
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet
from tests.node.test_node_app import CARD, NOW, PHONE, Events, Running, write_site


@pytest.fixture
def field() -> Iterator[NfcTarget]:
    with NfcTarget(UidOnlyCard()) as target:
        target.present = False
        yield target


async def test_grant_and_refusal_are_chained_signed_and_pending(
    tmp_path: Path, field: NfcTarget
) -> None:
    key = Ed25519PrivateKey.generate()
    outbox = Outbox(tmp_path / "outbox.sqlite", key, now=lambda: NOW)
    loaded = load_node_config(write_site(tmp_path, field.path))
    options = NodeOptions(
        simulated=True, status_tokens=[tmp_path / "simulated" / "status.cwt"], apdu_timeout=0.5
    )
    parts = build_parts(loaded, options, now=NOW, clock=FakeClock())
    events = Events(lambda: setattr(field, "present", False))
    gate = GateNode(
        parts,
        now=lambda: NOW,
        listeners=(events, outbox.node_listener()),
        retap_holdoff_s=0.0,  # the simulated field keeps one UID for both holders
    )
    await gate.start()
    task = asyncio.create_task(gate.run())
    running = Running(gate, parts, events, field)
    try:
        granted = await running.tap(PhoneNfc(Wallet([(PHONE.issuer_signed, PHONE.device_key)])))
        assert granted["granted"] is True
        refused = await running.tap(ChipCard(CARD.card_object, CARD.card_key))
        assert refused["granted"] is False
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gate.close("test over")
    await outbox.aclose()

    reopened = Outbox(tmp_path / "outbox.sqlite", key, now=lambda: NOW)
    try:
        stored = reopened.pending(limit=1_000)
    finally:
        reopened.close()
    verify_chain(stored, key.public_key())
    logged = [
        {"event": e.kind, **e.payload}
        for e in stored  # what the listener saw, minus the repeat reads it skips
    ]
    expected = [r for r in events.seen if not (r["event"] == "tap" and r.get("read") == "repeat")]
    assert logged == expected
    kinds = [e.kind for e in stored]
    assert kinds[0] == "node"
    assert kinds[-1] == "node"
    decisions = [e.payload for e in stored if e.kind == "decision" and e.payload["stage"] != "read"]
    assert [d["granted"] for d in decisions] == [True, False]
    assert decisions[1]["reason"] == "revoked"
    grant_seq = next(e.seq for e in stored if e.kind == "decision" and e.payload["granted"])
    door_granted = next(
        e.seq for e in stored if e.kind == "door" and e.payload["door_event"] == "granted"
    )
    # The relay moves first, then the decision is queued (docs/reliability.md).
    assert door_granted < grant_seq
