"""One NFC tap, whatever answers: a phone's mdoc or the chip ID card, and what each step cost.

A gate calls :func:`read_tap` on the :class:`~gateway.node.readers.nfc.Link`
of a tap, then :func:`decide`. A phone answers 6A82 to the card application
and a card 6A82 to the NFC Forum NDEF application, so the SELECT's status
word tells them apart without a guess:

1. the mdoc path first (:func:`~gateway.node.readers.mdoc_nfc.read_mdoc`):
   SELECT of the NDEF application, engagement, the 18013-5 session;
2. if that first SELECT answered 6A82, the card path on the same link
   (:func:`~gateway.node.readers.card_nfc.read_card`), which gives a
   :class:`CardPresentation`, or a :class:`UidPresentation` when the card has
   our application neither (a transit or bank card: the verifier refuses it
   as ``unsupported_doctype``);
3. a tag that does not speak ISO-DEP at all is the link's own
   ``unsupported`` read failure.

The conversations stay in ``mdoc_nfc`` and ``card_nfc``; this module only
watches them through :class:`_Recorder`, a transport that tells the phases
apart by instruction and application and counts, per phase, the wall time,
the CPU time of this process, the APDU round trips, the ISO-DEP frames and
the bytes each way (from :attr:`Link.stats <gateway.node.readers.nfc.Link.stats>`
when the transport has it, else the APDU bytes). The phases:

``activation``
    RATS/ATS, from the link's own statistics (sense and anticollision are not
    counted by nfcpy's frame watch).
``engagement``
    the phone's Type 4 Tag NDEF file: SELECT NDEF, SELECT CC, READ CC, SELECT
    NDEF file, READ NDEF, and parsing the Handover Select.
``dispatch``
    a card's answer 6A82 to SELECT NDEF: what trying the phone first costs a card.
``session_setup``
    SELECT of the mdoc application, then until the first ENVELOPE leaves: the
    reader's ephemeral key, ECDH, HKDF and the sealed DeviceRequest.
``data_retrieval``
    phone: ENVELOPE (chained) and GET RESPONSE until the SessionData is in,
    and its decryption; card: READ BINARY of the card object.
``termination``
    the phone's SessionData ``{status: 20}`` (best effort).
``selection``
    SELECT of the card application.
``challenge``
    INTERNAL AUTHENTICATE with a fresh challenge.
``verification``
    added by :func:`decide`: the verifier's verdict.

CPU time is :func:`time.process_time`: the gate's own only when the holder
runs in another process (a real phone, or ``bench/tap.py``'s child process).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.credentials.decision import CredentialKind, Decision
from gateway.credentials.verifier import (
    CardPresentation,
    MobilePresentation,
    Presentation,
    UidPresentation,
    Verifier,
)
from gateway.node.readers.apdu import (
    CLA_CHAINING,
    INS_ENVELOPE,
    INS_INTERNAL_AUTHENTICATE,
    INS_READ_BINARY,
    INS_SELECT,
    SW,
    SW1_MORE_DATA,
    ApduTransport,
)
from gateway.node.readers.card_nfc import CARD_AID, read_card
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.mdoc_nfc import MDOC_AID, NDEF_AID, read_mdoc
from gateway.node.readers.nfc_frames import LinkStats

log = logging.getLogger(__name__)

_HEAD = 16  # command bytes kept per exchange in the trace: the header and a short AID


class Phase(StrEnum):
    ACTIVATION = "activation"
    ENGAGEMENT = "engagement"
    DISPATCH = "dispatch"
    SESSION_SETUP = "session_setup"
    DATA_RETRIEVAL = "data_retrieval"
    TERMINATION = "termination"
    SELECTION = "selection"
    CHALLENGE = "challenge"
    VERIFICATION = "verification"


@dataclass(slots=True)
class PhaseCost:
    """What one phase of a tap cost. ``bytes_*`` are ISO-DEP frame bytes (PCB included, CRC
    not) when the link counts frames, else APDU bytes; ``apdu_bytes_*`` are always APDUs."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    apdus: int = 0  # APDU round trips
    frames: int = 0  # ISO-DEP frame round trips (half duplex: one frame back for each sent)
    bytes_out: int = 0
    bytes_in: int = 0
    apdu_bytes_out: int = 0
    apdu_bytes_in: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_ms": round(self.wall_s * 1e3, 3),
            "cpu_ms": round(self.cpu_s * 1e3, 3),
            "apdus": self.apdus,
            "frames": self.frames,
            "bytes_out": self.bytes_out,
            "bytes_in": self.bytes_in,
            "apdu_bytes_out": self.apdu_bytes_out,
            "apdu_bytes_in": self.apdu_bytes_in,
        }


@dataclass(frozen=True, slots=True)
class Exchange:
    """One APDU round trip, for traces and docs."""

    phase: Phase
    head: bytes  # the first bytes of the command APDU (CLA INS P1 P2 Lc …)
    command_size: int
    response_size: int  # 0 when the exchange failed
    sw: int | None  # None when the exchange failed
    frames: int
    bytes_out: int
    bytes_in: int
    wall_s: float


@dataclass(frozen=True, slots=True)
class TapResult:
    """What :func:`read_tap` read: a presentation or the read failure, and its phases."""

    presentation: Presentation | None
    failure: ReadFailure | None
    kind: CredentialKind | None  # what was being read; None if nothing answered
    phases: dict[Phase, PhaseCost]  # in the order they happened
    exchanges: tuple[Exchange, ...]
    uid: bytes = b""

    @property
    def wall_s(self) -> float:
        return sum(cost.wall_s for cost in self.phases.values())

    @property
    def cpu_s(self) -> float:
        return sum(cost.cpu_s for cost in self.phases.values())


@dataclass(frozen=True, slots=True)
class TapOutcome:
    """The gate's answer to one tap: the verifier's decision, or why nothing was verified."""

    decision: Decision | None
    failure: ReadFailure | None
    kind: CredentialKind | None
    phases: dict[Phase, PhaseCost] = field(default_factory=dict)  # the tap's, plus verification

    @property
    def granted(self) -> bool:
        return self.decision is not None and self.decision.granted

    @property
    def reason(self) -> str | None:
        """The denial reason, or the read failure reason; None when granted."""
        if self.failure is not None:
            return self.failure.reason.value
        if self.decision is None or self.decision.reason is None:
            return None
        return self.decision.reason.value

    @property
    def wall_s(self) -> float:
        return sum(cost.wall_s for cost in self.phases.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "reason": self.reason,
            "kind": None if self.kind is None else self.kind.value,
            "decision": None if self.decision is None else self.decision.to_json(),
            "failure": None if self.failure is None else self.failure.detail,
            "phases": {phase.value: cost.to_json() for phase, cost in self.phases.items()},
        }


class _Recorder:
    """An :class:`ApduTransport` around the link that attributes each exchange to a phase.

    A phase begins when its first command leaves and ends when the next phase's
    first command leaves (or the read ends), so the CPU work between two
    exchanges counts to the phase it prepares or finishes.
    """

    def __init__(self, link: ApduTransport, phase: Phase) -> None:
        self._link = link
        stats = getattr(link, "stats", None)
        self._stats = stats if isinstance(stats, LinkStats) else None
        self.uid: bytes = bytes(getattr(link, "uid", b""))
        self.phases: dict[Phase, PhaseCost] = {}
        self.exchanges: list[Exchange] = []
        self.kind: CredentialKind | None = None
        self.ndef_missing = False  # the first SELECT NDEF answered 6A82
        self._app: bytes | None = None
        self._message_done = False  # the phone's SessionData is in; the next ENVELOPE ends
        self._phase = phase
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        if self._stats is not None and self._stats.apdus == 0 and self._stats.frames:
            stats = self._stats  # activation: RATS and ATS, counted before the link was ours
            self.phases[Phase.ACTIVATION] = PhaseCost(
                wall_s=stats.activation_s,
                frames=stats.frames,
                bytes_out=stats.bytes_out,
                bytes_in=stats.bytes_in,
            )
        self.phases[phase] = PhaseCost()

    def _switch(self, phase: Phase) -> None:
        self.close()
        self._phase = phase
        self.phases.setdefault(phase, PhaseCost())

    def close(self) -> None:
        """Charge the time since the last switch to the current phase."""
        wall, cpu = time.perf_counter(), time.process_time()
        cost = self.phases[self._phase]
        cost.wall_s += wall - self._wall
        cost.cpu_s += cpu - self._cpu
        self._wall, self._cpu = wall, cpu

    def _classify(self, apdu: bytes) -> Phase:
        if len(apdu) < 4:
            return self._phase  # not an APDU: the link will say so
        ins = apdu[1]
        if ins == INS_SELECT and apdu[2] == 0x04 and len(apdu) >= 5:
            aid = apdu[5 : 5 + apdu[4]]
            self._app = aid
            if aid == NDEF_AID:
                return Phase.ENGAGEMENT
            if aid == MDOC_AID:
                self.kind = CredentialKind.MOBILE
                return Phase.SESSION_SETUP
            if aid == CARD_AID:
                self.kind = CredentialKind.CARD
                return Phase.SELECTION
            return self._phase
        if self._app == CARD_AID:
            if ins == INS_READ_BINARY:
                return Phase.DATA_RETRIEVAL
            if ins == INS_INTERNAL_AUTHENTICATE:
                return Phase.CHALLENGE
        if self._app == MDOC_AID and ins == INS_ENVELOPE:
            if self._phase is Phase.SESSION_SETUP:
                return Phase.DATA_RETRIEVAL
            if self._message_done:
                return Phase.TERMINATION
        return self._phase

    def _settle(self, apdu: bytes, sw: int) -> None:
        """Act on the status word: a phone's message complete, or a card's NDEF miss."""
        if len(apdu) < 4:
            return
        if self._app == NDEF_AID and apdu[1] == INS_SELECT and apdu[2] == 0x04:
            if sw == SW.FILE_NOT_FOUND and not self.exchanges:
                self.ndef_missing = True  # not a wallet: this round trip is the dispatch's
                self.phases[Phase.DISPATCH] = self.phases.pop(Phase.ENGAGEMENT)
                self._phase = Phase.DISPATCH
            elif sw == SW.OK:
                self.kind = CredentialKind.MOBILE
        elif self._app == MDOC_AID and self._phase is Phase.DATA_RETRIEVAL:
            chained = apdu[0] == CLA_CHAINING and apdu[1] == INS_ENVELOPE
            self._message_done = not chained and sw >> 8 != SW1_MORE_DATA

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        phase = self._classify(apdu)
        if phase is not self._phase:
            self._switch(phase)
        stats = self._stats
        before = (stats.frames, stats.bytes_out, stats.bytes_in) if stats else (0, 0, 0)
        started = time.perf_counter()
        response: bytes | None = None
        try:
            response = await self._link.exchange(apdu, timeout)
        finally:
            size = 0 if response is None else len(response)
            sw = None if response is None or size < 2 else int.from_bytes(response[-2:], "big")
            if stats is not None:
                frames = stats.frames - before[0]
                out, into = stats.bytes_out - before[1], stats.bytes_in - before[2]
            else:
                frames, out, into = 0, len(apdu), size
            if sw is not None:
                self._settle(apdu, sw)
            cost = self.phases[self._phase]
            cost.apdus += 1
            cost.frames += frames
            cost.bytes_out += out
            cost.bytes_in += into
            cost.apdu_bytes_out += len(apdu)
            cost.apdu_bytes_in += size
            self.exchanges.append(
                Exchange(
                    self._phase,
                    bytes(apdu[:_HEAD]),
                    len(apdu),
                    size,
                    sw,
                    frames,
                    out,
                    into,
                    time.perf_counter() - started,
                )
            )
        return response


async def read_tap(
    link: ApduTransport,
    *,
    reader_id: str,
    now: dt.datetime,
    device_request: bytes | None = None,
    timeout: float | None = None,
) -> TapResult:
    """Read whatever was tapped on ``link``: the phone's mdoc, else the chip card.

    Never raises a :class:`ReadFailure`: it is in the result. ``reader_id`` and
    ``now`` go into a card's challenge; ``device_request`` replaces the door's
    DeviceRequest for a phone. The caller owns ``link`` and closes it.
    """
    recorder = _Recorder(link, Phase.ENGAGEMENT)
    presentation: Presentation | None = None
    failure: ReadFailure | None = None
    try:
        try:
            presentation = await read_mdoc(recorder, device_request=device_request, timeout=timeout)
        except ReadFailure as missed:
            if not (recorder.ndef_missing and missed.reason is ReadFailureReason.UNSUPPORTED):
                raise
            presentation = await read_card(recorder, reader_id=reader_id, now=now, timeout=timeout)
    except ReadFailure as caught:
        failure = caught
    except Exception as exc:  # fail closed: a bug in a reader must not keep the gate busy
        log.exception("tap read failed unexpectedly")
        detail = f"reader error: {type(exc).__name__}: {exc}"
        failure = ReadFailure(ReadFailureReason.PROTOCOL_ERROR, detail)
    recorder.close()
    kind = _kind(presentation) if presentation is not None else recorder.kind
    return TapResult(
        presentation,
        failure,
        kind,
        recorder.phases,
        tuple(recorder.exchanges),
        recorder.uid,
    )


async def decide(tap: TapResult, verifier: Verifier, now: dt.datetime) -> TapOutcome:
    """The verdict on ``tap``, with the verification phase added to its costs.

    Verification runs on the calling (event loop) thread: it is CPU-bound and
    takes about a millisecond, and the :class:`Verifier`'s memory is not shared
    with another thread.
    """
    phases = {phase: dataclasses.replace(cost) for phase, cost in tap.phases.items()}
    if tap.presentation is None:
        return TapOutcome(None, tap.failure, tap.kind, phases)
    wall, cpu = time.perf_counter(), time.process_time()
    decision = verifier.verify(tap.presentation, now)
    phases[Phase.VERIFICATION] = PhaseCost(
        wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu
    )
    return TapOutcome(decision, None, decision.kind, phases)


def _kind(presentation: Presentation) -> CredentialKind:
    if isinstance(presentation, MobilePresentation):
        return CredentialKind.MOBILE
    if isinstance(presentation, CardPresentation):
        return CredentialKind.CARD
    assert isinstance(presentation, UidPresentation)
    return CredentialKind.UID
