"""Which issuers a gate believes: IACA roots and the Document Signers under them.

18013-5 Annex B fixes a two-level PKI: an IACA root per issuing authority
signs Document Signer (DS) certificates, and a DS signs credentials. Each
central agency issues for its own staff and may delegate to subordinate
agencies (rule 57), so a gate holds several IACAs and each IACA may have
several DSes at once, which is also how a DS key is rotated without a gap:
the new DS starts signing while the old one's certificate is still valid.

A DS check costs a chain walk and an ECDSA verification. The result is
cached per DS certificate, so a tap only compares ``now`` with the validity
window that was computed when that DS was first seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

# 18013-5 Annex B.1.4: extended key usage of an mdoc Document Signer.
MDOC_DS_EKU = ObjectIdentifier("1.0.18013.5.1.2")
# Ours, for the certificate that signs status list tokens (not an mdoc DS): a
# UUID-derived OID (ITU-T X.667 arc 2.25), which needs no registration.
STATUS_LIST_SIGNER_EKU = ObjectIdentifier("2.25.90071944347550808272758799933499659022")

CACHE_SIZE = 4096
_SHA256 = hashes.SHA256()


def signer_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the to-be-signed part, hex.

    Not of the whole DER: the signature of a certificate can be re-encoded (an
    ECDSA (r, n-s) twin, other BIT STRING padding) without the IACA's key, which
    would give a revoked signer a new fingerprint. The signed part cannot change.
    """
    return hashlib.sha256(cert.tbs_certificate_bytes).hexdigest()


class UntrustedIssuer(ValueError):
    """The presented chain does not lead to an anchor we trust, now."""


@dataclass(frozen=True, slots=True)
class DocumentSigner:
    """A DS that chains to one of our anchors; valid between ``not_before`` and ``not_after``."""

    public_key: ec.EllipticCurvePublicKey
    subject: str
    issuer: str  # the IACA's name: who answers for this credential
    fingerprint: str  # signer_fingerprint() of the DS certificate
    not_before: dt.datetime
    not_after: dt.datetime  # the earlier of the DS's and the IACA's expiry


def _common_name(name: x509.Name) -> str:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else name.rfc4514_string()


def _check_anchor(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise ValueError(f"IACA {cert.subject.rfc4514_string()}: {exc}") from exc
    if not constraints.ca or not usage.key_cert_sign:
        raise ValueError(f"IACA {cert.subject.rfc4514_string()} is not a CA certificate")
    if cert.issuer != cert.subject:
        raise ValueError(f"IACA {cert.subject.rfc4514_string()} is not self-issued")


class TrustStore:
    """The IACA roots a gate trusts, with a cache of Document Signers already checked."""

    def __init__(
        self,
        anchors: Iterable[x509.Certificate] = (),
        *,
        signer_eku: ObjectIdentifier = MDOC_DS_EKU,
    ) -> None:
        self._anchors: dict[bytes, x509.Certificate] = {}
        self._eku = signer_eku
        self._revoked: set[str] = set()
        self._cache: OrderedDict[bytes, DocumentSigner | UntrustedIssuer] = OrderedDict()
        for anchor in anchors:
            self.add_anchor(anchor)

    @property
    def anchors(self) -> list[x509.Certificate]:
        return list(self._anchors.values())

    def add_anchor(self, cert: x509.Certificate) -> None:
        _check_anchor(cert)
        self._anchors[cert.fingerprint(_SHA256)] = cert
        self._cache.clear()

    def remove_anchor(self, cert: x509.Certificate) -> None:
        self._anchors.pop(cert.fingerprint(_SHA256), None)
        self._cache.clear()

    def revoke_signer(self, fingerprint: str) -> None:
        """Stop trusting one DS (a compromised key) without dropping its IACA."""
        self._revoked.add(fingerprint.lower())
        self._cache.clear()

    def document_signer(self, x5chain: list[bytes], now: dt.datetime) -> DocumentSigner:
        """The DS that heads ``x5chain``, if it chains to an anchor and is valid at ``now``."""
        if not x5chain:
            raise UntrustedIssuer("empty x5chain")
        leaf = x5chain[0]
        cached = self._cache.get(leaf)
        if cached is None:
            cached = self._walk(leaf)
            self._cache[leaf] = cached
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        if isinstance(cached, UntrustedIssuer):
            raise cached
        if not cached.not_before <= now <= cached.not_after:
            raise UntrustedIssuer(
                f"document signer {cached.subject} is valid only from "
                f"{cached.not_before:%Y-%m-%dT%H:%M:%SZ} to {cached.not_after:%Y-%m-%dT%H:%M:%SZ}"
            )
        return cached

    def _walk(self, leaf: bytes) -> DocumentSigner | UntrustedIssuer:
        try:
            return self._walk_parsed(x509.load_der_x509_certificate(leaf))
        except Exception as exc:
            # hostile DER (ValueError, TypeError, InvalidVersion, …) means "not trusted".
            return UntrustedIssuer(f"DS certificate does not parse: {type(exc).__name__}: {exc}")

    def _walk_parsed(self, cert: x509.Certificate) -> DocumentSigner | UntrustedIssuer:
        fingerprint = signer_fingerprint(cert)
        if fingerprint in self._revoked:
            return UntrustedIssuer(f"document signer {fingerprint[:16]}… is revoked")
        problem = self._signer_profile_problem(cert)
        if problem:
            return UntrustedIssuer(problem)
        for anchor in self._anchors.values():
            if anchor.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(anchor)
            except (InvalidSignature, ValueError, TypeError):
                continue
            key = cert.public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return UntrustedIssuer("DS key is not an EC key")
            return DocumentSigner(
                public_key=key,
                subject=_common_name(cert.subject),
                issuer=_common_name(anchor.subject),
                fingerprint=fingerprint,
                not_before=max(cert.not_valid_before_utc, anchor.not_valid_before_utc),
                not_after=min(cert.not_valid_after_utc, anchor.not_valid_after_utc),
            )
        return UntrustedIssuer(f"no trusted IACA issued {cert.subject.rfc4514_string()}")

    def _signer_profile_problem(self, cert: x509.Certificate) -> str | None:
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound as exc:
            return f"DS certificate lacks a required extension: {exc}"
        # Annex B does not require BasicConstraints in a DS (the Annex D signer has
        # none; RFC 5280 lets end entities omit it), but a DS that claims CA is wrong.
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is not None and constraints.ca:
            return "DS certificate must not be a CA"
        if not usage.digital_signature:
            return "DS certificate key usage lacks digitalSignature"
        if self._eku not in eku:
            return f"DS certificate lacks extended key usage {self._eku.dotted_string}"
        if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
            return "DS certificate must not claim anyExtendedKeyUsage"
        return None
