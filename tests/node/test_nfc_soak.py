"""Soak: many taps over the real nfcpy udp link, some pulled away mid-read, and no leak.

Phones and cards take turns at random; about one tap in twelve is pulled
from the field at a random APDU. Every other tap must be granted, every
pulled one must end in ``tag_lost``, and the reader must go on. Thread and
file-descriptor counts must not move from the first tap to the last and must
be back at their baseline once the reader and the card are closed; traced
memory may grow by a bounded amount only.

CI runs 300 taps; ``GATEWAY_SOAK_TAPS=10000`` runs the acceptance soak.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import threading
import time
import tracemalloc

import pytest

from gateway.credentials.verifier import Presentation, Verifier, VerifierOptions
from gateway.node.readers.card_nfc import read_card
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.mdoc_nfc import read_mdoc
from gateway.node.readers.nfc import NfcReader
from simulator.holder.chip_card import ChipCard
from simulator.holder.nfc_faults import Fault, FaultKind
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet
from tests.credentials.conftest import NOW, make_world

TAPS = int(os.environ.get("GATEWAY_SOAK_TAPS", "300"))
REMOVAL_RATE = 1 / 12
CARD_APDUS = 4  # SELECT, READ BINARY ×2, INTERNAL AUTHENTICATE
PHONE_APDUS = 7  # SELECT ×2, READ ×2, SELECT ×2 … ENVELOPE; the 8th, termination, may fail
MEMORY_BOUND = 2 * 1024 * 1024  # bytes of traced growth allowed, whatever the number of taps
READER_ID = "soak-gate"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_soak_taps_with_random_removals(caplog: pytest.LogCaptureFixture) -> None:
    # nfcpy logs each ISO-DEP retry, and pins its "nfc" logger at INFO when imported: silence
    # it there, or pytest's captured records are the only thing that grows.
    caplog.set_level(logging.CRITICAL)
    caplog.set_level(logging.CRITICAL, logger="nfc")
    world = make_world()
    holder, card = world.issue(1), world.issue_card(2)
    verifier = Verifier(world.trust(), world.status_cache(), VerifierOptions(reader_id=READER_ID))
    chip = ChipCard(card.card_object, card.card_key)
    phone = PhoneNfc(Wallet([(holder.issuer_signed, holder.device_key)]))
    rng = random.Random(20260302)
    gc.collect()
    threads, fds = threading.active_count(), open_fds()
    outcomes: dict[str, int] = {}
    per_tap_threads: set[int] = set()
    per_tap_fds: set[int] = set()
    started = time.monotonic()

    target = NfcTarget(chip).start()
    reader = NfcReader(target.path, apdu_timeout=0.2)
    try:
        for n in range(TAPS):
            is_card = rng.random() < 0.5
            target.responder = chip if is_card else phone
            # The simulated holders keep a history for other tests; it is not the gate's memory.
            phone.wallet.requests.clear()
            phone.wallet.responses.clear()
            chip.signatures.clear()
            removed = rng.random() < REMOVAL_RATE
            if removed:
                target.arm(
                    Fault(
                        FaultKind.REMOVE, at=rng.randint(1, CARD_APDUS if is_card else PHONE_APDUS)
                    )
                )
            try:
                async with asyncio.timeout(5):
                    async with await reader.next_tap() as link:
                        presentation: Presentation
                        if is_card:
                            presentation = await read_card(link, reader_id=READER_ID, now=NOW)
                        else:
                            presentation = await read_mdoc(link)
            except ReadFailure as failure:
                assert removed, f"tap {n}: {failure}"
                assert failure.reason is ReadFailureReason.TAG_LOST, f"tap {n}: {failure}"
                outcomes[failure.reason.value] = outcomes.get(failure.reason.value, 0) + 1
            else:
                assert not removed, f"tap {n} was pulled away but read"
                decision = verifier.verify(presentation, NOW)
                assert decision.granted, f"tap {n}: {decision}"
                outcomes["granted"] = outcomes.get("granted", 0) + 1
            if n == 20:
                gc.collect()
                tracemalloc.start()
                memory_at_start = tracemalloc.get_traced_memory()[0]
            per_tap_threads.add(threading.active_count())
            per_tap_fds.add(open_fds())
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - memory_at_start
    finally:
        tracemalloc.stop()
        await reader.close()
        target.stop()
    elapsed = time.monotonic() - started
    gc.collect()

    print(f"\n{TAPS} taps in {elapsed:.1f} s: {outcomes}; memory growth {growth} B")
    assert sum(outcomes.values()) == TAPS
    assert outcomes.get("tag_lost", 0) > 0
    assert len(per_tap_threads) == 1, f"thread count moved: {sorted(per_tap_threads)}"
    assert len(per_tap_fds) == 1, f"fd count moved: {sorted(per_tap_fds)}"
    assert growth < MEMORY_BOUND, f"traced memory grew by {growth} bytes"
    assert threading.active_count() == threads
    assert open_fds() == fds
