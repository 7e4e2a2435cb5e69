"""The gate's NFC reader: nfcpy's reader stack behind an asyncio API.

Every nfcpy call (sense, activation, ISO-DEP exchange) blocks, so all of them
run on one dedicated worker thread per reader; the event loop only awaits.
One thread, not a thread per tap: nfcpy's frontend is then used from a single
thread and nothing can leak across taps.

nfcpy's ISO-DEP initiator (``nfc.tag.tt4``) is used as it is, handed a
:class:`~gateway.node.readers.nfc_frames.FrameWatch` in place of the frontend:
it bounds every frame wait by the APDU's deadline, refuses oversized frames
and counts what the tap cost
(:class:`~gateway.node.readers.nfc_frames.LinkStats`).

Every failure is a :class:`ReadFailure`. ``tag_lost`` means the card went
silent for longer than its frame waiting time (FWT, from its ATS) or the
field broke; ``timeout`` means the card was still talking (WTX) when the
deadline passed. After any failure the link is torn down at once (DESELECT if
the card may still be there, then RF off), so the next tap can be read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import nfc
import nfc.clf
import nfc.tag

from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from gateway.node.readers.nfc_frames import FrameWatch, LinkStats

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_APDU_TIMEOUT = 1.0
DESELECT = b"\xc2"
DESELECT_WAIT = 0.02

# nfcpy sets its "nfc" logger to INFO on import, and then every card pulled mid-exchange logs
# five ISO-DEP retry warnings and one "unrecoverable" error. The gate reports that event once
# itself, as a ReadFailure (tag_lost); nfcpy's device errors reach the gate as exceptions as
# well. So nfcpy's own lines are noise, and CRITICAL (a level nfcpy never uses) mutes them.
NFCPY_LOG_LEVEL = logging.CRITICAL


def _quiet_nfcpy() -> None:
    """Apply NFCPY_LOG_LEVEL, unless the "nfc" level was chosen by anyone but nfcpy.

    A gate that logs at DEBUG lets nfcpy's DEBUG through instead, so a debug run shows
    the retries and frames behind a failure.
    """
    nfcpy = logging.getLogger("nfc")
    if nfcpy.level not in (logging.NOTSET, logging.INFO):
        return  # set on purpose (a test, an operator watching frames): theirs to keep
    nfcpy.setLevel(logging.NOTSET if log.isEnabledFor(logging.DEBUG) else NFCPY_LOG_LEVEL)


class Link:
    """One activated card or phone, until it is closed or fails."""

    def __init__(self, reader: NfcReader, tag: Any, watch: FrameWatch, timeout: float) -> None:
        self._reader = reader
        self._tag = tag
        self._watch = watch
        self._timeout = timeout
        self._busy = False
        self._failure: ReadFailure | None = None
        self.closed = False
        self.uid = bytes(tag.identifier)
        self.iso_dep = hasattr(tag, "transceive") and hasattr(tag, "send_apdu")
        self.kind = str(getattr(tag, "type", type(tag).__name__))
        self.stats = watch.stats

    @property
    def frame_wait(self) -> float:
        """The card's frame waiting time (from its ATS, plus ΔFWT), in seconds."""
        return self._watch.frame_wait

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes:
        """Send one command APDU and return the response APDU, within ``timeout`` seconds."""
        if self._failure is not None:
            raise ReadFailure(self._failure.reason, self._failure.detail)
        if self.closed:
            raise ReadFailure(ReadFailureReason.TAG_LOST, "the link is closed")
        if not self.iso_dep:
            raise ReadFailure(ReadFailureReason.UNSUPPORTED, f"{self.kind} does not speak ISO-DEP")
        if self._busy:
            raise ReadFailure(ReadFailureReason.BUSY, "an exchange is already under way")
        self._busy = True
        try:
            limit = self._timeout if timeout is None else timeout
            return await self._reader._run(self._exchange_sync, bytes(apdu), limit)
        finally:
            self._busy = False

    def _exchange_sync(self, apdu: bytes, timeout: float) -> bytes:
        if self.closed:
            raise ReadFailure(ReadFailureReason.TAG_LOST, "the link is closed")
        self._watch.arm(timeout)
        self.stats.apdus += 1
        try:
            response = self._tag.transceive(apdu)  # frame waits: the card's FWT; overall: ours
        except Exception as exc:
            failure = self._classify(exc, timeout)
            self._failure = failure
            self._teardown_sync(deselect=failure.reason is not ReadFailureReason.TAG_LOST)
            raise failure from exc
        finally:
            self._watch.deadline = float("inf")
        if response is None:
            self._failure = ReadFailure(ReadFailureReason.PROTOCOL_ERROR, "no response APDU")
            self._teardown_sync(deselect=True)
            raise self._failure
        return bytes(response)

    def _classify(self, exc: BaseException, timeout: float) -> ReadFailure:
        watch, reason = self._watch, ReadFailureReason
        silent = time.monotonic() - watch.last_rx
        if isinstance(exc, ReadFailure):
            return exc
        if watch.expired and silent > watch.frame_wait:
            detail = f"no frame for {silent * 1e3:.0f} ms (FWT {watch.frame_wait * 1e3:.0f} ms)"
            return ReadFailure(reason.TAG_LOST, detail)
        if watch.expired:
            detail = f"no response within {timeout * 1e3:.0f} ms; the card kept asking for time"
            return ReadFailure(reason.TIMEOUT, detail)
        if watch.fault is not None:
            return ReadFailure(reason.PROTOCOL_ERROR, watch.fault)
        detail = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, nfc.tag.TagCommandError) and exc.errno == nfc.tag.PROTOCOL_ERROR:
            return ReadFailure(reason.PROTOCOL_ERROR, detail)
        # nfcpy gave up after its retries (timeouts or garbled frames), or the field broke.
        lost = nfc.tag.TagCommandError, nfc.clf.TimeoutError, nfc.clf.TransmissionError
        if isinstance(exc, (*lost, nfc.clf.BrokenLinkError)):
            return ReadFailure(reason.TAG_LOST, detail)
        return ReadFailure(reason.PROTOCOL_ERROR, detail)

    def _teardown_sync(self, *, deselect: bool) -> None:
        if self.closed:
            return
        self.closed = True
        clf = self._watch.clf
        if deselect and self.iso_dep:
            try:
                clf.exchange(DESELECT, DESELECT_WAIT)
            except Exception as exc:  # the card may be gone or stalled: RF off follows anyway
                log.debug("DESELECT unanswered: %s", exc)
        self._reader._rf_off_sync()

    async def close(self) -> None:
        if not self.closed:
            await self._reader._run(self._teardown_sync, deselect=True)

    async def __aenter__(self) -> Link:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class NfcReader:
    """The gate's NFC reader. ``device`` is an nfcpy path: ``usb``, ``tty:S0:pn532``,
    or ``udp:127.0.0.1:PORT`` for the simulator.
    """

    def __init__(
        self,
        device: str = "usb",
        *,
        apdu_timeout: float = DEFAULT_APDU_TIMEOUT,
        technologies: tuple[str, ...] = ("106A",),
        poll_interval: float = 0.05,  # between empty polls: the field need not be on all the time
    ) -> None:
        _quiet_nfcpy()  # here, not on import: the gate's log level is set by then
        self.device = device
        self.apdu_timeout = apdu_timeout
        self.technologies = technologies
        self.poll_interval = poll_interval
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nfc-reader")
        self._clf: Any = None
        self._link: Link | None = None
        self._waiting = False
        self._closing = threading.Event()
        self.taps = 0

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the reader's thread, where every nfcpy call happens."""
        if self._closing.is_set():
            raise RuntimeError("the NFC reader is closed")
        return await asyncio.wrap_future(self._worker.submit(fn, *args, **kwargs))

    async def next_tap(self) -> Link:
        """Wait for a card or phone and activate it. A call while a tap is open is ``busy``."""
        if self._waiting:
            raise ReadFailure(ReadFailureReason.BUSY, "already waiting for a tap")
        if self._link is not None and not self._link.closed:
            raise ReadFailure(ReadFailureReason.BUSY, "a tap is being read")
        self._waiting = True
        stop = threading.Event()
        try:
            link = await self._run(self._sense_sync, stop)
        except asyncio.CancelledError:
            stop.set()
            raise
        finally:
            self._waiting = False
        if link is None:  # the reader was closed while waiting
            raise asyncio.CancelledError
        self._link = link
        self.taps += 1
        return link

    def _sense_sync(self, stop: threading.Event) -> Link | None:
        if self._clf is None:
            self._clf = nfc.ContactlessFrontend(self.device)
        clf = self._clf
        targets = [nfc.clf.RemoteTarget(brty) for brty in self.technologies]
        while not (stop.is_set() or self._closing.is_set()):
            started = time.monotonic()
            target = clf.sense(*targets, iterations=1)
            if target is None:
                if self.poll_interval:
                    stop.wait(self.poll_interval)
                continue
            stats = LinkStats()
            watch = FrameWatch(clf, stats)
            try:
                tag = nfc.tag.activate(watch, target)  # RATS: nfcpy allows the card 30 ms
            except Exception as exc:  # a short ATS makes nfcpy index past its end
                self._rf_off_sync()
                raise ReadFailure(ReadFailureReason.PROTOCOL_ERROR, f"bad ATS: {exc!r}") from exc
            if tag is None:
                self._rf_off_sync()
                raise ReadFailure(ReadFailureReason.TAG_LOST, "no answer to activation")
            stats.activation_s = time.monotonic() - started
            link = Link(self, tag, watch, self.apdu_timeout)
            if stop.is_set() or self._closing.is_set():
                link._teardown_sync(deselect=True)
                break
            return link
        return None

    def _rf_off_sync(self) -> None:
        clf = self._clf
        if clf is None:
            return
        with clf.lock:
            if clf.device is not None:
                clf.device.mute()

    async def close(self) -> None:
        """Release the frontend and the worker thread. The link in use, if any, is closed."""
        if self._closing.is_set():
            return
        link = self._link
        if link is not None and not link.closed:
            await link.close()
        self._closing.set()
        await asyncio.wrap_future(self._worker.submit(self._close_sync))
        self._worker.shutdown(wait=True)

    def _close_sync(self) -> None:
        if self._clf is not None:
            self._clf, clf = None, self._clf
            clf.close()

    async def __aenter__(self) -> NfcReader:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
