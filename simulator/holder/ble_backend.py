"""A fake bleak backend: the air between the gate's BLE central and the simulated phones.

There is no radio here, so the air is faked at bleak's own seam: :class:`Air`
hands out a ``BaseBleakClient`` subclass (``BleakClient(..., backend=...)``)
and a ``BaseBleakScanner`` subclass. Behind them each
:class:`~simulator.holder.ble_phone.Phone` is the GATT server of §8.3.3.1.1.
All on the event loop: notifications, delays and an unsolicited disconnect
are scheduled with ``call_soon``/``call_later``, in the order a radio keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, cast

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.exc import BleakGATTProtocolErrorCode as _ATT

from simulator.holder.ble_phone import Phone


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
