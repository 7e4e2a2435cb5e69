"""Why a read ended without a presentation. Shared by every reader and transport.

A read failure is not a verdict on a credential: the verifier never saw one.
The gate logs it as a denial with this reason and is ready for the next tap.
"""

from __future__ import annotations

from enum import StrEnum


class ReadFailureReason(StrEnum):
    TAG_LOST = "tag_lost"  # the phone or card left the field mid-transaction
    TIMEOUT = "timeout"  # the holder stalled past the reader's deadline (or a relay did)
    PROTOCOL_ERROR = "protocol_error"  # frames, lengths, status words or messages out of spec
    SESSION_ERROR = "session_error"  # 18013-5 session: decryption failed or the holder ended it
    BUSY = "busy"  # a second tap arrived while one was being read
    UNSUPPORTED = "unsupported"  # neither our mdoc application nor our card application


class ReadFailure(Exception):
    """A read ended early; ``reason`` is machine-readable, ``detail`` is for the log."""

    def __init__(self, reason: ReadFailureReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
