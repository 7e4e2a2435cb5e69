"""The stage the story is played on: an authority, one gate, a clock and the record.

The clock is injected and only ever moves forward in fixed steps; nothing
sleeps and nothing reads the wall clock. With a directory to keep, every
published token and every presented credential is written there, so that
``gateway credential verify`` can check any beat again on its own.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import structlog

from gateway.central.authority.service import Authority
from gateway.credentials import saved
from gateway.credentials.status_list import StatusListError
from gateway.credentials.verifier import CardPresentation, MobilePresentation, Presentation
from gateway.tour.devices import Device, Gate
from gateway.tour.record import APPLIED, DENIED, GRANTED, REFUSED, Beat

STEP = dt.timedelta(seconds=15)  # between two beats
PUBLISHER = "tour/status-publisher"
TOKENS_DIR = "status"
TAPS_DIR = "taps"

log = structlog.get_logger("gateway.tour")


class Stage:
    def __init__(self, authority: Authority, gate: Gate, now: dt.datetime, keep: Path | None):
        self.authority = authority
        self.gate = gate
        self.now = now
        self.keep = keep
        self.beats: list[Beat] = []
        self.tokens: list[bytes] = []  # every token published, version n at [n - 1]
        self._held: str | None = None  # file of the token the gate holds
        self._events: list[str] = []

    # --- Time and narration ------------------------------------------------------

    def step(self, delta: dt.timedelta = STEP) -> None:
        self.now += delta

    def event(self, text: str) -> None:
        """Something that happens before the next beat; reported with it."""
        self._events.append(text)
        log.info("tour.event", at=self.now.isoformat(), what=text)

    def skip_past_ttl(self) -> tuple[int, int]:
        """Move the clock past the held token's iat + ttl, as for a gate cut off from updates.

        Returns the seconds since the token's iat, and its ttl.
        """
        held = self.gate.held_token()
        if held is None or held.ttl is None:
            raise RuntimeError("the gate holds no token with a ttl")
        stale = dt.datetime.fromtimestamp(held.issued_at + held.ttl, tz=self.now.tzinfo)
        self.now = max(self.now, stale) + STEP
        return int(self.now.timestamp()) - held.issued_at, held.ttl

    # --- The authority's side ------------------------------------------------------

    def publish(self) -> int:
        """The authority signs a new Status List Token and the gate applies it."""
        token = self.authority.publish_status_list(self.now, actor=PUBLISHER)
        self.tokens.append(token)
        version = len(self.tokens)
        held = self.gate.apply(token, self.now)
        self._held = self._write(f"{TOKENS_DIR}/v{version}.cwt", token)
        self.event(f"status list v{version} published and applied")
        log.info(
            "tour.token", version=version, iat=held.issued_at, ttl=held.ttl, exp=held.expires_at
        )
        return version

    # --- The gate's side -------------------------------------------------------------

    def tap(
        self,
        title: str,
        device: Device,
        expected: str,
        *,
        credential: str,
    ) -> Beat:
        """One tap: the device presents to the gate and the real verifier decides."""
        presentation = device.present(self.gate, self.now)
        verdict = self.gate.verify(presentation, self.now)
        decision = verdict.decision
        reason = None if decision.granted or decision.reason is None else decision.reason.value
        number = len(self.beats) + 1
        return self._record(
            Beat(
                number=number,
                at=self.now,
                title=title,
                credential=credential,
                expected=expected,
                actual=reason or GRANTED,
                decision=DENIED if reason else GRANTED,
                reason=reason,
                detail=decision.detail,
                cpu_us=verdict.cpu_us,
                events=self._take_events(),
                holder_id=decision.holder_id,
                serial=decision.credential_serial,
                saved=self._save_tap(number, presentation),
                status_token=self._held,
            )
        )

    def feed_token(self, title: str, version: int, expected: str) -> Beat:
        """Hand the gate an already published token again (a rollback, when it is older)."""
        reason: str | None = None
        try:
            self.gate.apply(self.tokens[version - 1], self.now)
        except StatusListError as exc:
            actual, detail = REFUSED, str(exc)
            reason = "rollback" if detail.startswith("rollback") else "bad token"
        else:
            actual, detail = APPLIED, "the gate took it"
        return self._record(
            Beat(
                number=len(self.beats) + 1,
                at=self.now,
                title=title,
                credential=f"status list v{version}",
                expected=expected,
                actual=actual,
                decision=actual,
                reason=reason,
                detail=detail,
                events=self._take_events(),
                status_token=self._held,
            )
        )

    # --- Record and files --------------------------------------------------------------

    def _record(self, beat: Beat) -> Beat:
        self.beats.append(beat)
        fields = {"beat": beat.number, "expected": beat.expected, "actual": beat.actual}
        if beat.matched:
            log.info("tour.beat", title=beat.title, **fields)
        else:
            log.warning("tour.mismatch", title=beat.title, detail=beat.detail, **fields)
        return beat

    def _take_events(self) -> tuple[str, ...]:
        events, self._events = tuple(self._events), []
        return events

    def _write(self, name: str, data: bytes | str) -> str | None:
        if self.keep is None:
            return None
        path = self.keep / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        return name

    def _save_tap(self, number: int, presentation: Presentation) -> str | None:
        if self.keep is None:
            return None
        record: saved.SavedPresentation
        if isinstance(presentation, MobilePresentation):
            record = saved.SavedMobile(
                device_response=presentation.device_response,
                session_transcript=presentation.session_transcript,
                captured_at=self.now,
            )
        elif isinstance(presentation, CardPresentation):
            record = saved.SavedCard(
                card_object=presentation.card_object,
                challenge=presentation.challenge,
                signature=presentation.signature,
                reader_id=self.gate.reader_id,
                captured_at=self.now,
            )
        else:
            return None
        return self._write(f"{TAPS_DIR}/{number:02d}-{record.kind}.json", saved.dump(record) + "\n")
