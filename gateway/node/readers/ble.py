"""The gate as BLE central: ISO/IEC 18013-5 §8.3.3.1.1, mdoc peripheral server mode.

The phone is the GATT server. It advertises the service UUID it put in its
device engagement (read from an NFC tap or a QR code); the gate connects,
subscribes to Server2Client and State, writes 0x01 to State, sends the
SessionEstablishment to Client2Server, reassembles the phone's SessionData
from Server2Client notifications and writes 0x02 to State to end.

Messages travel as chunked attribute values
(:mod:`gateway.node.readers.ble_chunks`). The transport moves opaque messages;
``gateway.node.proximity`` encrypts and decrypts them.

Characteristic UUIDs, 18013-5 Table 12 (mdoc service): State 00000001-,
Client2Server 00000002-, Server2Client 00000003-A123-48CE-896B-4C76973373E6,
as in the openwallet-foundation-labs/identity-credential reference
(DataTransportBlePeripheralServerMode.kt, GattClient.kt).

Every way a read can end early is a :class:`ReadFailure`; the link is always
closed before :meth:`BleReader.read` returns, so the next phone can be read
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDeviceNotFoundError, BleakError
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.csid import DOOR_ELEMENTS
from gateway.credentials.verifier import MobilePresentation
from gateway.node.proximity.engagement import BleOptions, DeviceEngagement, parse_qr
from gateway.node.proximity.handover import parse_handover_select
from gateway.node.proximity.request import build_device_request
from gateway.node.proximity.session import ReaderSession
from gateway.node.readers.ble_chunks import MAX_MESSAGE, MAX_VALUE_SIZE, Reassembler, chunk_message
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

STATE_UUID = "00000001-a123-48ce-896b-4c76973373e6"
CLIENT2SERVER_UUID = "00000002-a123-48ce-896b-4c76973373e6"
SERVER2CLIENT_UUID = "00000003-a123-48ce-896b-4c76973373e6"

STATE_START, STATE_END = b"\x01", b"\x02"  # State: start; transport-specific termination
MIN_MTU = 23  # the ATT default: 20-byte values

_LOST = ReadFailureReason.TAG_LOST
_PROTOCOL = ReadFailureReason.PROTOCOL_ERROR


@dataclass(frozen=True, slots=True)
class BleReaderOptions:
    scan_timeout: float = 5.0  # finding the advertising phone when no address was engaged
    connect_timeout: float = 5.0  # connect, discover, subscribe, start
    response_timeout: float = 5.0  # from the first request chunk to the last response chunk
    elements: Sequence[str] = DOOR_ELEMENTS  # selective disclosure: what the door needs
    max_message: int = MAX_MESSAGE


@dataclass(slots=True)
class BleTrace:
    """What one read cost on the air: for docs and benches."""

    mtu: int = 0  # as the stack reports it: max_write_without_response_size + 3
    value_size: int = 0
    writes: list[int] = field(default_factory=list)  # sizes of every GATT write, in order
    notifications: list[int] = field(default_factory=list)  # sizes of every notification


class _Link:
    """Notifications and the link's fate, turned into one awaited message."""

    def __init__(self, trace: BleTrace, max_message: int) -> None:
        self.lost = False
        self._trace = trace
        self._reassembler = Reassembler(max_message)
        self._reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        # A link may drop after the gate stopped listening (a failed write): nobody awaits then.
        self._reply.add_done_callback(lambda reply: reply.cancelled() or reply.exception())

    def _fail(self, reason: ReadFailureReason, detail: str) -> None:
        if not self._reply.done():
            self._reply.set_exception(ReadFailure(reason, detail))

    def on_server2client(self, _: BleakGATTCharacteristic, value: bytearray) -> None:
        self._trace.notifications.append(len(value))
        if self._reply.done():
            return  # the gate has what it needs; stragglers change nothing
        try:
            message = self._reassembler.feed(bytes(value))
        except ReadFailure as failure:
            self._fail(failure.reason, failure.detail)
            return
        if message is not None:
            self._reply.set_result(message)

    def on_state(self, _: BleakGATTCharacteristic, value: bytearray) -> None:
        if bytes(value) == STATE_END:
            self._fail(ReadFailureReason.SESSION_ERROR, "the phone ended the session (State 0x02)")
        else:
            self._fail(_PROTOCOL, f"unexpected State value {bytes(value).hex()}")

    def on_disconnect(self, _: BleakClient) -> None:
        self.lost = True
        self._fail(_LOST, "the phone dropped the link")

    async def reply(self) -> bytes:
        return await self._reply


class BleReader:
    """Reads one phone at a time over BLE. ``backend``/``scanner`` replace bleak's platform ones."""

    def __init__(
        self,
        options: BleReaderOptions = BleReaderOptions(),
        *,
        backend: type[BaseBleakClient] | None = None,
        scanner: type[BaseBleakScanner] | None = None,
    ) -> None:
        self.options = options
        self.backend = backend
        self.scanner = scanner
        self.last_trace = BleTrace()
        self._busy = False

    async def read_qr(self, uri: str) -> MobilePresentation:
        """A phone engaged by the ``mdoc:`` QR code it shows."""
        engagement, handover = parse_qr(uri)
        return await self.read(engagement, handover)

    async def read_handover(self, handover_select: bytes) -> MobilePresentation:
        """A phone engaged by NFC static handover: its Handover Select message."""
        engagement, handover = parse_handover_select(handover_select)
        return await self.read(engagement, handover)

    async def read(self, engagement: DeviceEngagement, handover: Any) -> MobilePresentation:
        """One session with the engaged phone: its DeviceResponse and the SessionTranscript."""
        if self._busy:
            raise ReadFailure(ReadFailureReason.BUSY, "a BLE read is already in progress")
        self._busy = True
        try:
            return await self._read(engagement, handover)
        finally:
            self._busy = False

    async def _read(self, engagement: DeviceEngagement, handover: Any) -> MobilePresentation:
        ble = engagement.ble
        if ble is None or not ble.peripheral_server or ble.peripheral_uuid is None:
            raise ReadFailure(
                ReadFailureReason.UNSUPPORTED, "engagement offers no BLE peripheral server mode"
            )
        reader_key = ec.generate_private_key(ec.SECP256R1())
        session = ReaderSession(engagement, handover, reader_key=reader_key)
        request = session.establishment(build_device_request(self.options.elements))
        self.last_trace = trace = BleTrace()
        target = await self._locate(ble)
        link = _Link(trace, self.options.max_message)
        client = BleakClient(
            target,
            disconnected_callback=link.on_disconnect,
            services=[str(ble.peripheral_uuid)],
            timeout=self.options.connect_timeout,
            backend=self.backend,
        )
        step = "connect"
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                client2server = await self._start(client, ble.peripheral_uuid, link, trace)
            step = "response"
            async with asyncio.timeout(self.options.response_timeout):
                await self._send(client, client2server, request, trace)
                reply = await link.reply()
        except TimeoutError:
            raise ReadFailure(ReadFailureReason.TIMEOUT, f"no {step} within its deadline") from None
        except BleakDeviceNotFoundError as exc:
            raise ReadFailure(ReadFailureReason.TIMEOUT, f"no phone at {exc.identifier}") from exc
        except BleakBluetoothNotAvailableError as exc:  # the gate's radio, not the phone
            raise ReadFailure(ReadFailureReason.UNSUPPORTED, f"no usable Bluetooth: {exc}") from exc
        except (BleakError, OSError) as exc:
            # A phone that cannot be connected, or drops the link, has left the field.
            if link.lost or not client.is_connected:
                raise ReadFailure(_LOST, f"the phone dropped the link during {step}") from exc
            raise ReadFailure(_PROTOCOL, f"{step}: {exc}") from exc
        finally:
            await self._close(client, link)
        # The session layer raises ReadFailure (protocol or session error) and nothing else.
        return MobilePresentation(session.open(reply), session.transcript, reader_key)

    async def _locate(self, ble: BleOptions) -> BLEDevice | str:
        if ble.address is not None:  # engaged with its address: no scan needed
            return ":".join(f"{octet:02X}" for octet in ble.address)
        wanted = str(ble.peripheral_uuid).lower()

        def advertises(_: BLEDevice, advertisement: AdvertisementData) -> bool:
            return wanted in (uuid.lower() for uuid in advertisement.service_uuids)

        extra: BleakScanner.ExtraArgs = {"service_uuids": [wanted]}
        if self.scanner is not None:
            extra["backend"] = self.scanner
        try:
            device = await BleakScanner.find_device_by_filter(
                advertises, timeout=self.options.scan_timeout, **extra
            )
        except (BleakError, OSError) as exc:
            raise ReadFailure(ReadFailureReason.UNSUPPORTED, f"BLE scan failed: {exc}") from exc
        if device is None:
            raise ReadFailure(ReadFailureReason.TIMEOUT, f"no phone advertises {wanted}")
        return device

    async def _start(
        self, client: BleakClient, service_uuid: UUID, link: _Link, trace: BleTrace
    ) -> BleakGATTCharacteristic:
        await client.connect()
        service = client.services.get_service(str(service_uuid))
        if service is None:
            raise ReadFailure(ReadFailureReason.UNSUPPORTED, f"no mdoc service {service_uuid}")
        found: dict[str, BleakGATTCharacteristic] = {}
        for uuid in (STATE_UUID, CLIENT2SERVER_UUID, SERVER2CLIENT_UUID):
            characteristic = service.get_characteristic(uuid)
            if characteristic is None:
                raise ReadFailure(ReadFailureReason.UNSUPPORTED, f"no characteristic {uuid}")
            found[uuid] = characteristic
        await client.start_notify(found[SERVER2CLIENT_UUID], link.on_server2client)
        await client.start_notify(found[STATE_UUID], link.on_state)
        await client.write_gatt_char(found[STATE_UUID], STATE_START, response=False)
        trace.writes.append(len(STATE_START))
        return found[CLIENT2SERVER_UUID]

    async def _send(
        self,
        client: BleakClient,
        client2server: BleakGATTCharacteristic,
        message: bytes,
        trace: BleTrace,
    ) -> None:
        # MTU − 3 on every backend, as bleak advises: its BlueZ mtu_size says 23 (and warns)
        # unless a private _acquire_mtu() was called.
        writable = client2server.max_write_without_response_size
        trace.mtu, trace.value_size = writable + 3, min(MAX_VALUE_SIZE, writable)
        if trace.value_size < MIN_MTU - 3:
            raise ReadFailure(_PROTOCOL, f"attribute values of {trace.value_size} bytes")
        for value in chunk_message(message, trace.value_size):
            await client.write_gatt_char(client2server, value, response=False)
            trace.writes.append(len(value))

    async def _close(self, client: BleakClient, link: _Link) -> None:
        """End the session (State 0x02) and drop the link; the phone may already be gone."""
        with contextlib.suppress(BleakError, OSError, TimeoutError):
            async with asyncio.timeout(self.options.connect_timeout):
                if client.is_connected and not link.lost:
                    await client.write_gatt_char(STATE_UUID, STATE_END, response=False)
                    self.last_trace.writes.append(len(STATE_END))
        with contextlib.suppress(BleakError, OSError, TimeoutError):
            async with asyncio.timeout(self.options.connect_timeout):
                await client.disconnect()
