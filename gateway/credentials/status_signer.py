"""Which key a gate accepts status lists from: the signer's certificate, checked against its IACAs.

The authority signs Status List Tokens with a key of its own, certified by
its IACA with the status-list extended key usage (``trust.STATUS_LIST_SIGNER_EKU``)
so that a Document Signer key cannot sign a status list nor the other way
round. A gate is given that certificate next to the anchors; it believes the
key inside only once the certificate chains to one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.credentials.trust import STATUS_LIST_SIGNER_EKU, TrustStore


def status_signer_key(
    anchors: Iterable[x509.Certificate],
    chain: Iterable[x509.Certificate],
    now: dt.datetime,
) -> ec.EllipticCurvePublicKey:
    """The public key of the status-list signer heading ``chain``, if it chains to ``anchors``.

    Raises :class:`gateway.credentials.trust.UntrustedIssuer` when it does not,
    when the certificate lacks the status-list extended key usage, or when it
    is not valid at ``now``.
    """
    checker = TrustStore(anchors, signer_eku=STATUS_LIST_SIGNER_EKU)
    der = [cert.public_bytes(Encoding.DER) for cert in chain]
    return checker.document_signer(der, now).public_key
