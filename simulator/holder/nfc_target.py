"""A contactless card (or a phone in card emulation) on nfcpy's udp driver.

nfcpy emulates only Type 3 tags through ``connect(card=…)``, so this is an
ISO/IEC 14443-4 (ISO-DEP) PICC written on ``clf.listen()`` and
``clf.exchange()``: NFC-A activation by nfcpy's udp driver, then RATS → ATS,
I-blocks with chaining both ways, R(ACK)/R(NAK) with the block-number rules
of §7.5.4, S(WTX) while the holder thinks, and S(DESELECT). Each complete
command APDU goes to ``responder`` and its answer goes back. The responder
runs on a worker thread while this one asks the reader for time with S(WTX);
it may have ``activated()`` (called at each new session) and
``stall_for(apdu) -> seconds`` (how long the holder thinks before answering).

The udp socket is bound to loopback for the card's whole life
(:mod:`simulator.holder.nfc_loopback`). Fault hooks for tests
(:mod:`simulator.holder.nfc_faults`) act on the Nth command APDU of a session.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import nfc
import nfc.clf

from simulator.holder.nfc_faults import NO_FAULT, Fault, FaultKind
from simulator.holder.nfc_loopback import LoopbackDevice, TargetStats

log = logging.getLogger(__name__)

Responder = Callable[[bytes], bytes]

FSD_BY_FSDI = (16, 24, 32, 40, 48, 64, 96, 128, 256)
LISTEN_TIMEOUT = 1.0


class _SessionEnded(Exception):
    """The reader left, deselected us, or a fault took the card away."""


@dataclass
class _Session:
    fsd: int
    faults: dict[int, Fault]
    responder: Responder
    bn: int = 1  # the PICC's block number, 1 after activation (§7.5.3.2)
    chain: bytearray = field(default_factory=bytearray)
    pending: list[bytes] = field(default_factory=list)  # the rest of a chained answer
    last: bytes = b""
    commands: int = 0


class NfcTarget:
    """A card in the field of ``udp:127.0.0.1:PORT`` (see :attr:`path`), on its own thread."""

    def __init__(
        self,
        responder: Responder,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        uid: bytes | None = None,
        fwi: int = 9,
        historical: bytes = b"\x80",
        idle_timeout: float = 2.0,
    ) -> None:
        self.responder = responder
        self.uid = uid or b"\x08" + os.urandom(3)  # 08: a random single-size NFCID1
        self.fwi = fwi
        self.fwt = 4096 / 13.56e6 * 2**fwi
        self.historical = historical
        self.idle_timeout = idle_timeout
        self._present = True
        self._away_until = 0.0
        self.stats = TargetStats()
        self._armed: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._device = LoopbackDevice(host, port, self.stats)
        self._clf = nfc.ContactlessFrontend()
        self._clf.device = self._device
        self._worker = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="nfc-target-app")
        self._thread = threading.Thread(target=self._run, name="nfc-target", daemon=True)

    @property
    def path(self) -> str:
        return "udp:{}:{}".format(*self._device.addr)

    @property
    def present(self) -> bool:
        """Whether a card is in the field; False makes the target deaf at once."""
        return self._present

    @present.setter
    def present(self, value: bool) -> None:
        if value != self._present:  # a wake ends the session under way: only on a change
            self._present = value
            self._device.wake()

    def arm(self, *faults: Fault) -> None:
        """Faults for the next session only."""
        with self._lock:
            self._armed = list(faults)

    def start(self) -> NfcTarget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._device.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._worker.shutdown(wait=True)
        self._clf.close()

    def __enter__(self) -> NfcTarget:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- activation -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.present or time.monotonic() < self._away_until:
                self._device.drain()
                self._stop.wait(0.005)
                continue
            local = nfc.clf.LocalTarget("106A")
            local.sens_res = bytearray.fromhex("0400")  # single-size UID, bit frame anticollision
            local.sdd_res = bytearray(self.uid)
            local.sel_res = bytearray.fromhex("20")  # ISO/IEC 14443-4 compliant
            try:
                activated = self._clf.listen(local, LISTEN_TIMEOUT)
            except nfc.clf.CommunicationError:
                continue
            rats = None if activated is None else activated.tt4_cmd
            if rats and len(rats) == 2 and rats[0] == 0xE0:
                self._activated(bytes(rats))

    def _activated(self, rats: bytes) -> None:
        with self._lock:
            faults, self._armed = self._armed, []
        self.stats.sessions += 1
        session = _Session(
            fsd=FSD_BY_FSDI[min(rats[1] >> 4, 8)],
            faults={fault.at: fault for fault in faults},
            responder=self.responder,
        )
        hook = getattr(session.responder, "activated", None)
        if callable(hook):  # a new session: the application forgets what was selected
            self._worker.submit(hook)
        # TL, T0 (TA, TB, TC follow; FSCI 8: 256 bytes), TA (106 kbps only), TB (FWI, SFGI 0),
        # TC (no NAD, no CID), historical bytes.
        ats = bytes((5 + len(self.historical), 0x78, 0x00, self.fwi << 4, 0x00)) + self.historical
        try:
            frame = self._send(ats, session)
            while True:
                frame = self._send(self._on_frame(frame, session), session)
        except _SessionEnded as ended:
            log.debug("session ended: %s", ended)
        except Exception:  # a bug here must not take the card away for the next test
            log.exception("ISO-DEP session failed")

    # --- ISO-DEP ----------------------------------------------------------------------------

    def _send(self, frame: bytes | None, session: _Session) -> bytearray:
        """Send ``frame`` (None: stay silent) and wait for the reader's next frame."""
        if frame is not None:
            session.last = frame
        while True:
            try:
                received: bytearray | None = self._clf.exchange(frame, self.idle_timeout)
            except nfc.clf.BrokenLinkError as exc:
                raise _SessionEnded("field off") from exc
            except nfc.clf.TimeoutError as exc:
                raise _SessionEnded("reader silent or target stopped") from exc
            except nfc.clf.CommunicationError:  # a garbled frame is ignored (§7.5.4.2)
                received = None
            if self._stop.is_set():
                raise _SessionEnded("target stopped")
            if received:
                return received
            frame = None

    def _on_frame(self, frame: bytearray, session: _Session) -> bytes | None:
        pcb = frame[0]
        if pcb & 0xE2 == 0x02:  # I-block
            session.bn = pcb & 1
            session.pending = []
            session.chain += frame[1:]
            if pcb & 0x10:
                return bytes((0xA2 | session.bn,))  # R(ACK): send the next part
            command, session.chain = bytes(session.chain), bytearray()
            return self._answer(command, session)
        if pcb & 0xE6 == 0xA2:  # R-block
            nak, number = bool(pcb & 0x10), pcb & 1
            if number == session.bn:
                return session.last  # rules 11 and 12: the last block again
            if nak:
                return bytes((0xA2 | session.bn,))
            if session.pending:  # rule 13: chaining goes on
                session.bn = number
                return self._next_block(session)
            return None
        if pcb == 0xC2:  # S(DESELECT)
            self._clf.exchange(b"\xc2", 0)
            raise _SessionEnded("deselected")
        return None  # anything else is not for us: stay silent

    def _next_block(self, session: _Session) -> bytes:
        data = session.pending.pop(0)
        more = 0x10 if session.pending else 0x00
        return bytes((0x02 | more | session.bn,)) + data

    def _answer(self, command: bytes, session: _Session) -> bytes | None:
        session.commands += 1
        self.stats.apdus += 1
        fault, kind = session.faults.get(session.commands, NO_FAULT), FaultKind
        if fault.kind is kind.REMOVE:
            self._away_until = time.monotonic() + fault.away
            raise _SessionEnded("removed from the field")
        stall = fault.delay if fault.kind is kind.STALL else 0.0
        thinking = getattr(session.responder, "stall_for", None)  # e.g. a slow wallet
        if callable(thinking):
            stall = max(stall, float(thinking(command)))
        response = self._compute(command, session, stall, fault.wtx)
        if self._device.drain():
            raise _SessionEnded("field off while busy")
        if fault.kind is kind.STATUS:
            response = response[:-2] + fault.sw.to_bytes(2, "big")
        if fault.kind is kind.EXTRA:
            response = response[:-2] + os.urandom(fault.size) + response[-2:]
        inf = session.fsd - 3
        if fault.kind is kind.TRUNCATE:
            return bytes((0x02 | session.bn,)) + response[: fault.size]
        if fault.kind is kind.OVERSIZE:
            padded = response + os.urandom(max(0, inf + fault.size - len(response)))
            return bytes((0x02 | session.bn,)) + padded
        session.pending = [response[i : i + inf] for i in range(0, len(response), inf)] or [b""]
        return self._next_block(session)

    def _compute(self, command: bytes, session: _Session, stall: float, wtx: bool) -> bytes:
        """Run the responder off this thread; ask for time (S(WTX)) while it or a stall lasts."""
        future = self._worker.submit(session.responder, command)
        ready_at = time.monotonic() + stall
        speak_by = time.monotonic() + self.fwt * 0.5  # stay well inside the reader's FWT
        wtxm = 1
        while True:
            now = time.monotonic()
            done = future.done()
            if done and now >= ready_at:
                break
            if self._stop.is_set():
                raise _SessionEnded("target stopped")
            if self._device.drain():  # RF off resets a card at once, busy or not
                raise _SessionEnded("field off while busy")
            if now >= speak_by:
                if not wtx:  # a silent stall: say nothing, however long it takes
                    speak_by = float("inf")
                    continue
                self.stats.wtx += 1
                reply = self._send(bytes((0xF2, wtxm)), session)
                if reply[0] == 0xC2:
                    self._on_frame(reply, session)
                speak_by = time.monotonic() + wtxm * self.fwt * 0.5
                continue
            until = min(speak_by, ready_at) if done else speak_by
            wait = min(max(0.0, until - now), 0.005)
            if done:
                self._stop.wait(wait)
            else:
                cf.wait([future], timeout=wait)
        try:
            return bytes(future.result())
        except Exception:
            log.exception("responder failed")
            return b"\x6f\x00"
