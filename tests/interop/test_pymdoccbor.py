"""Our mdoc code against pymdoccbor 1.4, an independent Python implementation, both ways.

pymdoccbor makes issuer-signed data only (no deviceSigned) and checks issuer
data only (IssuerAuth signature, optionally its chain, and the digests). So:
an mdoc it issues is presented by our holder code and must be granted by our
verifier, and a DeviceResponse we make must pass its check.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import _interop
from gateway.central.authority import pki
from gateway.credentials import cose, csid, mdoc
from gateway.credentials.cbor import decode, encode, tag24, untag24
from gateway.credentials.decision import DenialReason
from gateway.credentials.verifier import MobilePresentation, verify
from tests.credentials.conftest import claims_for
from tests.interop.conftest import STATUS_URI, Authority, pymdoc_issue

pytestmark = pytest.mark.interop


def elements(n: int = 1, *, dates_as_text: bool = True) -> dict[str, Any]:
    values = claims_for(n).elements()
    if dates_as_text:
        # pymdoccbor tags issue_date with 1004 itself; it expects the full-date text.
        values[csid.ISSUE_DATE] = values[csid.ISSUE_DATE].isoformat()
    return values


def reader_session() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    reader = ec.generate_private_key(ec.SECP256R1())
    return reader, mdoc.session_transcript(b"interop engagement", reader.public_key(), None)


def issuer_signed_of(issued: bytes) -> bytes:
    """pymdoccbor hands out a DeviceResponse-shaped map; the wallet stores its IssuerSigned."""
    return encode(decode(issued)["documents"][0]["issuerSigned"])


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_pymdoccbor_output_has_the_shape_18013_5_asks_for(
    interop_python: Path, authority: Authority
) -> None:
    device = ec.generate_private_key(ec.SECP256R1())
    issued = pymdoc_issue(
        interop_python,
        signer=authority.ds,
        doctype=csid.DOCTYPE,
        data={csid.NAMESPACE: elements()},
        device_key=device.public_key(),
        revocation={"status_list": {"idx": 7, "uri": STATUS_URI}},
    )
    response = decode(issued)
    assert response["version"] == "1.0"
    assert response["status"] == 0
    document = response["documents"][0]
    assert document["docType"] == csid.DOCTYPE
    assert "deviceSigned" not in document  # issuer data only
    issuer_auth = cose.parse_sign1(document["issuerSigned"]["issuerAuth"])
    assert issuer_auth.protected == {cose.HEADER_ALG: cose.ALG_ES256}
    assert issuer_auth.x5chain() == [authority.ds.der]  # one certificate: a bare bstr
    assert cose.verify_es256(issuer_auth, authority.ds.certificate.public_key())
    mso_bytes = untag24(decode(issuer_auth.payload), "MobileSecurityObjectBytes")
    # validityInfo: each a tdate, 0("YYYY-MM-DDTHH:MM:SSZ"): tag 0, 20 characters, no fraction.
    tdate = rb"\xc0\x74\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    validity = rb"\xa3\x66signed" + tdate + rb"\x69validFrom" + tdate + rb"\x6avalidUntil" + tdate
    assert re.search(validity, mso_bytes)
    mso = mdoc.parse_mso(issuer_auth)
    assert mso.doctype == csid.DOCTYPE
    assert cose.cose_to_ec2_key(mso.device_key).public_numbers() == (
        device.public_key().public_numbers()
    )
    assert mso.status == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    assert mso.validity.signed <= mso.validity.valid_from < mso.validity.valid_until
    (parsed,) = mdoc.parse_device_response(
        encode({**response, "documents": [{**document, "deviceSigned": _empty_device_signed()}]})
    )
    items = parsed.namespaces[csid.NAMESPACE]
    assert {item.identifier for item in items} == set(csid.ALL_ELEMENTS)
    for item in items:
        assert mso.value_digests[csid.NAMESPACE][item.digest_id] == item.digest
    by_name = {item.identifier: item.value for item in items}
    assert by_name[csid.ISSUE_DATE] == dt.date(2026, 1, 5)  # tag 1004 full-date
    assert by_name[csid.PORTRAIT] == claims_for(1).portrait


def _empty_device_signed() -> dict[str, Any]:
    mac = [encode({1: mdoc.HMAC256}), {}, None, bytes(32)]
    return {"nameSpaces": tag24(encode({})), "deviceAuth": {"deviceMac": mac}}


@pytest.mark.parametrize("device_auth", ["signature", "mac"])
def test_mdoc_issued_by_pymdoccbor_is_granted_by_our_verifier(
    interop_python: Path, authority: Authority, device_auth: str
) -> None:
    device = ec.generate_private_key(ec.SECP256R1())
    issued = pymdoc_issue(
        interop_python,
        signer=authority.ds,
        doctype=csid.DOCTYPE,
        data={csid.NAMESPACE: elements(3)},
        device_key=device.public_key(),
        revocation={"status_list": {"idx": 7, "uri": STATUS_URI}},
    )
    reader, transcript = reader_session()
    response = mdoc.present(
        issuer_signed_of(issued),
        device,
        transcript,
        doctype=csid.DOCTYPE,
        requested={csid.NAMESPACE: csid.DOOR_ELEMENTS},
        reader_key_for_mac=reader.public_key() if device_auth == "mac" else None,
    )
    moment = now()
    decision = verify(
        MobilePresentation(response, transcript, reader_key=reader),
        trust=authority.trust(),
        status=authority.status_cache(moment),
        now=moment,
    )
    assert decision.granted, decision
    assert set(decision.claims) == set(csid.DOOR_ELEMENTS)
    assert decision.holder_id == "H0000003"
    assert decision.issuer == "행정안전부 IACA"
    assert (decision.status_index, decision.status_uri) == (7, STATUS_URI)

    # The same response in another session is a replay.
    _, other_session = reader_session()
    replay = verify(
        MobilePresentation(response, other_session, reader_key=reader),
        trust=authority.trust(),
        status=authority.status_cache(moment),
        now=moment,
    )
    assert replay.reason is DenialReason.DEVICE_AUTH_FAILED


def _our_response(authority: Authority, requested: tuple[str, ...] | None) -> bytes:
    device = ec.generate_private_key(ec.SECP256R1())
    start = now() - dt.timedelta(days=1)
    issuer_signed = mdoc.issue(
        doctype=csid.DOCTYPE,
        namespaces={csid.NAMESPACE: claims_for(5).elements()},
        device_key=device.public_key(),
        validity=mdoc.ValidityInfo(start, start, start + dt.timedelta(days=365)),
        signer_key=authority.ds.key,
        x5chain=[authority.ds.der],
        status={"status_list": {"idx": 9, "uri": STATUS_URI}},
    )
    _, transcript = reader_session()
    wanted = None if requested is None else {csid.NAMESPACE: requested}
    return mdoc.present(issuer_signed, device, transcript, doctype=csid.DOCTYPE, requested=wanted)


@pytest.mark.parametrize("requested", [None, csid.DOOR_ELEMENTS], ids=["all", "door"])
def test_our_device_response_passes_pymdoccbor(
    interop_python: Path, authority: Authority, requested: tuple[str, ...] | None
) -> None:
    response = _our_response(authority, requested)
    result = _interop.pymdoc_verify(response, [authority.iaca.der])
    assert result["valid"], result
    assert result["doctypes"] == [csid.DOCTYPE]
    disclosed = set(requested or csid.ALL_ELEMENTS)
    assert set(result["disclosed"][csid.NAMESPACE]) == disclosed
    (hashes,) = result["hash_verification"]
    assert hashes["total"] == hashes["verified"] == len(disclosed)
    assert hashes["failed"] == []


def test_pymdoccbor_check_is_not_vacuous(interop_python: Path, authority: Authority) -> None:
    """A swapped element value and a foreign root both fail its check, as they fail ours."""
    response = decode(_our_response(authority, csid.DOOR_ELEMENTS))
    items = response["documents"][0]["issuerSigned"]["nameSpaces"][csid.NAMESPACE]
    for position, wrapped in enumerate(items):
        item = dict(decode(wrapped.value))
        if item["elementIdentifier"] == csid.ORGANIZATION_CODE:
            item["elementValue"] = "1311000"
            items[position] = tag24(encode(item))
    tampered = _interop.pymdoc_verify(encode(response), [authority.iaca.der])
    assert not tampered["valid"]
    stranger = pki.new_iaca(
        "가짜 IACA",
        organization="가짜",
        not_before=now() - dt.timedelta(days=1),
        not_after=now() + dt.timedelta(days=10),
    )
    foreign = _interop.pymdoc_verify(_our_response(authority, None), [stranger.der])
    assert not foreign["valid"]


def _key_with_short_x() -> ec.EllipticCurvePrivateKey:
    while True:  # about one key in 256 has an x coordinate below 2**248
        key = ec.generate_private_key(ec.SECP256R1())
        if key.public_key().public_numbers().x < 1 << 248:
            return key


def test_pymdoccbor_pem_device_key_loses_leading_zero_octets(
    interop_python: Path, authority: Authority
) -> None:
    """pymdoccbor bug: from a PEM device key it writes x and y in bit_length() bytes.

    RFC 9053 §7.1.1 says of the EC2 x and y parameters: "Leading zero octets
    MUST be preserved." About 1 device key in 128 loses an octet, and the MSO
    then carries a 31-byte coordinate. Ours refuses such a COSE_Key (correctly,
    and fail-closed: MALFORMED), so an mdoc issued that way never opens a door.
    """
    device = _key_with_short_x()
    pem = device.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issued = pymdoc_issue(
        interop_python,
        signer=authority.ds,
        doctype=csid.DOCTYPE,
        data={csid.NAMESPACE: elements()},
        device_key_pem=base64.urlsafe_b64encode(pem).decode(),
        revocation={"status_list": {"idx": 7, "uri": STATUS_URI}},
    )
    issuer_auth = cose.parse_sign1(decode(issued)["documents"][0]["issuerSigned"]["issuerAuth"])
    assert len(mdoc.parse_mso(issuer_auth).device_key[-2]) < 32  # their bug
    _, transcript = reader_session()
    response = mdoc.present(issuer_signed_of(issued), device, transcript, doctype=csid.DOCTYPE)
    moment = now()
    decision = verify(
        MobilePresentation(response, transcript),
        trust=authority.trust(),
        status=authority.status_cache(moment),
        now=moment,
    )
    assert decision.reason is DenialReason.MALFORMED
    assert "deviceKey" in decision.detail


def test_pymdoccbor_double_tags_python_dates(interop_python: Path, authority: Authority) -> None:
    """pymdoccbor pitfall: given a datetime.date for issue_date it writes 1004(1004("…")).

    It wraps the value in tag 1004 itself, and cbor2 >= 5.5 already encodes a
    date as tag 1004, so the item is not a valid full-date (RFC 8943). Both
    pymdoccbor's own check and ours refuse it; issuers must pass ISO text.
    """
    device = ec.generate_private_key(ec.SECP256R1())
    issued = pymdoc_issue(
        interop_python,
        signer=authority.ds,
        doctype=csid.DOCTYPE,
        data={csid.NAMESPACE: elements(dates_as_text=False)},
        device_key=device.public_key(),
        revocation={"status_list": {"idx": 7, "uri": STATUS_URI}},
    )
    assert bytes.fromhex("d903ecd903ec") in issued
    _, transcript = reader_session()
    # All elements: picking a subset would make our holder decode the bad item and stop.
    response = mdoc.present(issuer_signed_of(issued), device, transcript, doctype=csid.DOCTYPE)
    assert not _interop.pymdoc_verify(response, [authority.iaca.der])["valid"]
    moment = now()
    decision = verify(
        MobilePresentation(response, transcript),
        trust=authority.trust(),
        status=authority.status_cache(moment),
        now=moment,
    )
    assert decision.reason is DenialReason.MALFORMED
