"""The card's side of nfcpy's udp driver: one socket on loopback, for as long as the card lives.

The stock driver binds 0.0.0.0 at each listen and closes the socket when it
mutes. Here the socket is bound to 127.0.0.1 and stays bound between
sessions, so no datagram of the next tap is lost; a socket pair wakes the
listening thread at once (on :meth:`~simulator.holder.nfc_target.NfcTarget.stop`,
or when a test moves the card into or out of the field).
"""

from __future__ import annotations

import select
import socket
import time
from binascii import hexlify, unhexlify
from dataclasses import dataclass
from typing import Any

import nfc.clf
import nfc.clf.udp

RFOFF = b"RFOFF"


@dataclass(slots=True)
class TargetStats:
    """What the card's link carried: the device counts frames and bytes, the target the rest."""

    sessions: int = 0
    apdus: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    wtx: int = 0


class LoopbackDevice(nfc.clf.udp.Device):  # type: ignore[misc]
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
