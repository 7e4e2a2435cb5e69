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

The socket is bound to 127.0.0.1 (the stock driver binds 0.0.0.0) and stays
bound between sessions, so no datagram of the next tap is lost; a socket pair
wakes the thread at once on :meth:`NfcTarget.stop`.

Fault hooks for tests (:class:`Fault`) act on the Nth command APDU of a
session: leave the field, stall, truncate or oversize the answer's frame,
answer more data than asked, or answer an unexpected status word.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import select
import socket
import threading
import time
from binascii import hexlify, unhexlify
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import nfc
import nfc.clf
import nfc.clf.udp

log = logging.getLogger(__name__)

Responder = Callable[[bytes], bytes]

FSD_BY_FSDI = (16, 24, 32, 40, 48, 64, 96, 128, 256)
LISTEN_TIMEOUT = 1.0
RFOFF = b"RFOFF"


class FaultKind(StrEnum):
    REMOVE = "remove"  # leave the field instead of answering command N
    STALL = "stall"  # answer command N only after `delay` s (asking for time with S(WTX))
    TRUNCATE = "truncate"  # answer N with one frame holding only `size` bytes of the APDU
    OVERSIZE = "oversize"  # answer N in one frame `size` bytes longer than the FSD allows
    STATUS = "status"  # answer N with status word `sw` instead of its own
    EXTRA = "extra"  # answer N with `size` more data bytes than it had (more than Ne)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at: int = 1  # which command APDU of the session, from 1
    size: int = 1
    sw: int = 0x6F00
    delay: float = 0.5
    wtx: bool = True  # a stall keeps the link alive with S(WTX); without, it is silent
    away: float = 0.0  # after REMOVE: how long until a card answers again


NO_FAULT = Fault(FaultKind.STALL, at=0, delay=0.0)  # a stall of no time at all


@dataclass(slots=True)
class TargetStats:
    sessions: int = 0
    apdus: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    wtx: int = 0


class _LoopbackDevice(nfc.clf.udp.Device):  # type: ignore[misc]
    """nfcpy's udp device, bound once to loopback and woken by a socket pair."""

    def __init__(self, host: str, port: int, stats: TargetStats) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, port))
        self.addr = sock.getsockname()
        self._path = "udp:{}:{}".format(*self.addr)
        self.socket = sock
        self.sent_data = self.rcvd_data = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._stats = stats
        self._vendor_name, self._device_name, self._chipset_name = "simulator", "PICC", "UDP"

    def _create_socket(self) -> None:  # the socket lives as long as the device
        pass

    def _bind_socket(self, time_to_return: float) -> bool:
        return True

    def mute(self) -> None:  # a card has no field to switch off
        pass

    def close(self) -> None:
        for sock in (self.socket, self._wake_r, self._wake_w):
            sock.close()

    def wake(self) -> None:
        self._wake_w.send(b"!")

    def _send_data(self, brty: str, data: bytes, addr: Any) -> None:
        self._stats.frames_out += 1
        self._stats.bytes_out += len(data)
        self.socket.sendto(b"%s %s" % (brty.encode(), hexlify(data)), addr)

    def _recv_data(self, timeout: float | None, *brty_list: str) -> tuple[str, bytearray, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = select.select([self.socket, self._wake_r], [], [], wait)[0]
            if self._wake_r in ready:
                self._wake_r.recv(64)
                raise nfc.clf.TimeoutError("woken")
            if not ready:
                raise nfc.clf.TimeoutError("no data received")
            raw, addr = self.socket.recvfrom(4096)
            if raw.startswith(RFOFF):
                raise nfc.clf.BrokenLinkError("RFOFF")
            try:
                brty, hexdata = raw.split()
                data = bytearray(unhexlify(hexdata))
            except ValueError as exc:
                raise nfc.clf.TransmissionError("garbled frame") from exc
            if brty.decode("ascii", "replace") in brty_list:
                self._stats.frames_in += 1
                self._stats.bytes_in += len(data)
                return brty.decode(), data, addr

    def drain(self) -> bool:
        """Drop frames that arrived while the card was busy (it cannot hear then). True,
        leaving what follows queued for the next activation, if the reader switched the
        field off or deselected the card meanwhile."""
        while select.select([self.socket], [], [], 0)[0]:
            raw, addr = self.socket.recvfrom(4096)
            if raw.startswith(RFOFF):
                return True
            if raw.split()[-1:] == [b"c2"]:  # S(DESELECT): answer it, the session is over
                self._send_data("106A", b"\xc2", addr)
                return True
        return False


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
        self._device = _LoopbackDevice(host, port, self.stats)
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
