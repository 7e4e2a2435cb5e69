"""The chip card, end to end over a real nfcpy udp link on loopback.

A virtual card (:mod:`simulator.holder.chip_card`) answers on one end of the
link in ISO-DEP card emulation (:mod:`simulator.holder.nfc_target`); the
gate's :class:`NfcReader` and :func:`read_card` are on the other, and the
presentation goes to the real :class:`Verifier`. Faults are injected in the
simulated card; after each, the same reader reads a good card at once.

Timing: the reader gives each APDU 0.2 s, the card's FWT is 155 ms, and a
stall lasts 0.5 s. Only the simulated device ever waits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import Status, StatusList
from gateway.credentials.verifier import (
    CardPresentation,
    UidPresentation,
    Verifier,
    VerifierOptions,
)
from gateway.node.readers.card_nfc import read_card
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.nfc import NfcReader
from simulator.holder.chip_card import ChipCard, ClonedCard, StaticCard, UidOnlyCard
from simulator.holder.nfc_faults import Fault, FaultKind
from simulator.holder.nfc_target import NfcTarget
from tests.credentials.conftest import NOW, CardHolder, World, make_world

READER_ID = "sejong-b6-g1"
APDU_TIMEOUT = 0.2
TEST_DEADLINE = 5.0  # no test may hang: every tap is bounded by this


WORLD = make_world()  # keys are slow to make: one issuer for the module
HOLDER = WORLD.issue_card()
CARD = ChipCard(HOLDER.card_object, HOLDER.card_key)


@pytest.fixture
def world() -> World:
    return WORLD


@pytest.fixture
def holder() -> CardHolder:
    return HOLDER


@pytest.fixture
def target() -> Iterator[NfcTarget]:
    with NfcTarget(UidOnlyCard()) as card:
        yield card


@pytest.fixture
async def reader(target: NfcTarget) -> AsyncIterator[NfcReader]:
    async with NfcReader(target.path, apdu_timeout=APDU_TIMEOUT) as gate:
        yield gate


def verifier(world: World, *, accept_static_card: bool = False) -> Verifier:
    options = VerifierOptions(reader_id=READER_ID, accept_static_card=accept_static_card)
    return Verifier(world.trust(), world.status_cache(), options)


async def tap(
    reader: NfcReader, read_chunk: int | None = None
) -> CardPresentation | UidPresentation:
    async with asyncio.timeout(TEST_DEADLINE):
        async with await reader.next_tap() as link:
            return await read_card(link, reader_id=READER_ID, now=NOW, read_chunk=read_chunk)


async def failure_of(reader: NfcReader) -> ReadFailure:
    with pytest.raises(ReadFailure) as caught:
        await tap(reader)
    return caught.value


async def test_genuine_card_is_granted(
    world: World, holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key)
    presentation = await tap(reader)
    assert isinstance(presentation, CardPresentation)
    assert presentation.card_object == holder.card_object
    decision = verifier(world).verify(presentation, NOW)
    assert decision.granted, decision
    assert decision.holder_id == "H0000002"


async def test_short_chunked_read_is_granted_too(
    world: World, holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key)
    presentation = await tap(reader, read_chunk=200)
    assert verifier(world).verify(presentation, NOW).granted


async def test_clone_without_the_key_is_refused(
    world: World, holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    genuine = ChipCard(holder.card_object, holder.card_key)
    target.responder = genuine
    await tap(reader)  # the attacker records one genuine answer …
    for clone in (
        ClonedCard(holder.card_object, genuine.signatures[-1]),
        ClonedCard(holder.card_object),
    ):
        target.responder = clone  # … and replays it, or makes one up
        decision = verifier(world).verify(await tap(reader), NOW)
        assert decision.reason is DenialReason.DEVICE_AUTH_FAILED, decision


async def test_revoked_card_is_refused(
    world: World, holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    revoked = dataclasses.replace(world)  # same keys, its own status list
    revoked.statuses = StatusList(1024)
    revoked.set_status(holder.index, Status.INVALID)
    target.responder = ChipCard(holder.card_object, holder.card_key)
    decision = verifier(revoked).verify(await tap(reader), NOW)
    assert decision.reason is DenialReason.REVOKED, decision


async def test_static_and_uid_only_cards(
    world: World, holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = StaticCard(holder.card_object)
    static = await tap(reader)
    assert isinstance(static, CardPresentation)
    assert static.signature is None
    assert verifier(world).verify(static, NOW).reason is DenialReason.DEVICE_AUTH_FAILED
    migrating = verifier(world, accept_static_card=True).verify(static, NOW)
    assert migrating.granted
    assert migrating.assurance == "static"

    target.responder = UidOnlyCard()
    uid = await tap(reader)
    assert uid == UidPresentation(target.uid)
    assert verifier(world).verify(uid, NOW).reason is DenialReason.UNSUPPORTED_DOCTYPE


FAULTS = [
    pytest.param(Fault(FaultKind.REMOVE, at=2), ReadFailureReason.TAG_LOST, id="removed-mid-read"),
    pytest.param(Fault(FaultKind.REMOVE, at=4), ReadFailureReason.TAG_LOST, id="removed-at-auth"),
    pytest.param(Fault(FaultKind.STALL, at=4), ReadFailureReason.TIMEOUT, id="stalled-wtx"),
    pytest.param(
        Fault(FaultKind.STALL, at=2, wtx=False), ReadFailureReason.TAG_LOST, id="stalled-silent"
    ),
    pytest.param(Fault(FaultKind.STATUS, at=2), ReadFailureReason.PROTOCOL_ERROR, id="bad-sw"),
    pytest.param(
        Fault(FaultKind.STATUS, at=1, sw=0x9000 - 1), ReadFailureReason.PROTOCOL_ERROR, id="odd-sw"
    ),
    pytest.param(Fault(FaultKind.TRUNCATE, at=2), ReadFailureReason.PROTOCOL_ERROR, id="truncated"),
    pytest.param(Fault(FaultKind.OVERSIZE, at=3), ReadFailureReason.PROTOCOL_ERROR, id="oversized"),
    pytest.param(
        Fault(FaultKind.EXTRA, at=1, size=3), ReadFailureReason.PROTOCOL_ERROR, id="more-than-ne"
    ),
]


@pytest.mark.parametrize(("fault", "reason"), FAULTS)
async def test_fault_gives_its_reason_and_the_next_card_is_read_at_once(
    fault: Fault,
    reason: ReadFailureReason,
    world: World,
    holder: CardHolder,
    target: NfcTarget,
    reader: NfcReader,
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key)
    target.arm(fault)
    started = time.monotonic()
    failure = await failure_of(reader)
    assert failure.reason is reason, failure
    assert time.monotonic() - started < APDU_TIMEOUT * 2 + 0.2  # the deadline holds

    started = time.monotonic()
    decision = verifier(world).verify(await tap(reader), NOW)
    assert decision.granted, decision
    assert time.monotonic() - started < 0.5, "the reader was not ready at once"


@pytest.mark.parametrize(
    ("declared", "detail"),
    [(60_000, "claims 60000 bytes"), (1300, "ends at"), (0x7F, "")],
    ids=["huge", "longer-than-file", "shorter"],
)
async def test_lying_length_is_a_protocol_error(
    declared: int,
    detail: str,
    world: World,
    holder: CardHolder,
    target: NfcTarget,
    reader: NfcReader,
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key, declared_length=declared)
    if declared < len(holder.card_object):  # a short object reads, and the verifier refuses it
        decision = verifier(world).verify(await tap(reader), NOW)
        assert decision.reason is DenialReason.MALFORMED, decision
        return
    failure = await failure_of(reader)
    assert failure.reason is ReadFailureReason.PROTOCOL_ERROR
    assert detail in failure.detail


async def test_a_second_tap_while_busy(
    holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key)
    async with asyncio.timeout(TEST_DEADLINE):
        link = await reader.next_tap()
        with pytest.raises(ReadFailure) as second:
            await reader.next_tap()
        assert second.value.reason is ReadFailureReason.BUSY
        first = asyncio.create_task(link.exchange(bytes.fromhex("00A4040C08F04B524353494401")))
        await asyncio.sleep(0)
        with pytest.raises(ReadFailure) as overlapping:
            await link.exchange(bytes.fromhex("00A4040C08F04B524353494401"))
        assert overlapping.value.reason is ReadFailureReason.BUSY
        assert await first == b"\x90\x00"
        await link.close()
        assert isinstance(await tap(reader), CardPresentation)


async def test_card_left_on_reader_is_read_again_and_field_off_when_absent(
    holder: CardHolder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = ChipCard(holder.card_object, holder.card_key)
    await tap(reader)
    target.present = False
    waiting = asyncio.create_task(reader.next_tap())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    target.present = True
    async with asyncio.timeout(TEST_DEADLINE):
        link = await waiting
    await link.close()


class DirectLink:
    """The card application called in-process, with one answer mutated: no radio needed."""

    def __init__(self, responder: ChipCard, at: int, mutate: Callable[[bytes], bytes]) -> None:
        self.responder, self.at, self.mutate, self.count = responder, at, mutate, 0
        self.uid = b"\x08\x01\x02\x03"

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        self.count += 1
        answer = self.responder(apdu)
        return self.mutate(answer) if self.count == self.at else answer


mutations = st.one_of(
    st.builds(lambda n: lambda b: b[:n], st.integers(0, 300)),  # truncated
    st.builds(lambda extra: lambda b: b[:-2] + extra + b[-2:], st.binary(min_size=1)),  # longer
    st.builds(lambda sw: lambda b: b[:-2] + sw, st.binary(min_size=2, max_size=2)),  # other SW
    st.builds(lambda junk: lambda b: junk, st.binary(max_size=600)),  # anything at all
    st.builds(  # one flipped bit
        lambda i, bit: (
            lambda b: b[: i % len(b)] + bytes((b[i % len(b)] ^ 1 << bit,)) + b[i % len(b) + 1 :]
        ),
        st.integers(0, 2000),
        st.integers(0, 7),
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(at=st.integers(1, 4), mutate=mutations, chunk=st.sampled_from([None, 100, 251]))
def test_any_hostile_answer_ends_in_a_read_failure_or_a_presentation(
    at: int, mutate: Callable[[bytes], bytes], chunk: int | None
) -> None:
    card = CARD  # one card for every example: keys are slow to make
    card.activated()
    link = DirectLink(card, at, mutate)
    try:
        result = asyncio.run(read_card(link, reader_id=READER_ID, now=NOW, read_chunk=chunk))
    except ReadFailure as failure:
        assert failure.reason in {ReadFailureReason.PROTOCOL_ERROR}, failure
        return
    assert isinstance(result, CardPresentation | UidPresentation)


async def test_cancel_and_close_while_waiting_release_everything(holder: CardHolder) -> None:
    threads = threading.active_count()
    with NfcTarget(ChipCard(holder.card_object, holder.card_key)) as card:
        card.present = False
        gate = NfcReader(card.path, apdu_timeout=APDU_TIMEOUT)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(gate.next_tap(), 0.1)  # nobody there: the wait is cancelled
        card.present = True
        async with asyncio.timeout(TEST_DEADLINE):
            async with await gate.next_tap() as link:  # the reader is still usable
                assert link.uid == card.uid
        card.present = False
        waiting = asyncio.create_task(gate.next_tap())
        await asyncio.sleep(0.05)
        async with asyncio.timeout(TEST_DEADLINE):
            await gate.close()
            with pytest.raises(asyncio.CancelledError):
                await waiting
    assert threading.active_count() == threads
