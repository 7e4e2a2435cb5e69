from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.node.outbox import Limits, Outbox, Synchronous

DEFAULT_LIMITS = Limits()


class FakeClock:
    """Wall-clock UTC that moves only when told."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


class OpenOutbox(Protocol):
    def __call__(self, limits: Limits = ..., synchronous: Synchronous = ...) -> Outbox: ...


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def open_outbox(db_path: Path, key: Ed25519PrivateKey, clock: FakeClock) -> Iterator[OpenOutbox]:
    opened: list[Outbox] = []

    def make(
        limits: Limits = DEFAULT_LIMITS, synchronous: Synchronous = Synchronous.FULL
    ) -> Outbox:
        outbox = Outbox(db_path, key, now=clock, limits=limits, synchronous=synchronous)
        opened.append(outbox)
        return outbox

    yield make
    for outbox in opened:
        outbox.close()
