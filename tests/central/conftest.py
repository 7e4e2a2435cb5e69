"""An authority on a temporary database, a gate that trusts it, and holders with real keys."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.context import AuthoritySettings
from gateway.central.authority.service import Authority
from gateway.credentials import card, csid, mdoc
from gateway.credentials.decision import Decision
from gateway.credentials.status_list import StatusCache
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import CardPresentation, MobilePresentation, verify

NOW = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)  # a Monday morning
EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
KIM = "17410231"  # 김민준, 행정안전부 행정사무관
LEE = "17410487"  # 이서연, 행정안전부 주무관
CARTER = "10510915"  # Emily Carter, 기획재정부, foreign national


def later(**delta: float) -> dt.datetime:
    return NOW + dt.timedelta(**delta)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Gate:
    """What a gate holds: the authority's IACA and the newest status list it was sent."""

    authority: Authority
    trust: TrustStore = field(init=False)
    status: StatusCache = field(init=False)

    def __post_init__(self) -> None:
        self.trust = TrustStore([self.authority.iaca_certificate])
        key = self.authority.status_signer_certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        self.status = StatusCache({self.authority.status_uri: key})

    def publish(self, now: dt.datetime) -> bytes:
        """The authority publishes, and the gate takes the token as it arrives."""
        token = self.authority.publish_status_list(now, actor="publisher")
        self.status.apply(token, int(now.timestamp()))
        return token

    def tap(
        self, issuer_signed: bytes, device_key: ec.EllipticCurvePrivateKey, now: dt.datetime
    ) -> Decision:
        reader = new_key()
        transcript = mdoc.session_transcript(b"engagement", reader.public_key(), None)
        response = mdoc.present(issuer_signed, device_key, transcript, doctype=csid.DOCTYPE)
        return verify(
            MobilePresentation(response, transcript), trust=self.trust, status=self.status, now=now
        )

    def tap_card(
        self, card_object: bytes, card_key: ec.EllipticCurvePrivateKey, now: dt.datetime
    ) -> Decision:
        challenge = card.Challenge.fresh("gate-1", now).encode()
        signature = card.sign_challenge(card_key, challenge)
        return verify(
            CardPresentation(card_object, challenge, signature),
            trust=self.trust,
            status=self.status,
            now=now,
        )


def new_authority(path: Path, *, capacity: int, rng: random.Random | None = None) -> Authority:
    """The authority these tests share, created at NOW by "admin"."""
    return Authority.create(
        path,
        name="인사혁신처장",
        organization="인사혁신처",
        now=NOW,
        actor="admin",
        settings=AuthoritySettings(status_capacity=capacity),
        rng=rng,
    )


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    with new_authority(tmp_path / "authority.db", capacity=4096) as created:
        created.enroll_file(
            EXAMPLES / "hr-export.csv", now=NOW, actor="hr-clerk", reason="initial load"
        )
        yield created


@pytest.fixture
def gate(authority: Authority) -> Gate:
    return Gate(authority)
