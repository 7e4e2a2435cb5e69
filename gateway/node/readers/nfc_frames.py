"""The frame-level guard between nfcpy's ISO-DEP initiator and its frontend.

nfcpy's ISO-DEP initiator (``nfc.tag.tt4``) is used as it is. It is handed a
:class:`FrameWatch` in place of the frontend, which

* bounds every frame wait by the APDU's deadline, so a card that keeps asking
  for more time (S(WTX)) cannot hold the reader past it;
* refuses a frame larger than the FSD the reader announced in RATS, and a
  response that grows past 64 KiB through chaining;
* turns anything but nfcpy's own errors (a garbled udp datagram raises
  ``binascii.Error``) into a protocol error;
* counts frames and bytes, and notes when the card last said anything.

What it saw (an expired deadline, a fault, the time of the last frame) is
left on it for :class:`~gateway.node.readers.nfc.Link` to classify a failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import nfc.clf

MAX_RESPONSE_FRAMES_BYTES = 70_000  # a 65536-byte APDU response plus its block headers
FRAME_DELTA = 49152 / 13.56e6  # ISO/IEC 14443-4 ΔFWT
RATS = 0xE0


@dataclass(slots=True)
class LinkStats:
    """What one tap cost on the air: every frame is one round trip (ISO-DEP is half duplex)."""

    activation_s: float = 0.0  # from the start of the successful sense to the ATS
    apdus: int = 0
    frames: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    wtx: int = 0


class FrameWatch:
    """Stands for the frontend inside nfcpy's tag classes; see the module docstring."""

    def __init__(self, clf: Any, stats: LinkStats) -> None:
        self.clf = clf
        self.stats = stats
        self.fsd = 256 if clf.max_recv_data_size >= 256 else 128
        self.frame_wait = 4096 / 13.56e6 * 2**4 + FRAME_DELTA  # replaced by the ATS's FWI
        self.deadline = float("inf")
        self.expired = False
        self.fault: str | None = None
        self.last_rx = time.monotonic()
        self.received = 0

    def __getattr__(self, name: str) -> Any:  # max_send_data_size, max_recv_data_size, …
        return getattr(self.clf, name)

    def arm(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.expired = False
        self.fault = None
        self.last_rx = time.monotonic()
        self.received = 0

    def exchange(self, data: bytes, timeout: float) -> bytearray:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise nfc.clf.TimeoutError("reader deadline passed")
        wait = min(timeout, remaining)
        self.stats.frames += 1
        self.stats.bytes_out += len(data)
        try:
            frame = self.clf.exchange(data, wait)
        except nfc.clf.TimeoutError:
            self.expired = wait < timeout
            raise
        except nfc.clf.CommunicationError:
            raise
        except Exception as exc:  # the udp driver lets a garbled datagram escape as ValueError
            self.fault = f"unreadable frame: {type(exc).__name__}: {exc}"
            raise nfc.clf.ProtocolError(self.fault) from exc
        if frame is None:
            raise nfc.clf.BrokenLinkError("no target")
        self.last_rx = time.monotonic()
        self.stats.bytes_in += len(frame)
        self.received += len(frame)
        if data and data[0] == RATS and len(frame) >= 4 and frame[1] & 0x20:
            fwi = min(frame[3] >> 4, 14)  # nfcpy reads TB(1) at index 3 the same way
            self.frame_wait = 4096 / 13.56e6 * 2**fwi + FRAME_DELTA
        if len(frame) > self.fsd - 2:
            self.fault = f"frame of {len(frame)} bytes exceeds FSD {self.fsd}"
            raise nfc.clf.ProtocolError(self.fault)
        if self.received > MAX_RESPONSE_FRAMES_BYTES:
            self.fault = f"response chained past {MAX_RESPONSE_FRAMES_BYTES} bytes"
            raise nfc.clf.ProtocolError(self.fault)
        self.stats.wtx += frame[0] & 0xFE == 0xF2 if frame else 0
        return bytearray(frame)
