"""BLE end to end: virtual wallet ↔ fake bleak backend ↔ the gate's BLE reader ↔ verifier.

The wallet is the GATT server of 18013-5 mdoc peripheral server mode; the gate
is bleak's central, with only the backend replaced (``simulator.holder.ble_backend``).
Faults use short reader deadlines, never sleeps in the tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.credentials.csid import DOOR_ELEMENTS, NAMESPACE
from gateway.credentials.decision import DenialReason
from gateway.credentials.verifier import Verifier
from gateway.node.proximity.engagement import parse_device_engagement, qr_uri
from gateway.node.readers.ble import BleReader, BleReaderOptions
from gateway.node.readers.ble_chunks import MAX_VALUE_SIZE, Reassembler, chunk_message
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from simulator.holder.ble_backend import Air
from simulator.holder.ble_phone import Faults, Phone
from simulator.holder.wallet import (
    ReplayWallet,
    SlowWallet,
    TamperingWallet,
    Wallet,
    WrongDoctypeWallet,
)
from tests.credentials.conftest import NOW, World, make_world

SHORT = 0.05  # a reader deadline for the fault cases, in seconds


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def verifier(world: World) -> Verifier:
    return Verifier(world.trust(), world.status_cache())


@pytest.fixture
def air() -> Air:
    return Air()


def wallet_for(world: World, kind=Wallet, issue=None, **wallet) -> Wallet:
    holder = world.issue(**(issue or {}))
    return kind([(holder.issuer_signed, holder.device_key)], **wallet)


def phone_in(air: Air, wallet: Wallet, **phone) -> tuple[Phone, str]:
    """A phone advertising a fresh service UUID, and the QR code it shows."""
    uuid = uuid4()
    return air.add(Phone(wallet, uuid, **phone)), qr_uri(wallet.engagement(ble_uuid=uuid))


def reader_for(air: Air, **options) -> BleReader:
    return BleReader(
        BleReaderOptions(**options), backend=air.client_backend, scanner=air.scanner_backend
    )


async def expect_failure(read, reason: ReadFailureReason) -> None:
    with pytest.raises(ReadFailure) as caught:
        await read
    assert caught.value.reason is reason, caught.value


# --- the good path ------------------------------------------------------------------


async def test_qr_engagement_grants_with_door_elements_only(air, world, verifier):
    wallet = wallet_for(world)
    phone, uri = phone_in(air, wallet)
    reader = reader_for(air)

    presentation = await reader.read_qr(uri)
    decision = verifier.verify(presentation, NOW)

    assert decision.granted, decision
    (asked,) = wallet.requests[0].doc_requests
    assert asked.namespaces == {NAMESPACE: dict.fromkeys(DOOR_ELEMENTS, False)}
    assert set(decision.claims) == set(DOOR_ELEMENTS)  # no name, no portrait
    assert presentation.session_transcript == wallet.transcript
    assert phone.state_writes == [b"\x01", b"\x02"]  # start, then transport-specific end
    assert len(phone.received) == len(phone.sent) == 1
    assert air.links() == 0


async def test_nfc_handover_engagement_grants(air, world, verifier):
    wallet = wallet_for(world)
    uuid = uuid4()
    air.add(Phone(wallet, uuid))
    wallet.engagement(ble_uuid=uuid)
    handover_select = wallet.handover_select()  # what the NFC tap read off the phone

    presentation = await reader_for(air).read_handover(handover_select)

    decision = verifier.verify(presentation, NOW)
    assert decision.granted, decision
    assert set(decision.claims) == set(DOOR_ELEMENTS)


async def test_engaged_address_is_connected_without_scanning(air, world, verifier):
    wallet = wallet_for(world)
    phone, _ = phone_in(air, wallet)
    engagement = parse_device_engagement(wallet.engagement(ble_uuid=UUID(phone.service_uuid)))
    assert engagement.ble is not None
    with_address = dataclasses.replace(
        engagement, ble=dataclasses.replace(engagement.ble, address=phone.address_bytes)
    )
    reader = BleReader(backend=air.client_backend)  # no scanner: bleak's real one would fail here

    presentation = await reader.read(with_address, None)

    assert verifier.verify(presentation, NOW).granted


@pytest.mark.parametrize("mtu", [23, 100, 185, 247, 517])
async def test_every_mtu_frames_within_mtu_minus_three(air, world, verifier, mtu):
    _, uri = phone_in(air, wallet_for(world), mtu=mtu)
    reader = reader_for(air)

    presentation = await reader.read_qr(uri)

    assert verifier.verify(presentation, NOW).granted
    trace = reader.last_trace
    assert trace.mtu == mtu
    assert trace.value_size == min(MAX_VALUE_SIZE, mtu - 3)
    assert max(trace.writes) <= trace.value_size
    assert max(trace.notifications) <= trace.value_size
    assert len(trace.notifications) > 1 or mtu == 517


# --- faults: each ends in one reason, and the next phone is read at once -------------


FAULTS = [
    pytest.param(Faults(drop_after_notifications=1), ReadFailureReason.TAG_LOST, id="drop-reply"),
    pytest.param(Faults(drop_after_writes=1), ReadFailureReason.TAG_LOST, id="drop-request"),
    pytest.param(Faults(stall=True), ReadFailureReason.TIMEOUT, id="stall"),
    pytest.param(Faults(bad_flag=0x7F), ReadFailureReason.PROTOCOL_ERROR, id="bad-flag"),
    pytest.param(Faults(empty_chunk=True), ReadFailureReason.PROTOCOL_ERROR, id="empty-chunk"),
    pytest.param(Faults(end_session=True), ReadFailureReason.SESSION_ERROR, id="phone-ends"),
    pytest.param(Faults(no_service=True), ReadFailureReason.UNSUPPORTED, id="no-service"),
]


@pytest.mark.parametrize(("faults", "reason"), FAULTS)
async def test_fault_ends_in_its_reason_and_the_next_phone_is_read(
    air, world, verifier, faults, reason
):
    bad, bad_uri = phone_in(air, wallet_for(world), faults=faults, mtu=64)
    reader = reader_for(air, response_timeout=SHORT)

    await expect_failure(reader.read_qr(bad_uri), reason)
    assert air.links() == 0  # the gate let go of the bad phone
    air.remove(bad)

    _, good_uri = phone_in(air, wallet_for(world))
    assert verifier.verify(await reader.read_qr(good_uri), NOW).granted


async def test_slow_wallet_is_a_timeout(air, world):
    _, uri = phone_in(air, wallet_for(world, SlowWallet, delay=10 * SHORT))  # as a relay is
    reader = reader_for(air, response_timeout=SHORT)

    await expect_failure(reader.read_qr(uri), ReadFailureReason.TIMEOUT)
    assert air.links() == 0


# --- hostile wallets: the transport delivers, the verifier refuses ---------------------


async def test_replayed_response_fails_device_auth(air, world, verifier):
    wallet = wallet_for(world, ReplayWallet)
    reader = reader_for(air)
    first, uri = phone_in(air, wallet)
    assert verifier.verify(await reader.read_qr(uri), NOW).granted  # the recording
    air.remove(first)

    _, uri = phone_in(air, wallet)  # a new engagement, the old DeviceResponse
    decision = verifier.verify(await reader.read_qr(uri), NOW)

    assert decision.reason is DenialReason.DEVICE_AUTH_FAILED, decision


@pytest.mark.parametrize(
    ("kind", "issue", "reason"),
    [
        (TamperingWallet, {}, DenialReason.DIGEST_MISMATCH),
        (
            WrongDoctypeWallet,
            {"doctype": "org.iso.18013.5.1.mDL"},
            DenialReason.UNSUPPORTED_DOCTYPE,
        ),
    ],
)
async def test_hostile_wallet_is_refused_by_the_verifier(air, world, verifier, kind, issue, reason):
    _, uri = phone_in(air, wallet_for(world, kind, issue))

    decision = verifier.verify(await reader_for(air).read_qr(uri), NOW)

    assert not decision.granted
    assert decision.reason is reason, decision


async def test_phone_out_of_range_is_a_timeout(air, world):
    wallet = wallet_for(world)
    uri = qr_uri(wallet.engagement(ble_uuid=uuid4()))  # engaged, but never advertises

    reader = reader_for(air, scan_timeout=SHORT)

    await expect_failure(reader.read_qr(uri), ReadFailureReason.TIMEOUT)


async def test_engagement_without_ble_is_unsupported(air, world):
    uri = qr_uri(wallet_for(world).engagement())

    await expect_failure(reader_for(air).read_qr(uri), ReadFailureReason.UNSUPPORTED)


async def test_second_tap_during_a_read_is_busy(air, world, verifier):
    _, first = phone_in(air, wallet_for(world))
    _, second = phone_in(air, wallet_for(world))
    reader = reader_for(air)

    reading = asyncio.ensure_future(reader.read_qr(first))
    await asyncio.sleep(0)  # let the first read start
    await expect_failure(reader.read_qr(second), ReadFailureReason.BUSY)

    assert verifier.verify(await reading, NOW).granted
    assert verifier.verify(await reader.read_qr(second), NOW).granted


async def test_soak_of_random_faults_leaves_nothing_behind(air, world, verifier):
    rng = random.Random(18013)
    cases = [(Faults(), None)] * 3 + [tuple(case.values) for case in FAULTS if case.id != "stall"]
    holder = world.issue()
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    reader = reader_for(air)
    tasks_before = len(asyncio.all_tasks())

    for _ in range(300):
        faults, reason = rng.choice(cases)
        phone, uri = phone_in(air, wallet, faults=faults, mtu=rng.choice([23, 185, 517]))
        try:
            outcome = verifier.verify(await reader.read_qr(uri), NOW).granted
        except ReadFailure as failure:
            outcome = failure.reason
        assert outcome == (reason or True)
        assert air.links() == 0
        air.remove(phone)

    assert len(asyncio.all_tasks()) == tasks_before  # no scanner, callback or timer task left


# --- the framing, by property ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(message=st.binary(min_size=1, max_size=4000), value_size=st.integers(2, MAX_VALUE_SIZE))
def test_chunks_reassemble_to_the_message(message, value_size):
    chunks = chunk_message(message, value_size)
    assert all(2 <= len(chunk) <= value_size for chunk in chunks)
    assert [chunk[0] for chunk in chunks] == [1] * (len(chunks) - 1) + [0]
    reassembler = Reassembler()
    outputs = [reassembler.feed(chunk) for chunk in chunks]
    assert outputs[:-1] == [None] * (len(chunks) - 1)
    assert outputs[-1] == message
    assert reassembler.feed(chunks[-1]) == chunks[-1][1:]  # ready for the next message


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.binary(max_size=600), max_size=20))
def test_hostile_values_are_messages_or_protocol_errors(values):
    reassembler = Reassembler(max_message=2000)
    for value in values:
        try:
            message = reassembler.feed(value)
        except ReadFailure as failure:
            assert failure.reason is ReadFailureReason.PROTOCOL_ERROR
            return
        assert 1 <= len(value) <= MAX_VALUE_SIZE
        assert value[0] in (0, 1)
        assert (message is None) == (value[0] == 1)


@settings(max_examples=100, deadline=None)
@given(message=st.binary(min_size=1, max_size=3000), limit=st.integers(1, 3000))
def test_messages_over_the_limit_are_refused(message, limit):
    reassembler = Reassembler(max_message=limit)
    try:
        for chunk in chunk_message(message, 100):
            result = reassembler.feed(chunk)
    except ReadFailure as failure:
        assert failure.reason is ReadFailureReason.PROTOCOL_ERROR
        assert len(message) > limit
    else:
        assert result == message
        assert len(message) <= limit
