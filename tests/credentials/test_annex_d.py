"""ISO/IEC 18013-5:2021 Annex D: the standard's own worked example, byte for byte.

The vectors (the "utopia" mDL, its DS and IACA certificates, the session
transcript, the reader's ephemeral key) are in ``vectors/annex_d.json``, with
where each was copied from. The mdoc in it authenticates with deviceMac, so
this also checks the MAC key derivation end to end.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose, mdoc
from gateway.credentials.cbor import decode, encode, untag24
from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import StatusCache
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import (
    MobilePresentation,
    VerifierOptions,
    _check_device_auth,
    _Denied,
    verify,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "annex_d.json").read_text(encoding="utf-8")
)
MDL = "org.iso.18013.5.1.mDL"
MDL_NAMESPACE = "org.iso.18013.5.1"
MDL_OPTIONS = VerifierOptions(doctype=MDL, namespace=MDL_NAMESPACE)
# Inside the DS certificate's validity (2020-10-01 to 2021-10-01) and the MSO's.
DURING = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)


def raw(name: str) -> bytes:
    return bytes.fromhex(VECTORS[name])


def private_key(name: str) -> ec.EllipticCurvePrivateKey:
    numbers = VECTORS[name]
    key = ec.derive_private_key(int(numbers["d"], 16), ec.SECP256R1())
    public = key.public_key().public_numbers()
    assert (public.x, public.y) == (int(numbers["x"], 16), int(numbers["y"], 16))
    return key


def transcript() -> bytes:
    """SessionTranscript; the annex prints SessionTranscriptBytes, i.e. wrapped in tag 24."""
    return untag24(decode(raw("session_transcript_bytes")), "SessionTranscriptBytes")


@pytest.fixture(scope="module")
def document() -> mdoc.Document:
    (only,) = mdoc.parse_device_response(raw("device_response"))
    return only


@pytest.fixture(scope="module")
def mso(document: mdoc.Document) -> mdoc.MobileSecurityObject:
    return mdoc.parse_mso(document.issuer_auth)


def test_device_response_parses_with_the_annex_elements(document: mdoc.Document) -> None:
    assert document.doctype == MDL
    assert list(document.namespaces) == [MDL_NAMESPACE]
    items = document.namespaces[MDL_NAMESPACE]
    assert [(item.digest_id, item.identifier) for item in items] == [
        (0, "family_name"),
        (3, "issue_date"),
        (4, "expiry_date"),
        (7, "document_number"),
        (8, "portrait"),
        (9, "driving_privileges"),
    ]
    values = {item.identifier: item.value for item in items}
    assert values["family_name"] == "Doe"
    assert values["issue_date"] == dt.date(2019, 10, 20)  # full-date, tag 1004
    assert values["expiry_date"] == dt.date(2024, 10, 20)
    assert values["document_number"] == "123456789"
    assert values["portrait"] == raw("portrait")
    assert values["driving_privileges"] == [
        {
            "vehicle_category_code": "A",
            "issue_date": dt.date(2018, 8, 9),
            "expiry_date": dt.date(2024, 10, 20),
        },
        {
            "vehicle_category_code": "B",
            "issue_date": dt.date(2017, 2, 23),
            "expiry_date": dt.date(2024, 10, 20),
        },
    ]
    assert document.device_signature is None
    assert document.device_mac is not None
    assert document.device_namespaces_bytes == encode({})


def test_every_issuer_signed_item_matches_its_mso_digest(
    document: mdoc.Document, mso: mdoc.MobileSecurityObject
) -> None:
    assert {ns: len(table) for ns, table in mso.value_digests.items()} == {
        MDL_NAMESPACE: 13,
        "org.iso.18013.5.1.US": 4,
    }
    items = document.namespaces[MDL_NAMESPACE]
    for item in items:
        assert mso.value_digests[MDL_NAMESPACE][item.digest_id] == item.digest, item.identifier


def test_a_changed_element_value_breaks_only_its_own_digest(mso: mdoc.MobileSecurityObject) -> None:
    response = raw("device_response")
    assert response.count(b"cDoe") == 1
    (forged,) = mdoc.parse_device_response(response.replace(b"cDoe", b"cFoe"))
    mismatched = [
        item.identifier
        for item in forged.namespaces[MDL_NAMESPACE]
        if mso.value_digests[MDL_NAMESPACE][item.digest_id] != item.digest
    ]
    assert mismatched == ["family_name"]


def test_mso_fields_are_those_printed_in_the_annex(mso: mdoc.MobileSecurityObject) -> None:
    assert mso.doctype == MDL
    static = VECTORS["static_device_key"]
    assert mso.device_key == {
        1: 2,  # EC2
        -1: 1,  # P-256
        -2: bytes.fromhex(static["x"]),
        -3: bytes.fromhex(static["y"]),
    }
    assert cose.cose_to_ec2_key(mso.device_key).public_numbers() == (
        private_key("static_device_key").public_key().public_numbers()
    )
    utc = dt.UTC
    assert mso.validity == mdoc.ValidityInfo(
        signed=dt.datetime(2020, 10, 1, 13, 30, 2, tzinfo=utc),
        valid_from=dt.datetime(2020, 10, 1, 13, 30, 2, tzinfo=utc),
        valid_until=dt.datetime(2021, 10, 1, 13, 30, 2, tzinfo=utc),
    )
    assert mso.status is None  # the 2021 edition has no status reference
    payload = decode(untag24(decode(mso_payload()), "MobileSecurityObjectBytes"))
    assert payload["version"] == "1.0"
    assert payload["digestAlgorithm"] == "SHA-256"


def mso_payload() -> bytes:
    payload = cose.parse_sign1(decode(raw("issuer_auth"))).payload
    assert payload is not None
    return payload


def test_issuer_auth_verifies_with_the_annex_document_signer(document: mdoc.Document) -> None:
    ds = x509.load_der_x509_certificate(raw("ds_cert"))
    assert document.issuer_auth.x5chain() == [raw("ds_cert")]
    assert document.issuer_auth.encode() == raw("issuer_auth")
    assert document.issuer_auth.protected == {cose.HEADER_ALG: cose.ALG_ES256}
    public_key = ds.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cose.verify_es256(document.issuer_auth, public_key)
    broken = bytearray(document.issuer_auth.signature)
    broken[10] ^= 1
    forged = cose.Sign1(
        document.issuer_auth.protected_bytes,
        document.issuer_auth.protected,
        document.issuer_auth.unprotected,
        document.issuer_auth.payload,
        bytes(broken),
    )
    assert not cose.verify_es256(forged, public_key)


def test_the_document_signer_chains_to_the_annex_iaca() -> None:
    ds = x509.load_der_x509_certificate(raw("ds_cert"))
    iaca = x509.load_der_x509_certificate(raw("iaca_cert"))
    assert ds.issuer == iaca.subject
    ds.verify_directly_issued_by(iaca)
    aki = ds.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = iaca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    TrustStore([iaca])  # accepted as an anchor


def test_session_transcript_is_rebuilt_byte_for_byte() -> None:
    engagement, reader_key_bytes, handover = decode(transcript())
    reader = private_key("ephemeral_reader_key")
    assert decode(untag24(reader_key_bytes, "EReaderKeyBytes")) == cose.ec2_key_to_cose(
        reader.public_key()
    )
    rebuilt = mdoc.session_transcript(
        untag24(engagement, "DeviceEngagementBytes"), reader.public_key(), handover
    )
    assert rebuilt == transcript()
    # The EDeviceKey in the engagement is the annex's ephemeral device key.
    device_key = decode(untag24(decode(untag24(engagement, "DeviceEngagementBytes"))[1][1], "key"))
    ephemeral = private_key("ephemeral_device_key").public_key()
    assert device_key == cose.ec2_key_to_cose(ephemeral)


def test_device_authentication_bytes_are_those_of_the_annex(document: mdoc.Document) -> None:
    ours = mdoc.device_authentication_bytes(
        transcript(), document.doctype, document.device_namespaces_bytes
    )
    assert ours == raw("device_authentication_bytes")


def test_device_mac_verifies_with_the_annex_reader_key(
    document: mdoc.Document, mso: mdoc.MobileSecurityObject
) -> None:
    assert document.device_mac is not None
    protected, unprotected, payload, tag = document.device_mac
    assert decode(protected) == {1: mdoc.HMAC256}
    assert (unprotected, payload) == ({}, None)  # detached
    assert encode({"deviceMac": document.device_mac}) == raw("device_auth")
    device_key = cose.cose_to_ec2_key(mso.device_key)
    reader = private_key("ephemeral_reader_key")
    signed = raw("device_authentication_bytes")
    reader_side = mdoc.mac_key(reader, device_key, transcript())
    assert mdoc.mac0_tag(reader_side, protected, signed) == tag
    # ECDH is symmetric: the mdoc derives the same EMacKey from SDeviceKey.
    device_side = mdoc.mac_key(private_key("static_device_key"), reader.public_key(), transcript())
    assert device_side == reader_side
    # Another reader, or another session, gets another key.
    other = ec.generate_private_key(ec.SECP256R1())
    assert mdoc.mac0_tag(mdoc.mac_key(other, device_key, transcript()), protected, signed) != tag


def test_verifier_device_auth_accepts_the_annex_mac(
    document: mdoc.Document, mso: mdoc.MobileSecurityObject
) -> None:
    device_key = cose.cose_to_ec2_key(mso.device_key)
    reader = private_key("ephemeral_reader_key")
    presentation = MobilePresentation(raw("device_response"), transcript(), reader_key=reader)
    _check_device_auth(document, device_key, presentation, MDL_OPTIONS)  # does not raise
    stranger = ec.generate_private_key(ec.SECP256R1())
    wrong = MobilePresentation(raw("device_response"), transcript(), reader_key=stranger)
    with pytest.raises(_Denied) as denied:
        _check_device_auth(document, device_key, wrong, MDL_OPTIONS)
    assert denied.value.reason is DenialReason.DEVICE_AUTH_FAILED


def test_full_verify_without_the_annex_iaca_is_untrusted() -> None:
    presentation = MobilePresentation(
        raw("device_response"), transcript(), reader_key=private_key("ephemeral_reader_key")
    )
    decision = verify(
        presentation, trust=TrustStore(), status=StatusCache({}), now=DURING, options=MDL_OPTIONS
    )
    assert decision.reason is DenialReason.UNTRUSTED_ISSUER


# The Annex D Document Signer has no BasicConstraints extension: Annex B does not
# require one for a DS, so the trust store must accept its absence.


def test_trust_store_accepts_the_annex_document_signer() -> None:
    trust = TrustStore([x509.load_der_x509_certificate(raw("iaca_cert"))])
    signer = trust.document_signer([raw("ds_cert")], DURING)
    assert (signer.subject, signer.issuer) == ("utopia ds", "utopia iaca")


def test_full_verify_with_the_annex_iaca_passes_every_mdoc_check() -> None:
    """Chain, issuer signature, digests, deviceMac and validity all hold.

    The verdict is still a denial, for our reasons, not the annex's: the mDL
    carries no holder_id/credential_serial (our REQUIRED_ELEMENTS, checked
    before status) and no status reference (2021 edition).
    """
    trust = TrustStore([x509.load_der_x509_certificate(raw("iaca_cert"))])
    presentation = MobilePresentation(
        raw("device_response"), transcript(), reader_key=private_key("ephemeral_reader_key")
    )
    decision = verify(
        presentation, trust=trust, status=StatusCache({}), now=DURING, options=MDL_OPTIONS
    )
    assert (decision.issuer, decision.signer) == ("utopia iaca", "utopia ds")
    assert decision.claims["family_name"] == "Doe"
    assert decision.reason is DenialReason.MALFORMED
    assert "required elements not disclosed" in decision.detail
