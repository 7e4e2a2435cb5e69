"""The mobile ID, end to end over a real nfcpy udp link on loopback.

The virtual phone (:class:`Wallet` behind :class:`PhoneNfc`, in ISO-DEP card
emulation) is on one end; the gate's :class:`NfcReader` and :func:`read_mdoc`
on the other: Type 4 Tag engagement, the 18013-5 session over ENVELOPE and
GET RESPONSE, and the real :class:`Verifier`. Each adversarial wallet must
end in its own denial; each transport fault in its own read failure, after
which the same reader reads a good phone at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.credentials import csid
from gateway.credentials.decision import Decision, DenialReason
from gateway.credentials.status_list import Status, StatusList
from gateway.credentials.verifier import MobilePresentation, Verifier, VerifierOptions
from gateway.node.proximity.engagement import NfcOptions
from gateway.node.proximity.request import GUARD_DESK_ELEMENTS, build_device_request
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.mdoc_nfc import read_mdoc
from gateway.node.readers.nfc import NfcReader
from simulator.holder.chip_card import UidOnlyCard
from simulator.holder.nfc_faults import Fault, FaultKind
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import (
    ReplayWallet,
    SlowWallet,
    TamperingWallet,
    Wallet,
    WrongDoctypeWallet,
)
from tests.credentials.conftest import NOW, Holder, World, make_world

APDU_TIMEOUT = 0.2
TEST_DEADLINE = 5.0
SHORT_APDUS = NfcOptions(max_command=255, max_response=256)
TINY_APDUS = NfcOptions(max_command=64, max_response=100)  # forces chaining and GET RESPONSE


WORLD = make_world()  # keys are slow to make: one issuer for the module
HOLDER = WORLD.issue(1)


@pytest.fixture
def world() -> World:
    return WORLD


@pytest.fixture
def holder() -> Holder:
    return HOLDER


@pytest.fixture
def target() -> Iterator[NfcTarget]:
    with NfcTarget(UidOnlyCard()) as phone:
        yield phone


@pytest.fixture
async def reader(target: NfcTarget) -> AsyncIterator[NfcReader]:
    async with NfcReader(target.path, apdu_timeout=APDU_TIMEOUT) as gate:
        yield gate


def phone(wallet: Wallet, **options: int) -> PhoneNfc:
    return PhoneNfc(wallet, **options)


async def tap(reader: NfcReader, device_request: bytes | None = None) -> MobilePresentation:
    async with asyncio.timeout(TEST_DEADLINE):
        async with await reader.next_tap() as link:
            return await read_mdoc(link, device_request=device_request)


def verify(world: World, presentation: MobilePresentation) -> Decision:
    return Verifier(world.trust(), world.status_cache(), VerifierOptions()).verify(
        presentation, NOW
    )


def wallet_of(holder: Holder, kind: type[Wallet] = Wallet, **options: object) -> Wallet:
    return kind([(holder.issuer_signed, holder.device_key)], **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "nfc", [None, SHORT_APDUS, TINY_APDUS], ids=["extended", "short", "chained"]
)
async def test_good_phone_is_granted_with_the_door_elements_only(
    nfc: NfcOptions | None, world: World, holder: Holder, target: NfcTarget, reader: NfcReader
) -> None:
    wallet = wallet_of(holder) if nfc is None else wallet_of(holder, nfc=nfc)
    target.responder = phone(wallet)
    decision = verify(world, await tap(reader))
    assert decision.granted, decision
    assert set(decision.claims) == set(csid.DOOR_ELEMENTS)
    assert wallet.requests[-1].doc_requests[0].doctype == csid.DOCTYPE


async def test_guard_desk_may_ask_for_name_and_portrait(
    world: World, holder: Holder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = phone(wallet_of(holder, nfc=SHORT_APDUS))
    presentation = await tap(reader, device_request=build_device_request(GUARD_DESK_ELEMENTS))
    decision = verify(world, presentation)
    assert decision.granted
    assert set(decision.claims) == set(GUARD_DESK_ELEMENTS)


async def test_adversarial_wallets_get_their_denials(
    world: World, holder: Holder, target: NfcTarget, reader: NfcReader
) -> None:
    replaying = wallet_of(holder, ReplayWallet)
    target.responder = phone(replaying)
    assert verify(world, await tap(reader)).granted  # it records a genuine session …
    assert verify(world, await tap(reader)).reason is DenialReason.DEVICE_AUTH_FAILED  # … replays

    target.responder = phone(wallet_of(holder, TamperingWallet))
    assert verify(world, await tap(reader)).reason is DenialReason.DIGEST_MISMATCH

    mdl = world.issue(3, doctype="org.iso.18013.5.1.mDL")
    target.responder = phone(wallet_of(mdl, WrongDoctypeWallet))
    assert verify(world, await tap(reader)).reason is DenialReason.UNSUPPORTED_DOCTYPE


@pytest.mark.parametrize(
    ("status", "reason"), [(Status.INVALID, "revoked"), (Status.SUSPENDED, "suspended")]
)
async def test_revoked_and_suspended_phones(
    status: Status, reason: str, world: World, target: NfcTarget, reader: NfcReader
) -> None:
    lost = world.issue(4)
    world.set_status(lost.index, status)
    try:
        target.responder = phone(wallet_of(lost))
        assert verify(world, await tap(reader)).reason == reason
    finally:
        world.statuses = StatusList(1024)


async def test_a_chip_card_is_not_a_phone(target: NfcTarget, reader: NfcReader) -> None:
    target.responder = UidOnlyCard()
    with pytest.raises(ReadFailure) as caught:
        await tap(reader)
    assert caught.value.reason is ReadFailureReason.UNSUPPORTED


FAULTS = [
    pytest.param(
        Fault(FaultKind.REMOVE, at=7), ReadFailureReason.TAG_LOST, id="removed-at-envelope"
    ),
    pytest.param(Fault(FaultKind.REMOVE, at=3), ReadFailureReason.TAG_LOST, id="removed-at-cc"),
    pytest.param(Fault(FaultKind.STALL, at=7), ReadFailureReason.TIMEOUT, id="stalled"),
    pytest.param(Fault(FaultKind.STATUS, at=9), ReadFailureReason.PROTOCOL_ERROR, id="bad-sw"),
    pytest.param(
        Fault(FaultKind.TRUNCATE, at=5, size=3), ReadFailureReason.PROTOCOL_ERROR, id="truncated"
    ),
    pytest.param(Fault(FaultKind.OVERSIZE, at=8), ReadFailureReason.PROTOCOL_ERROR, id="oversized"),
    pytest.param(Fault(FaultKind.EXTRA, at=3), ReadFailureReason.PROTOCOL_ERROR, id="more-than-ne"),
]


@pytest.mark.parametrize(("fault", "reason"), FAULTS)
async def test_fault_gives_its_reason_and_the_next_phone_is_read_at_once(
    fault: Fault,
    reason: ReadFailureReason,
    world: World,
    holder: Holder,
    target: NfcTarget,
    reader: NfcReader,
) -> None:
    # Short APDUs: SELECT, SELECT CC, READ CC, SELECT NDEF, READ NDEF, SELECT mdoc,
    # ENVELOPE (7, chained; 8), GET RESPONSE (9, 10, …), ENVELOPE with the termination.
    target.responder = phone(wallet_of(holder, nfc=SHORT_APDUS))
    target.arm(fault)
    started = time.monotonic()
    with pytest.raises(ReadFailure) as caught:
        await tap(reader)
    assert caught.value.reason is reason, caught.value
    assert time.monotonic() - started < APDU_TIMEOUT * 2 + 0.2

    started = time.monotonic()
    assert verify(world, await tap(reader)).granted
    assert time.monotonic() - started < 0.5, "the reader was not ready at once"


@pytest.mark.parametrize("nlen", [0, 0x0FFF, 0xFFFF])
async def test_lying_ndef_length_is_a_protocol_error(
    nlen: int, holder: Holder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = phone(wallet_of(holder), nlen=nlen)
    with pytest.raises(ReadFailure) as caught:
        await tap(reader)
    assert caught.value.reason is ReadFailureReason.PROTOCOL_ERROR


async def test_a_slow_wallet_times_out_like_a_relay(
    world: World, holder: Holder, target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = phone(wallet_of(holder, SlowWallet, delay=0.5))
    with pytest.raises(ReadFailure) as caught:
        await tap(reader)
    assert caught.value.reason is ReadFailureReason.TIMEOUT
    target.responder = phone(wallet_of(holder))
    started = time.monotonic()
    assert verify(world, await tap(reader)).granted
    assert time.monotonic() - started < 0.5


class DirectLink:
    """The phone called in-process, with its answer to APDU ``at`` mutated: no radio needed."""

    def __init__(self, responder: PhoneNfc, at: int, mutate: Callable[[bytes], bytes]) -> None:
        self.responder, self.at, self.mutate, self.count = responder, at, mutate, 0

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        self.count += 1
        answer = self.responder(apdu)
        return self.mutate(answer) if self.count == self.at else answer


def _flip(i: int, bit: int) -> Callable[[bytes], bytes]:
    def flip(b: bytes) -> bytes:
        i_ = i % len(b)
        return b[:i_] + bytes((b[i_] ^ 1 << bit,)) + b[i_ + 1 :]

    return flip


mutations = st.one_of(
    st.builds(lambda n: lambda b: b[:n], st.integers(0, 300)),
    st.builds(lambda extra: lambda b: b[:-2] + extra + b[-2:], st.binary(min_size=1)),
    st.builds(lambda sw: lambda b: b[:-2] + sw, st.binary(min_size=2, max_size=2)),
    st.builds(lambda junk: lambda b: junk, st.binary(max_size=600)),
    st.builds(_flip, st.integers(0, 4000), st.integers(0, 7)),
)
ALLOWED = {
    ReadFailureReason.PROTOCOL_ERROR,
    ReadFailureReason.SESSION_ERROR,
    ReadFailureReason.UNSUPPORTED,
}


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    at=st.integers(1, 17),
    mutate=mutations,
    nfc=st.sampled_from([SHORT_APDUS, TINY_APDUS, NfcOptions(0xFFFF, 0x10000)]),
)
def test_any_hostile_answer_ends_in_a_read_failure_or_a_presentation(
    at: int, mutate: Callable[[bytes], bytes], nfc: NfcOptions
) -> None:
    handset = PhoneNfc(wallet_of(HOLDER, nfc=nfc))
    handset.activated()
    try:
        result = asyncio.run(read_mdoc(DirectLink(handset, at, mutate)))
    except ReadFailure as failure:
        assert failure.reason in ALLOWED, failure
        return
    assert isinstance(result, MobilePresentation)
