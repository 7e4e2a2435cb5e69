"""Fault hooks for tests: what an :class:`~simulator.holder.nfc_target.NfcTarget` does wrong.

Each :class:`Fault` acts on the Nth command APDU of a session: leave the
field, stall, truncate or oversize the answer's frame, answer more data than
asked, or answer an unexpected status word.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    REMOVE = "remove"  # leave the field instead of answering command N
    STALL = "stall"  # answer command N only after `delay` s (asking for time with S(WTX))
    TRUNCATE = "truncate"  # answer N with one frame holding only `size` bytes of the APDU
    OVERSIZE = "oversize"  # answer N in one frame `size` bytes longer than the FSD allows
    STATUS = "status"  # answer N with status word `sw` instead of its own
    EXTRA = "extra"  # answer N with `size` more data bytes than it had (more than Ne)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at: int = 1  # which command APDU of the session, from 1
    size: int = 1
    sw: int = 0x6F00
    delay: float = 0.5
    wtx: bool = True  # a stall keeps the link alive with S(WTX); without, it is silent
    away: float = 0.0  # after REMOVE: how long until a card answers again


NO_FAULT = Fault(FaultKind.STALL, at=0, delay=0.0)  # a stall of no time at all
