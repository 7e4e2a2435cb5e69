"""A phone in ISO/IEC 18013-5 mdoc peripheral server mode: the GATT server of §8.3.3.1.1.

Each :class:`Phone` offers the mdoc service (State, Client2Server,
Server2Client) and answers with its holder's ``handle(message) -> bytes``: the
virtual wallet or a stub. The gate reaches it through the fake bleak backend
of :mod:`simulator.holder.ble_backend`, all on the event loop: notifications
and delays are scheduled with ``call_soon``/``call_later``, in the order a
radio keeps. The phone frames and reassembles with code of its own, not the
gate's. :class:`Faults` make it hostile or unlucky.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

if TYPE_CHECKING:  # the backend imports this module: a runtime import would be circular
    from simulator.holder.ble_backend import FakeBleakClient

# 18013-5 Table 12, the mdoc service in peripheral server mode.
STATE = "00000001-a123-48ce-896b-4c76973373e6"
CLIENT2SERVER = "00000002-a123-48ce-896b-4c76973373e6"
SERVER2CLIENT = "00000003-a123-48ce-896b-4c76973373e6"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
_STATE_HANDLE, _CLIENT2SERVER_HANDLE, _SERVER2CLIENT_HANDLE = 2, 4, 5


class Holder(Protocol):
    def handle(self, message: bytes) -> bytes: ...


@dataclass
class Faults:
    """What a hostile or unlucky phone does instead of answering properly."""

    stall: bool = False  # take the request and never answer
    drop_after_notifications: int | None = None  # leave after sending this many answer chunks
    drop_after_writes: int | None = None  # leave after receiving this many request chunks
    bad_flag: int | None = None  # lead the first answer chunk with this byte, not 0x01/0x00
    empty_chunk: bool = False  # send an empty notification before the answer
    end_session: bool = False  # write 0x02 to State instead of answering
    no_service: bool = False  # advertise, but expose no mdoc service once connected


class Phone:
    """The GATT server side: one mdoc service, one central at a time."""

    def __init__(
        self,
        holder: Holder,
        service_uuid: UUID,
        *,
        address: bytes | None = None,
        mtu: int = 517,
        faults: Faults | None = None,
    ) -> None:
        self.holder = holder
        self.service_uuid = str(service_uuid).lower()
        self.address_bytes = address or os.urandom(6)
        self.address = ":".join(f"{octet:02X}" for octet in self.address_bytes)
        self.mtu = mtu
        self.faults = faults or Faults()
        self.name = "mdoc"
        self.central: FakeBleakClient | None = None
        self.connections = 0
        self.received: list[bytes] = []  # every whole message the reader sent
        self.sent: list[bytes] = []  # every whole message this phone answered
        self.state_writes: list[bytes] = []
        self._parts: list[bytes] = []
        self._writes = 0
        self._started = False

    @property
    def advertising(self) -> bool:
        return self.central is None  # phones stop advertising once a reader is connected

    def attach(self, central: FakeBleakClient) -> None:
        if self.central is not None:
            raise BleakError(f"{self.address} is already connected to a reader")
        self.central = central
        self.connections += 1
        self._parts, self._writes, self._started = [], 0, False

    def detach(self) -> None:
        self.central = None

    def gatt(self, central: FakeBleakClient) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        if self.faults.no_service:
            return services
        service = BleakGATTService(None, 1, self.service_uuid)
        services.add_service(service)

        def size() -> int:
            return central.mtu_size - 3

        layout: list[tuple[int, str, list[Any]]] = [
            (_STATE_HANDLE, STATE, ["notify", "write-without-response"]),
            (_CLIENT2SERVER_HANDLE, CLIENT2SERVER, ["write-without-response"]),
            (_SERVER2CLIENT_HANDLE, SERVER2CLIENT, ["notify"]),
        ]
        for handle, uuid, properties in layout:
            characteristic = BleakGATTCharacteristic(None, handle, uuid, properties, size, service)
            services.add_characteristic(characteristic)
            if "notify" in properties:
                services.add_descriptor(BleakGATTDescriptor(None, handle + 1, CCCD, characteristic))
        return services

    # What the reader writes.

    def on_write(self, uuid: str, value: bytes) -> None:
        if uuid == STATE:
            self.state_writes.append(value)
            self._started = value == b"\x01"  # 0x02 (or anything else) ends the transfer
        elif uuid == CLIENT2SERVER and self._started:
            self._writes += 1
            self._on_chunk(value)
            if self._writes == self.faults.drop_after_writes:
                self.leave()

    def _on_chunk(self, value: bytes) -> None:
        if not value or value[0] not in (0, 1):
            self.leave()  # a phone drops a reader that does not speak the protocol
            return
        self._parts.append(value[1:])
        if value[0] == 0x01:
            return
        message, self._parts = b"".join(self._parts), []
        self.received.append(message)
        delay = float(getattr(self.holder, "delay", 0.0))
        asyncio.get_running_loop().call_later(delay, self._answer, message)

    # What the phone sends back.

    def _answer(self, message: bytes) -> None:
        central, faults = self.central, self.faults
        if central is None or faults.stall:
            return
        if faults.end_session:
            central.notify(_STATE_HANDLE, b"\x02")
            return
        try:
            reply = self.holder.handle(message)
        except Exception:  # a wallet that chokes ends the session, as a phone app would
            central.notify(_STATE_HANDLE, b"\x02")
            return
        if not reply:
            return
        self.sent.append(reply)
        if faults.empty_chunk:
            central.notify(_SERVER2CLIENT_HANDLE, b"")
        step = min(512, central.mtu_size - 3) - 1
        chunks = [reply[at : at + step] for at in range(0, len(reply), step)]
        for index, piece in enumerate(chunks):
            if index == faults.drop_after_notifications:
                self.leave()
                return
            flag = 0x00 if index == len(chunks) - 1 else 0x01
            if index == 0 and faults.bad_flag is not None:
                flag = faults.bad_flag
            central.notify(_SERVER2CLIENT_HANDLE, bytes([flag]) + piece)

    def leave(self) -> None:
        """The phone walks out of range: the link drops, unsolicited."""
        central = self.central
        if central is not None:
            self.detach()
            central.link_lost()
