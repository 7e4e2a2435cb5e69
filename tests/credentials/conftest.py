"""A small issuing world with real keys: one IACA, its DS and status signer, and holders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import pki
from gateway.credentials import card, csid, mdoc
from gateway.credentials.status_list import (
    Status,
    StatusCache,
    StatusList,
    StatusReference,
    sign_status_list_token,
)
from gateway.credentials.trust import TrustStore

NOW = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)  # a Monday morning rush
STATUS_URI = "https://csid.mpm.go.kr/status/1"


def claims_for(n: int) -> csid.CivilServantClaims:
    return csid.CivilServantClaims(
        holder_id=f"H{n:07d}",
        credential_serial=f"S{n:07d}-1",
        issue_number=f"2026-{n:06d}",
        name="홍길동",
        organization="행정안전부",
        organization_code="1741000",
        position="행정사무관",
        issue_date=dt.date(2026, 1, 5),
        issuing_authority="행정안전부장관",
        issuing_authority_phone="044-205-1234",
        portrait=b"\xff\xd8\xff\xe0fake-jpeg",
    )


@dataclass
class Holder:
    device_key: ec.EllipticCurvePrivateKey
    issuer_signed: bytes
    index: int

    def present(self, transcript: bytes, requested: list[str] | None = None) -> bytes:
        wanted = None if requested is None else {csid.NAMESPACE: requested}
        return mdoc.present(
            self.issuer_signed, self.device_key, transcript, doctype=csid.DOCTYPE, requested=wanted
        )


@dataclass
class CardHolder:
    card_key: ec.EllipticCurvePrivateKey
    card_object: bytes
    index: int


@dataclass
class World:
    iaca: pki.KeyPair
    ds: pki.KeyPair
    status_signer: pki.KeyPair
    statuses: StatusList = field(default_factory=lambda: StatusList(1024))
    next_index: int = 0
    iat: int = int(NOW.timestamp()) - 60

    def trust(self) -> TrustStore:
        return TrustStore([self.iaca.certificate])

    def validity(self, **shift: Any) -> mdoc.ValidityInfo:
        start = NOW - dt.timedelta(days=30)
        return mdoc.ValidityInfo(
            signed=shift.get("signed", start),
            valid_from=shift.get("valid_from", start),
            valid_until=shift.get("valid_until", NOW + dt.timedelta(days=365)),
        )

    def _reference(self) -> dict[str, Any]:
        reference = StatusReference(self.next_index, STATUS_URI)
        self.next_index += 1
        return reference.to_cbor_value()

    def issue(
        self,
        n: int = 1,
        *,
        signer: pki.KeyPair | None = None,
        validity: mdoc.ValidityInfo | None = None,
        doctype: str = csid.DOCTYPE,
        status: dict[str, Any] | bool | None = True,
    ) -> Holder:
        signer = signer or self.ds
        device_key = ec.generate_private_key(ec.SECP256R1())
        index = self.next_index
        reference = self._reference() if status is True else (status or None)
        issuer_signed = mdoc.issue(
            doctype=doctype,
            namespaces={csid.NAMESPACE: claims_for(n).elements()},
            device_key=device_key.public_key(),
            validity=validity or self.validity(),
            signer_key=signer.key,
            x5chain=[signer.der],
            status=reference,
        )
        return Holder(device_key, issuer_signed, index)

    def issue_card(self, n: int = 2) -> CardHolder:
        card_key = ec.generate_private_key(ec.SECP256R1())
        index = self.next_index
        obj = card.issue_card_object(
            claims=claims_for(n).elements(),
            card_key=card_key.public_key(),
            validity=self.validity(),
            signer_key=self.ds.key,
            x5chain=[self.ds.der],
            status=self._reference(),
        )
        return CardHolder(card_key, obj, index)

    def token(self, *, iat: int | None = None, ttl: int | None = 3600) -> bytes:
        return sign_status_list_token(
            self.statuses,
            key=self.status_signer.key,
            uri=STATUS_URI,
            issued_at=self.iat if iat is None else iat,
            expires_at=None,
            ttl=ttl,
        )

    def status_cache(self, **token_args: Any) -> StatusCache:
        cache = StatusCache({STATUS_URI: self.status_signer.key.public_key()})
        cache.apply(self.token(**token_args), int(NOW.timestamp()))
        return cache

    def set_status(self, index: int, status: Status) -> None:
        self.statuses.set(index, status)


def make_world(name: str = "행정안전부") -> World:
    keys = pki.new_issuer(name, organization="행정안전부", not_before=NOW - dt.timedelta(days=400))
    return World(keys.iaca, keys.document_signer, keys.status_signer)


@pytest.fixture(scope="session")
def world_template() -> World:
    return make_world()


@pytest.fixture
def world(world_template: World) -> World:
    # Keys are slow to make; statuses and indices are per test.
    return World(world_template.iaca, world_template.ds, world_template.status_signer)


def transcript(seed: bytes = b"engagement") -> bytes:
    reader = ec.generate_private_key(ec.SECP256R1())
    return mdoc.session_transcript(seed, reader.public_key(), None)
