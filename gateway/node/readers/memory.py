"""A reader backend with no radio: taps are handed in by the program that owns the reader.

What gpiozero's ``MockFactory`` is to pins, this is to the NFC reader: the
gate loop, the tap dispatcher, the verifier, the policy and the door run
unchanged, and each APDU goes straight to a responder (a virtual card or
phone: any callable from command APDU to response APDU). The simulator
uses it where thousands of taps must be judged faster than nfcpy's udp
radio allows; benches and the kill -9 tests use it to drive bursts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Responder = Callable[[bytes], bytes]


class MemoryLink:
    """One tap: the card's UID and its APDU responder."""

    def __init__(self, uid: bytes, responder: Responder) -> None:
        self.uid = uid
        self._responder = responder
        self.closed = asyncio.Event()

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        return self._responder(bytes(apdu))

    async def close(self) -> None:
        self.closed.set()

    async def __aenter__(self) -> MemoryLink:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class MemoryReader:
    """A reader whose field is a queue: :meth:`present` puts a card in, the gate takes it."""

    device = "memory"
    poll_interval = 0.0

    def __init__(self) -> None:
        self._field: asyncio.Queue[MemoryLink] = asyncio.Queue()
        self.taps = 0

    def present(self, uid: bytes, responder: Responder) -> MemoryLink:
        """Queue a tap; await the returned link's ``closed`` to know the gate is done with it."""
        activated = getattr(responder, "activated", None)
        if callable(activated):  # a virtual card resets its selection on each activation
            activated()
        link = MemoryLink(uid, responder)
        self._field.put_nowait(link)
        return link

    async def next_tap(self) -> MemoryLink:
        link = await self._field.get()
        self.taps += 1
        return link

    async def close(self) -> None:
        return None
