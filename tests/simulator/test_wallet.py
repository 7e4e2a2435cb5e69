"""The virtual phone against the real reader session and the real verifier, in memory.

Every adversarial wallet must end in the denial that names what it did, and
every session-level fault in a ReadFailure, never a grant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.credentials import csid, mdoc
from gateway.credentials.decision import Decision, DenialReason
from gateway.credentials.status_list import Status
from gateway.credentials.verifier import MobilePresentation, Verifier
from gateway.node.proximity.engagement import parse_qr
from gateway.node.proximity.handover import parse_handover_select
from gateway.node.proximity.request import GUARD_DESK_ELEMENTS, build_device_request
from gateway.node.proximity.session import (
    STATUS_DECODING_ERROR,
    STATUS_ENCRYPTION_ERROR,
    ReaderSession,
    encode_session_data,
    parse_session_data,
)
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from simulator.holder.wallet import (
    ReplayWallet,
    SlowWallet,
    TamperingWallet,
    Wallet,
    WrongDoctypeWallet,
)
from tests.credentials.conftest import NOW, Holder, World, make_world
from tests.credentials.strategies import encoded_cbor, mutated

MDL = "org.iso.18013.5.1.mDL"
HOSTILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def holder(world: World) -> Holder:
    return world.issue(1)


def verifier(world: World) -> Verifier:
    return Verifier(world.trust(), world.status_cache())


def session_for(wallet: Wallet, via: str = "nfc") -> ReaderSession:
    if via == "nfc":
        engagement, handover = parse_handover_select(wallet.handover_select())
    else:
        wallet.engagement(ble_uuid=uuid4())
        engagement, handover = parse_qr(wallet.qr())
    return ReaderSession(engagement, handover)


def tap(
    wallet: Wallet, elements: Sequence[str] = csid.DOOR_ELEMENTS, via: str = "nfc"
) -> tuple[ReaderSession, bytes]:
    """One read, as a transport does it: engage, establish, open, terminate."""
    session = session_for(wallet, via)
    response = session.open(wallet.handle(session.establishment(build_device_request(elements))))
    assert wallet.handle(session.termination()) == b""
    return session, response


def verdict(world: World, wallet: Wallet, elements: Sequence[str] = csid.DOOR_ELEMENTS) -> Decision:
    session, response = tap(wallet, elements)
    return verifier(world).verify(MobilePresentation(response, session.transcript), NOW)


def disclosed(response: bytes) -> set[str]:
    (document,) = mdoc.parse_device_response(response)
    return {item.identifier for item in document.namespaces[csid.NAMESPACE]}


# --- The honest phone ------------------------------------------------------------------


@pytest.mark.parametrize("via", ["nfc", "qr"])
def test_a_door_read_is_granted_and_discloses_only_the_door_elements(
    world: World, holder: Holder, via: str
) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session, response = tap(wallet, via=via)
    assert disclosed(response) == set(csid.DOOR_ELEMENTS)
    assert wallet.transcript == session.transcript  # both sides signed/verify the same bytes
    decision = verifier(world).verify(MobilePresentation(response, session.transcript), NOW)
    assert decision.granted, decision
    assert set(decision.claims) == set(csid.DOOR_ELEMENTS)
    assert decision.holder_id == "H0000001"
    assert [r.doc_requests[0].doctype for r in wallet.requests] == [csid.DOCTYPE]


def test_a_guard_desk_sees_name_and_portrait(world: World, holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    decision = verdict(world, wallet, elements=GUARD_DESK_ELEMENTS)
    assert decision.granted
    assert decision.claims[csid.NAME] == "홍길동"
    assert decision.claims[csid.PORTRAIT].startswith(b"\xff\xd8")


def test_each_session_has_a_fresh_device_key(holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    first = wallet.handover_select()
    assert wallet.handover_select() == first  # the NDEF file holds the engagement under way
    one, _ = tap(wallet)
    two, _ = tap(wallet)
    assert one.engagement.raw == parse_handover_select(first)[0].raw
    assert one.engagement.e_device_key != two.engagement.e_device_key


def test_a_second_request_in_the_same_session(world: World, holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session = session_for(wallet)
    first = session.open(wallet.handle(session.establishment(build_device_request())))
    second = session.open(wallet.handle(session.request(build_device_request([csid.NAME]))))
    assert disclosed(first) == set(csid.DOOR_ELEMENTS)
    assert disclosed(second) == {csid.NAME}


def test_a_wallet_without_the_doctype_returns_document_errors(world: World) -> None:
    mdl = world.issue(3, doctype=MDL)
    wallet = Wallet([(mdl.issuer_signed, mdl.device_key)])
    session, response = tap(wallet)
    assert mdoc.parse_device_response(response) == []
    decision = verifier(world).verify(MobilePresentation(response, session.transcript), NOW)
    assert decision.reason is DenialReason.UNSUPPORTED_DOCTYPE


# --- Adversaries -------------------------------------------------------------------


def test_a_replayed_response_fails_device_auth(world: World, holder: Holder) -> None:
    wallet = ReplayWallet([(holder.issuer_signed, holder.device_key)])
    assert verdict(world, wallet).granted  # the recording session is genuine
    decision = verdict(world, wallet)
    assert decision.reason is DenialReason.DEVICE_AUTH_FAILED
    assert wallet.responses[0] == wallet.responses[1]


def test_a_response_recorded_elsewhere_fails_device_auth(world: World, holder: Holder) -> None:
    recorded = tap(Wallet([(holder.issuer_signed, holder.device_key)]))[1]
    wallet = ReplayWallet([(holder.issuer_signed, holder.device_key)], recorded=recorded)
    assert verdict(world, wallet).reason is DenialReason.DEVICE_AUTH_FAILED


def test_a_tampered_element_is_a_digest_mismatch(world: World, holder: Holder) -> None:
    wallet = TamperingWallet([(holder.issuer_signed, holder.device_key)])
    session, response = tap(wallet)
    (document,) = mdoc.parse_device_response(response)
    values = {item.identifier: item.value for item in document.namespaces[csid.NAMESPACE]}
    assert values[csid.POSITION] == "장관"
    decision = verifier(world).verify(MobilePresentation(response, session.transcript), NOW)
    assert decision.reason is DenialReason.DIGEST_MISMATCH
    assert csid.POSITION in decision.detail


def test_a_wrong_doctype_is_unsupported(world: World) -> None:
    mdl = world.issue(4, doctype=MDL)
    wallet = WrongDoctypeWallet([(mdl.issuer_signed, mdl.device_key)])
    assert verdict(world, wallet).reason is DenialReason.UNSUPPORTED_DOCTYPE


def test_expired_and_revoked_credentials_are_denied(world: World) -> None:
    past = world.validity(valid_until=NOW - dt.timedelta(days=1))
    expired = world.issue(5, validity=past)
    wallet = Wallet([(expired.issuer_signed, expired.device_key)])
    assert verdict(world, wallet).reason is DenialReason.EXPIRED
    lost = world.issue(6)
    world.set_status(lost.index, Status.INVALID)
    try:
        assert verdict(world, Wallet([(lost.issuer_signed, lost.device_key)])).reason is (
            DenialReason.REVOKED
        )
    finally:
        world.set_status(lost.index, Status.VALID)


def test_a_slow_wallet_only_announces_its_delay(world: World, holder: Holder) -> None:
    wallet = SlowWallet([(holder.issuer_signed, holder.device_key)], delay=0.75)
    assert wallet.delay == 0.75
    assert Wallet([(holder.issuer_signed, holder.device_key)]).delay == 0.0
    assert verdict(world, wallet).granted  # slowness is the transport's to judge


# --- Session faults end in ReadFailure ----------------------------------------------------


def _session_error(session: ReaderSession, reply: bytes, words: str) -> None:
    with pytest.raises(ReadFailure) as failure:
        session.open(reply)
    assert failure.value.reason is ReadFailureReason.SESSION_ERROR
    assert words in failure.value.detail


def test_a_reader_with_another_engagement_key_gets_status_10(holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    stale = session_for(wallet)  # engaged with a key the wallet then replaces
    wallet.handover_select()
    wallet.engagement()
    reply = wallet.handle(stale.establishment(build_device_request()))
    assert parse_session_data(reply) == (None, STATUS_ENCRYPTION_ERROR)
    _session_error(stale, reply, "status 10")


def test_a_flipped_request_gets_status_10(holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session = session_for(wallet)
    message = bytearray(session.establishment(build_device_request()))
    message[-1] ^= 0x80  # the last byte of the GCM tag
    reply = wallet.handle(bytes(message))
    _session_error(session, reply, "status 10")


def test_garbage_gets_status_11_and_termination_gets_silence(holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    wallet.handover_select()
    assert parse_session_data(wallet.handle(b"\xff")) == (None, STATUS_DECODING_ERROR)
    session = session_for(wallet)
    session.open(wallet.handle(session.establishment(build_device_request())))
    assert wallet.handle(encode_session_data(status=20)) == b""
    # The session is over: the phone wants a new engagement before anything else.
    assert parse_session_data(wallet.handle(session.request(build_device_request()))) == (
        None,
        STATUS_ENCRYPTION_ERROR,
    )


def test_a_replayed_session_message_is_refused_by_both_sides(holder: Holder) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session = session_for(wallet)
    establishment = session.establishment(build_device_request())
    reply = wallet.handle(establishment)
    session.open(reply)
    request = session.request(build_device_request())
    assert parse_session_data(wallet.handle(request))[0] is not None
    # The reader's second message again: the phone's counter has moved on.
    assert parse_session_data(wallet.handle(request)) == (None, STATUS_ENCRYPTION_ERROR)
    # The phone's first answer again: so has the reader's.
    session.request(build_device_request())
    with pytest.raises(ReadFailure) as failure:
        session.open(reply)
    assert failure.value.reason is ReadFailureReason.SESSION_ERROR


# --- Hostile bytes: the phone never crashes ------------------------------------------------


@HOSTILE
@given(
    data=st.one_of(
        st.binary(max_size=200),
        encoded_cbor(),
        mutated(encode_session_data(b"\x00" * 40)),
        mutated(encode_session_data(status=20)),
    ),
    established=st.booleans(),
)
def test_hostile_messages_get_a_status_never_an_exception(
    holder: Holder, data: bytes, established: bool
) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session = session_for(wallet)
    if established:
        session.open(wallet.handle(session.establishment(build_device_request())))
    reply = wallet.handle(data)
    if reply:
        _ciphertext, status = parse_session_data(reply)
        assert status in (None, STATUS_ENCRYPTION_ERROR, STATUS_DECODING_ERROR)


@HOSTILE
@given(data=st.data())
def test_mutated_establishments_never_crash_the_phone(holder: Holder, data: st.DataObject) -> None:
    wallet = Wallet([(holder.issuer_signed, holder.device_key)])
    session = session_for(wallet)
    message = data.draw(mutated(session.establishment(build_device_request())))
    reply = wallet.handle(message)
    if reply:
        try:
            session.open(reply)
        except ReadFailure as failure:
            assert failure.reason in (
                ReadFailureReason.SESSION_ERROR,
                ReadFailureReason.PROTOCOL_ERROR,
            )
