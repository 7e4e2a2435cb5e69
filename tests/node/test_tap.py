"""The tap dispatcher over a real nfcpy udp link: a phone or a card, told apart by SELECT.

One virtual target (:class:`NfcTarget`) is in the field of one gate reader;
its responder is swapped between a phone (:class:`PhoneNfc`) and cards
(:mod:`simulator.holder.chip_card`), as people walk through one after
another. :func:`read_tap` must read each the right way, :func:`decide` must
give each its verdict, and the breakdown must name the phases each
conversation goes through, with their round trips and bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from gateway.credentials import csid
from gateway.credentials.decision import CredentialKind, DenialReason
from gateway.credentials.verifier import (
    CardPresentation,
    MobilePresentation,
    UidPresentation,
    Verifier,
    VerifierOptions,
)
from gateway.node.proximity.engagement import NfcOptions
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.nfc import NfcReader
from gateway.node.readers.tap import Phase, TapOutcome, TapResult, decide, read_tap
from simulator.holder.chip_card import ChipCard, UidOnlyCard
from simulator.holder.nfc_faults import Fault, FaultKind
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet
from tests.credentials.conftest import NOW, make_world

READER_ID = "sejong-b6-g1"
APDU_TIMEOUT = 0.2
TEST_DEADLINE = 5.0
SHORT_APDUS = NfcOptions(max_command=255, max_response=256)

WORLD = make_world()  # keys are slow to make: one issuer for the module
PHONE_HOLDER = WORLD.issue(1)
CARD_HOLDER = WORLD.issue_card(2)
VERIFIER = Verifier(WORLD.trust(), WORLD.status_cache(), VerifierOptions(reader_id=READER_ID))

PHONE_PHASES = [
    Phase.ACTIVATION,
    Phase.ENGAGEMENT,
    Phase.SESSION_SETUP,
    Phase.DATA_RETRIEVAL,
    Phase.TERMINATION,
    Phase.VERIFICATION,
]
CARD_PHASES = [
    Phase.ACTIVATION,
    Phase.DISPATCH,
    Phase.SELECTION,
    Phase.DATA_RETRIEVAL,
    Phase.CHALLENGE,
    Phase.VERIFICATION,
]


def phone(nfc: NfcOptions | None = None) -> PhoneNfc:
    documents = [(PHONE_HOLDER.issuer_signed, PHONE_HOLDER.device_key)]
    return PhoneNfc(Wallet(documents) if nfc is None else Wallet(documents, nfc=nfc))


def card() -> ChipCard:
    return ChipCard(CARD_HOLDER.card_object, CARD_HOLDER.card_key)


@pytest.fixture
def target() -> Iterator[NfcTarget]:
    with NfcTarget(UidOnlyCard()) as field:
        yield field


@pytest.fixture
async def reader(target: NfcTarget) -> AsyncIterator[NfcReader]:
    async with NfcReader(target.path, apdu_timeout=APDU_TIMEOUT) as gate:
        yield gate


async def tap(reader: NfcReader) -> tuple[TapResult, TapOutcome]:
    async with asyncio.timeout(TEST_DEADLINE):
        async with await reader.next_tap() as link:
            result = await read_tap(link, reader_id=READER_ID, now=NOW)
        return result, await decide(result, VERIFIER, NOW)


def assert_costs_add_up(result: TapResult, outcome: TapOutcome) -> None:
    """Every APDU phase moved frames and bytes both ways; the phases sum to the trace."""
    for phase, cost in outcome.phases.items():
        assert cost.wall_s > 0, phase
        if phase in (Phase.ACTIVATION, Phase.VERIFICATION):
            assert cost.apdus == 0, phase
            continue
        assert cost.apdus > 0, phase
        assert cost.frames >= cost.apdus, phase
        assert cost.bytes_out > cost.apdus * 4, phase  # every command has its 4-byte header
        assert cost.bytes_in >= cost.apdus * 2, phase  # every answer its status word
        assert cost.apdu_bytes_out <= cost.bytes_out, phase  # frames add their PCB
    assert outcome.phases[Phase.ACTIVATION].frames == 1  # RATS → ATS
    apdu_phases = [p for p in result.phases.values() if p.apdus]
    assert sum(p.apdus for p in apdu_phases) == len(result.exchanges)
    assert sum(p.bytes_in for p in apdu_phases) == sum(e.bytes_in for e in result.exchanges)
    assert [e.phase for e in result.exchanges] == sorted(
        (e.phase for e in result.exchanges), key=list(result.phases).index
    ), "the phases run one after another"


async def test_a_phone_then_a_card_on_one_reader_are_both_granted(
    target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = phone()
    result, outcome = await tap(reader)
    assert isinstance(result.presentation, MobilePresentation)
    assert outcome.granted, outcome.to_json()
    assert outcome.kind is CredentialKind.MOBILE
    assert set(outcome.decision.claims if outcome.decision else {}) == set(csid.DOOR_ELEMENTS)
    assert list(outcome.phases) == PHONE_PHASES
    assert_costs_add_up(result, outcome)

    target.responder = card()
    result, outcome = await tap(reader)
    assert isinstance(result.presentation, CardPresentation)
    assert result.presentation.signature is not None
    assert outcome.granted, outcome.to_json()
    assert outcome.kind is CredentialKind.CARD
    assert outcome.decision is not None
    assert outcome.decision.holder_id == "H0000002"
    assert list(outcome.phases) == CARD_PHASES
    assert_costs_add_up(result, outcome)

    target.responder = phone()  # and the phone again: nothing of the card path sticks
    assert (await tap(reader))[1].granted


async def test_each_phase_holds_the_commands_it_should(
    target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = phone(SHORT_APDUS)
    result, outcome = await tap(reader)
    assert outcome.granted, outcome.to_json()
    by_phase: dict[Phase, list[bytes]] = {}
    for exchange in result.exchanges:
        by_phase.setdefault(exchange.phase, []).append(exchange.head[:2])
    select, read = b"\x00\xa4", b"\x00\xb0"
    # Type 4 Tag: SELECT NDEF, SELECT CC, READ CC, SELECT NDEF file, READ NDEF
    assert by_phase[Phase.ENGAGEMENT] == [select, select, read, select, read]
    assert by_phase[Phase.SESSION_SETUP] == [b"\x00\xa4"]  # SELECT mdoc
    retrieval = by_phase[Phase.DATA_RETRIEVAL]
    assert retrieval[0] == b"\x10\xc3"  # short APDUs: the request is chained …
    assert b"\x00\xc3" in retrieval  # … ends in one ENVELOPE with Le …
    assert retrieval[-1] == b"\x00\xc0"  # … and the answer comes in by GET RESPONSE
    assert by_phase[Phase.TERMINATION] == [b"\x00\xc3"]
    assert all(e.sw == 0x9000 for e in result.exchanges if e.phase is not Phase.DATA_RETRIEVAL)

    extended = phone()
    target.responder = extended
    long_result, _ = await tap(reader)
    long_retrieval = long_result.phases[Phase.DATA_RETRIEVAL]
    assert long_retrieval.apdus == 1  # one extended ENVELOPE, the whole answer back
    assert long_retrieval.apdus < outcome.phases[Phase.DATA_RETRIEVAL].apdus
    assert long_retrieval.frames > long_retrieval.apdus  # … in chained ISO-DEP frames

    target.responder = card()
    card_result, _ = await tap(reader)
    heads = [(e.phase, e.head[:2]) for e in card_result.exchanges]
    assert heads == [
        (Phase.DISPATCH, b"\x00\xa4"),  # SELECT NDEF → 6A82: not a phone
        (Phase.SELECTION, b"\x00\xa4"),  # SELECT card AID
        (Phase.DATA_RETRIEVAL, b"\x00\xb0"),  # READ BINARY, one frame
        (Phase.DATA_RETRIEVAL, b"\x00\xb0"),  # READ BINARY, the rest (extended Ne)
        (Phase.CHALLENGE, b"\x00\x88"),  # INTERNAL AUTHENTICATE
    ]
    assert card_result.exchanges[0].sw == 0x6A82


async def test_a_uid_only_card_is_refused_as_unsupported_doctype(
    target: NfcTarget, reader: NfcReader
) -> None:
    target.responder = UidOnlyCard()
    result, outcome = await tap(reader)
    assert result.presentation == UidPresentation(target.uid)
    assert result.kind is CredentialKind.UID
    assert not outcome.granted
    assert outcome.decision is not None
    assert outcome.decision.reason is DenialReason.UNSUPPORTED_DOCTYPE
    assert outcome.reason == "unsupported_doctype"
    assert list(outcome.phases) == [
        Phase.ACTIVATION,
        Phase.DISPATCH,
        Phase.SELECTION,
        Phase.VERIFICATION,
    ]
    assert [e.sw for e in result.exchanges] == [0x6A82, 0x6A82]


@pytest.mark.parametrize(
    ("make", "at", "kind"),
    [
        pytest.param(phone, 7, CredentialKind.MOBILE, id="phone-at-envelope"),
        pytest.param(card, 3, CredentialKind.CARD, id="card-mid-read"),
        pytest.param(card, 1, None, id="at-first-select"),
    ],
)
async def test_a_tag_pulled_away_is_a_read_failure_and_the_next_tap_is_read(
    make: Callable[[], PhoneNfc | ChipCard],
    at: int,
    kind: CredentialKind | None,
    target: NfcTarget,
    reader: NfcReader,
) -> None:
    target.responder = make()
    target.arm(Fault(FaultKind.REMOVE, at=at))
    result, outcome = await tap(reader)
    assert result.presentation is None
    assert result.failure is not None
    assert result.failure.reason is ReadFailureReason.TAG_LOST
    assert result.kind is kind
    assert outcome.decision is None
    assert outcome.reason == "tag_lost"
    assert Phase.VERIFICATION not in outcome.phases
    assert result.exchanges[-1].sw is None  # the exchange that failed is in the trace
    assert sum(cost.apdus for cost in result.phases.values()) == at

    target.responder = phone()
    assert (await tap(reader))[1].granted


class Unspoken:
    """A transport that fails at once: a tag without ISO-DEP, or a broken reader."""

    uid = b"\x04\x01\x02\x03\x04\x05\x06"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        raise self.error


async def test_a_tag_without_iso_dep_is_unsupported() -> None:
    no_dep = ReadFailure(ReadFailureReason.UNSUPPORTED, "Type2Tag does not speak ISO-DEP")
    result = await read_tap(Unspoken(no_dep), reader_id=READER_ID, now=NOW)
    assert result.failure is no_dep
    assert result.kind is None
    assert result.uid == Unspoken.uid
    outcome = await decide(result, VERIFIER, NOW)
    assert outcome.reason == "unsupported"
    assert not outcome.granted


async def test_a_bug_below_fails_closed_as_a_protocol_error() -> None:
    result = await read_tap(Unspoken(ValueError("boom")), reader_id=READER_ID, now=NOW)
    assert result.failure is not None
    assert result.failure.reason is ReadFailureReason.PROTOCOL_ERROR
    assert "ValueError" in result.failure.detail


class InMemory:
    """The holder called in-process: a transport without frame statistics."""

    def __init__(self, responder: PhoneNfc | ChipCard) -> None:
        self.responder = responder
        activated = getattr(responder, "activated", None)
        if callable(activated):
            activated()

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        return self.responder(apdu)


async def test_without_frame_statistics_the_apdu_bytes_are_counted() -> None:
    result = await read_tap(InMemory(card()), reader_id=READER_ID, now=NOW)
    assert isinstance(result.presentation, CardPresentation)
    assert Phase.ACTIVATION not in result.phases
    for cost in result.phases.values():
        assert cost.frames == 0
        assert (cost.bytes_out, cost.bytes_in) == (cost.apdu_bytes_out, cost.apdu_bytes_in)
    read = result.phases[Phase.DATA_RETRIEVAL]
    assert read.apdu_bytes_in > len(CARD_HOLDER.card_object)  # the object, its TLV and SWs
    assert (await decide(result, VERIFIER, NOW)).granted
