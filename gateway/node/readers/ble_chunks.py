"""Chunking for the 18013-5 BLE transport (§8.3.3.1.1): messages as GATT attribute values.

Messages travel in attribute values of at most MTU − 3 bytes (never more than
512, Core Vol 3 Part F §3.2.9), each led by 0x01 when more follow or 0x00 on
the last. The gate chunks what it writes to Client2Server and reassembles
what the phone notifies on Server2Client.
"""

from __future__ import annotations

from gateway.node.readers.failure import ReadFailure, ReadFailureReason

MORE, LAST = 0x01, 0x00  # the first byte of every Client2Server and Server2Client value
MAX_VALUE_SIZE = 512  # the largest attribute value, whatever the MTU
MAX_MESSAGE = 256 * 1024  # a DeviceResponse with a portrait is tens of KB

_PROTOCOL = ReadFailureReason.PROTOCOL_ERROR


def chunk_message(message: bytes, value_size: int) -> list[bytes]:
    """``message`` as attribute values of ``value_size`` bytes, each led by 0x01 or 0x00."""
    if value_size < 2:
        raise ValueError(f"an attribute value of {value_size} bytes cannot carry data")
    if not message:
        raise ValueError("18013-5 messages are never empty")
    step = value_size - 1
    pieces = [message[at : at + step] for at in range(0, len(message), step)]
    return [bytes([MORE]) + piece for piece in pieces[:-1]] + [bytes([LAST]) + pieces[-1]]


class Reassembler:
    """Joins Server2Client values into messages; any framing fault is a protocol error."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, value: bytes) -> bytes | None:
        """The whole message once ``value`` is its last chunk, else None."""
        if not value:
            raise ReadFailure(_PROTOCOL, "empty Server2Client value")
        if len(value) > MAX_VALUE_SIZE:
            raise ReadFailure(_PROTOCOL, f"Server2Client value of {len(value)} bytes")
        flag = value[0]
        if flag not in (MORE, LAST):
            raise ReadFailure(_PROTOCOL, f"Server2Client chunk flag 0x{flag:02x}")
        self._size += len(value) - 1
        if self._size > self.max_message:
            raise ReadFailure(_PROTOCOL, f"message longer than {self.max_message} bytes")
        self._parts.append(value[1:])
        if flag == MORE:
            return None
        message = b"".join(self._parts)
        self._parts, self._size = [], 0
        if not message:
            raise ReadFailure(_PROTOCOL, "empty message from the phone")
        return message
