"""A phone in ISO/IEC 18013-5 mdoc peripheral server mode, behind a fake bleak backend.

There is no radio here, so the air is faked at bleak's own seam: :class:`Air`
hands out a ``BaseBleakClient`` subclass (``BleakClient(..., backend=...)``)
and a ``BaseBleakScanner`` subclass. Behind them each :class:`Phone` is the
GATT server of §8.3.3.1.1 (State, Client2Server, Server2Client), answering
with its holder's ``handle(message) -> bytes``: the virtual wallet or a stub.
All on the event loop: notifications, delays and an unsolicited disconnect
are scheduled with ``call_soon``/``call_later``, in the order a radio keeps.
The phone frames and reassembles with code of its own, not the gate's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.exc import BleakGATTProtocolErrorCode as _ATT

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


class Air:
    """The radio around one gate: the phones in range and bleak backends that reach them."""

    def __init__(self, *, central_mtu: int = 517, advertising_interval: float = 0.005) -> None:
        self.central_mtu = central_mtu
        self.advertising_interval = advertising_interval
        self.phones: dict[str, Phone] = {}
        # bleak takes backend classes, not instances: bind a subclass of each to this air.
        self.client_backend = cast(
            type[BaseBleakClient], type("FakeBleakClient", (FakeBleakClient,), {"air": self})
        )
        self.scanner_backend = cast(
            type[BaseBleakScanner], type("FakeBleakScanner", (FakeBleakScanner,), {"air": self})
        )

    def add(self, phone: Phone) -> Phone:
        self.phones[phone.address] = phone
        return phone

    def remove(self, phone: Phone) -> None:
        phone.leave()
        self.phones.pop(phone.address, None)

    def links(self) -> int:
        """How many phones a reader is still connected to."""
        return sum(phone.central is not None for phone in self.phones.values())


class FakeBleakClient(BaseBleakClient):
    """bleak's client interface over :class:`Air`; no threads, no sockets."""

    air: ClassVar[Air]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        self._phone: Phone | None = details if isinstance(details, Phone) else None
        self._connected = False
        self._mtu = 23
        self._callbacks: dict[int, NotifyCallback] = {}

    @property
    def name(self) -> str:
        return self._phone.name if self._phone is not None else self.address

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        phone = self._phone or self.air.phones.get(self.address.upper())
        if phone is None or phone.address not in self.air.phones:
            raise BleakDeviceNotFoundError(self.address, f"{self.address} is not in range")
        await asyncio.sleep(0)  # the connection request goes over the air
        phone.attach(self)
        self._phone, self._connected = phone, True
        self._mtu = min(phone.mtu, self.air.central_mtu)  # ATT_EXCHANGE_MTU
        self.services = phone.gatt(self)

    async def disconnect(self) -> None:
        if self._connected and self._phone is not None:
            self._phone.detach()
        self._closed()

    def _closed(self) -> None:
        self._connected = False
        self._callbacks.clear()
        self.services = None

    def link_lost(self) -> None:
        """Called by the phone: an unsolicited disconnect, reported through the loop."""
        self._closed()
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    def notify(self, handle: int, value: bytes) -> None:
        callback = self._callbacks.get(handle)
        if callback is not None and self._connected:
            asyncio.get_running_loop().call_soon(callback, bytearray(value))

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("18013-5 does not pair")

    async def unpair(self) -> None:
        raise NotImplementedError("18013-5 does not pair")

    def _live(self) -> Phone:
        if not self._connected or self._phone is None:
            raise BleakError("Not connected")
        return self._phone

    # Nothing in the mdoc service is readable, and CCCDs are written by start_notify.
    async def read_gatt_char(self, characteristic: Any, **kwargs: Any) -> bytearray:
        raise BleakGATTProtocolError(_ATT.READ_NOT_PERMITTED)

    async def read_gatt_descriptor(self, descriptor: Any, **kwargs: Any) -> bytearray:
        raise BleakGATTProtocolError(_ATT.READ_NOT_PERMITTED)

    async def write_gatt_descriptor(self, descriptor: Any, data: SizedBuffer) -> None:
        raise BleakGATTProtocolError(_ATT.WRITE_NOT_PERMITTED)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        phone = self._live()
        value = bytes(data)
        if "write-without-response" not in characteristic.properties or response:
            raise BleakGATTProtocolError(_ATT.WRITE_NOT_PERMITTED)  # 18013-5: commands only
        if len(value) > self._mtu - 3:  # a real stack refuses a command that overflows the MTU
            raise BleakError(f"{len(value)} bytes do not fit an MTU of {self._mtu}")
        await asyncio.sleep(0)  # the value goes over the air
        self._live()
        phone.on_write(characteristic.uuid, value)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._live()
        if "notify" not in characteristic.properties:
            raise BleakError(f"{characteristic.uuid} does not notify")
        self._callbacks[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)


class FakeBleakScanner(BaseBleakScanner):
    """Hears every phone in the air that is advertising, every ``advertising_interval``."""

    air: ClassVar[Air]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            for phone in list(self.air.phones.values()):
                uuids = [phone.service_uuid]
                if not phone.advertising or not self.is_allowed_uuid(uuids):
                    continue
                advertisement = AdvertisementData(phone.name, {}, {}, uuids, None, -55, ())
                device = self.create_or_update_device(
                    phone.address, phone.address, phone.name, phone, advertisement
                )
                self.call_detection_callbacks(device, advertisement)
            await asyncio.sleep(self.air.advertising_interval)
