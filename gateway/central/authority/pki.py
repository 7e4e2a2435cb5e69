"""Keys and certificates of an issuing authority, shaped as 18013-5 Annex B asks.

An IACA (Issuing Authority Certificate Authority) root per issuing agency,
Document Signer certificates under it for credentials, and a status-list
signer under it for revocation tokens. All keys are P-256, all signatures
ES256, so a Pi verifies them with one code path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from gateway.credentials.trust import MDOC_DS_EKU, STATUS_LIST_SIGNER_EKU


@dataclass(frozen=True)
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> KeyPair:
        key = serialization.load_pem_private_key(key_pem, password=None)
        # ES256 is P-256 only: a P-384 key would sign, and every gate would refuse.
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("authority keys must be EC P-256")
        return cls(key, x509.load_pem_x509_certificate(cert_pem))


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_iaca(
    common_name: str, *, organization: str, not_before: dt.datetime, not_after: dt.datetime
) -> KeyPair:
    """A self-signed IACA root (Annex B.1.2): CA, path length 0, cert and CRL signing only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organization)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def new_signer(
    iaca: KeyPair,
    common_name: str,
    *,
    organization: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    eku: ObjectIdentifier = MDOC_DS_EKU,
) -> KeyPair:
    """An end-entity signer under ``iaca``: a Document Signer by default (Annex B.1.4)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(iaca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(iaca.key.public_key()),
            critical=False,
        )
        .sign(iaca.key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def new_status_list_signer(
    iaca: KeyPair,
    common_name: str,
    *,
    organization: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> KeyPair:
    return new_signer(
        iaca,
        common_name,
        organization=organization,
        not_before=not_before,
        not_after=not_after,
        eku=STATUS_LIST_SIGNER_EKU,
    )


@dataclass(frozen=True)
class IssuerKeys:
    """One issuing agency's keys: its IACA root, a Document Signer and a status-list signer."""

    iaca: KeyPair
    document_signer: KeyPair
    status_signer: KeyPair


def new_issuer(
    name: str,
    *,
    organization: str,
    not_before: dt.datetime,
    iaca_days: int = 3650,
    signer_days: int = 1000,
) -> IssuerKeys:
    """A complete issuer in one call: the IACA, then both signers under it."""
    iaca = new_iaca(
        f"{name} IACA",
        organization=organization,
        not_before=not_before,
        not_after=not_before + dt.timedelta(days=iaca_days),
    )
    signers_until = not_before + dt.timedelta(days=signer_days)
    return IssuerKeys(
        iaca,
        new_signer(
            iaca,
            f"{name} DS 1",
            organization=organization,
            not_before=not_before,
            not_after=signers_until,
        ),
        new_status_list_signer(
            iaca,
            f"{name} 상태목록",
            organization=organization,
            not_before=not_before,
            not_after=signers_until,
        ),
    )
