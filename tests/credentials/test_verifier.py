"""Every denial reason, reached with real keys, and the grants that must still hold."""

from __future__ import annotations

import datetime as dt

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import pki
from gateway.credentials import card, cose, csid, mdoc
from gateway.credentials.cbor import decode, encode, tag24, wrapped_bytes
from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import Status
from gateway.credentials.trust import signer_fingerprint
from gateway.credentials.verifier import (
    CardPresentation,
    MobilePresentation,
    UidPresentation,
    Verifier,
    VerifierOptions,
    verify,
)
from tests.credentials.conftest import NOW, World, make_world, transcript


def check(world: World, presentation, now: dt.datetime = NOW, **options):
    return verify(
        presentation,
        trust=world.trust(),
        status=world.status_cache(),
        now=now,
        options=VerifierOptions(**options),
    )


def mobile(world: World, holder=None, requested=None) -> MobilePresentation:
    holder = holder or world.issue()
    session = transcript()
    return MobilePresentation(holder.present(session, requested), session)


def test_valid_mobile_presentation_is_granted_with_only_the_requested_claims(world: World) -> None:
    holder = world.issue()
    session = transcript()
    response = holder.present(session, list(csid.DOOR_ELEMENTS))
    decision = check(world, MobilePresentation(response, session))
    assert decision.granted, decision
    assert decision.reason is None
    assert decision.holder_id == "H0000001"
    assert set(decision.claims) == set(csid.DOOR_ELEMENTS)
    assert csid.NAME not in decision.claims
    assert csid.PORTRAIT not in decision.claims
    assert decision.issuer == "행정안전부 IACA"
    assert decision.status_index == holder.index


def test_all_elements_disclosed_when_a_guard_desk_asks(world: World) -> None:
    decision = check(world, mobile(world))
    assert decision.granted
    assert decision.claims[csid.NAME] == "홍길동"
    assert decision.claims[csid.ISSUE_DATE] == dt.date(2026, 1, 5)


def test_garbage_is_malformed(world: World) -> None:
    decision = check(world, MobilePresentation(b"\xa0garbage", transcript()))
    assert not decision.granted
    assert decision.reason is DenialReason.MALFORMED


def test_other_doctype_is_unsupported(world: World) -> None:
    holder = world.issue(doctype="org.iso.18013.5.1.mDL")
    session = transcript()
    response = mdoc.present(
        holder.issuer_signed, holder.device_key, session, doctype="org.iso.18013.5.1.mDL"
    )
    decision = check(world, MobilePresentation(response, session))
    assert decision.reason is DenialReason.UNSUPPORTED_DOCTYPE


def test_uid_only_card_is_refused(world: World) -> None:
    decision = check(world, UidPresentation(b"\x04\x11\x22\x33"))
    assert decision.reason is DenialReason.UNSUPPORTED_DOCTYPE
    assert not decision.granted


def test_credential_from_an_issuer_we_do_not_trust(world: World) -> None:
    stranger = make_world("가짜")
    decision = check(world, mobile(world, stranger.issue()))
    assert decision.reason is DenialReason.UNTRUSTED_ISSUER


def test_expired_document_signer_is_untrusted(world: World) -> None:
    later = world.ds.certificate.not_valid_after_utc + dt.timedelta(days=1)
    decision = check(world, mobile(world), now=later)
    assert decision.reason is DenialReason.UNTRUSTED_ISSUER


def test_forged_issuer_signature(world: World) -> None:
    holder = world.issue()
    signed = decode(holder.issuer_signed)
    signature = bytearray(signed["issuerAuth"][3])
    signature[5] ^= 0x01
    signed["issuerAuth"][3] = bytes(signature)
    holder.issuer_signed = encode(signed)
    decision = check(world, mobile(world, holder))
    assert decision.reason is DenialReason.BAD_ISSUER_SIGNATURE


def test_swapped_element_value_breaks_its_digest(world: World) -> None:
    holder = world.issue()
    session = transcript()
    response = decode(holder.present(session))
    items = response["documents"][0]["issuerSigned"]["nameSpaces"][csid.NAMESPACE]
    for position, wrapped in enumerate(items):
        item = decode(wrapped.value)
        if item["elementIdentifier"] == csid.ORGANIZATION_CODE:
            item["elementValue"] = "1311000"  # claim to be 국방부
            items[position] = tag24(encode(item))
    decision = check(world, MobilePresentation(encode(response), session))
    assert decision.reason is DenialReason.DIGEST_MISMATCH


def test_replayed_response_fails_device_auth_in_a_new_session(world: World) -> None:
    holder = world.issue()
    recorded = holder.present(transcript(b"first tap"))
    decision = check(world, MobilePresentation(recorded, transcript(b"second tap")))
    assert decision.reason is DenialReason.DEVICE_AUTH_FAILED


def test_copied_mdoc_without_the_device_key_fails_device_auth(world: World) -> None:
    holder = world.issue()
    holder.device_key = ec.generate_private_key(ec.SECP256R1())  # the clone's own key
    decision = check(world, mobile(world, holder))
    assert decision.reason is DenialReason.DEVICE_AUTH_FAILED


def test_device_mac_is_accepted_with_the_reader_key(world: World) -> None:
    holder = world.issue()
    reader = ec.generate_private_key(ec.SECP256R1())
    session = mdoc.session_transcript(b"engagement", reader.public_key(), None)
    response = mdoc.present(
        holder.issuer_signed,
        holder.device_key,
        session,
        doctype=csid.DOCTYPE,
        reader_key_for_mac=reader.public_key(),
    )
    granted = check(world, MobilePresentation(response, session, reader_key=reader))
    assert granted.granted, granted
    other_reader = ec.generate_private_key(ec.SECP256R1())
    denied = check(world, MobilePresentation(response, session, reader_key=other_reader))
    assert denied.reason is DenialReason.DEVICE_AUTH_FAILED
    without_key = check(world, MobilePresentation(response, session))
    assert without_key.reason is DenialReason.DEVICE_AUTH_FAILED


def test_expired_and_not_yet_valid(world: World) -> None:
    expired = world.issue(validity=world.validity(valid_until=NOW - dt.timedelta(seconds=1)))
    assert check(world, mobile(world, expired)).reason is DenialReason.EXPIRED
    future = world.issue(
        validity=world.validity(
            signed=NOW,
            valid_from=NOW + dt.timedelta(hours=1),
            valid_until=NOW + dt.timedelta(days=9),
        )
    )
    assert check(world, mobile(world, future)).reason is DenialReason.NOT_YET_VALID


@pytest.mark.parametrize(
    ("status", "reason"),
    [(Status.INVALID, DenialReason.REVOKED), (Status.SUSPENDED, DenialReason.SUSPENDED)],
)
def test_status_list_revokes_and_suspends(
    world: World, status: Status, reason: DenialReason
) -> None:
    holder = world.issue()
    world.set_status(holder.index, status)
    decision = check(world, mobile(world, holder))
    assert decision.reason is reason
    assert decision.holder_id == "H0000001"  # the log still says whose credential it was


def test_credential_without_status_reference_is_unknown(world: World) -> None:
    holder = world.issue(status=None)
    assert check(world, mobile(world, holder)).reason is DenialReason.UNKNOWN_STATUS


def test_credential_outside_every_status_list_is_unknown(world: World) -> None:
    holder = world.issue(status={"status_list": {"idx": 5, "uri": "https://elsewhere/status"}})
    assert check(world, mobile(world, holder)).reason is DenialReason.UNKNOWN_STATUS


def test_stale_status_list_denies(world: World) -> None:
    holder = world.issue()
    presentation = mobile(world, holder)
    cache = world.status_cache(ttl=600)
    later = NOW + dt.timedelta(hours=2)
    decision = verify(presentation, trust=world.trust(), status=cache, now=later)
    assert decision.reason is DenialReason.STALE_STATUS


def test_mso_signed_outside_the_signer_validity_is_untrusted(world: World) -> None:
    before = world.ds.certificate.not_valid_before_utc - dt.timedelta(days=1)
    holder = world.issue(validity=world.validity(signed=before, valid_from=before))
    assert check(world, mobile(world, holder)).reason is DenialReason.UNTRUSTED_ISSUER


def test_missing_required_element_is_malformed(world: World) -> None:
    decision = check(world, mobile(world, requested=[csid.ORGANIZATION_CODE]))
    assert decision.reason is DenialReason.MALFORMED
    assert "holder_id" in decision.detail


# --- chip card -----------------------------------------------------------------


def tap_card(world: World, holder, *, reader_id: str = "sejong-b6-g1", now=NOW, sign=True):
    challenge = card.Challenge.fresh(reader_id, now).encode()
    signature = card.sign_challenge(holder.card_key, challenge) if sign else None
    return CardPresentation(holder.card_object, challenge, signature)


def test_card_with_challenge_response_is_granted(world: World) -> None:
    holder = world.issue_card()
    decision = check(world, tap_card(world, holder), reader_id="sejong-b6-g1")
    assert decision.granted, decision
    assert decision.kind == "card"
    assert decision.holder_id == "H0000002"


def test_cloned_card_replaying_an_old_answer_is_refused(world: World) -> None:
    holder = world.issue_card()
    old = tap_card(world, holder, now=NOW - dt.timedelta(seconds=5))
    fresh = card.Challenge.fresh("sejong-b6-g1", NOW).encode()
    replay = CardPresentation(holder.card_object, fresh, old.signature)
    decision = check(world, replay, reader_id="sejong-b6-g1")
    assert decision.reason is DenialReason.DEVICE_AUTH_FAILED


def test_card_answer_for_another_reader_or_an_old_challenge_is_refused(world: World) -> None:
    holder = world.issue_card()
    elsewhere = check(
        world, tap_card(world, holder, reader_id="gwacheon-1"), reader_id="sejong-b6-g1"
    )
    assert elsewhere.reason is DenialReason.DEVICE_AUTH_FAILED
    stale = tap_card(world, holder, now=NOW - dt.timedelta(minutes=5))
    assert check(world, stale, reader_id="sejong-b6-g1").reason is DenialReason.DEVICE_AUTH_FAILED


def test_static_card_data_is_refused_unless_the_site_opts_in(world: World) -> None:
    holder = world.issue_card()
    static = tap_card(world, holder, sign=False)
    assert check(world, static).reason is DenialReason.DEVICE_AUTH_FAILED
    allowed = check(world, static, accept_static_card=True)
    assert allowed.granted
    assert allowed.assurance == "static"


def test_revoked_card_is_refused(world: World) -> None:
    holder = world.issue_card()
    world.set_status(holder.index, Status.INVALID)
    assert check(world, tap_card(world, holder)).reason is DenialReason.REVOKED


def test_card_object_from_untrusted_signer(world: World) -> None:
    stranger = make_world("가짜")
    holder = stranger.issue_card()
    assert check(world, tap_card(world, holder)).reason is DenialReason.UNTRUSTED_ISSUER


def test_card_object_with_forged_signature(world: World) -> None:
    holder = world.issue_card()
    body = cbor2.loads(holder.card_object)
    body[3] = bytes(64)
    holder.card_object = cbor2.dumps(body)
    assert check(world, tap_card(world, holder)).reason is DenialReason.BAD_ISSUER_SIGNATURE


# --- trust: several issuers and key rotation ---------------------------------


def test_several_issuers_and_a_rotated_signer_all_verify(world: World) -> None:
    other = make_world("인사혁신처")
    start = NOW - dt.timedelta(days=10)
    rotated = pki.new_signer(
        world.iaca,
        "행정안전부 DS 2",
        organization="행정안전부",
        not_before=start,
        not_after=start + dt.timedelta(days=1000),
    )
    old_holder = world.issue()
    new_holder = world.issue(
        signer=rotated, validity=world.validity(signed=start, valid_from=start)
    )
    trust = type(world.trust())([world.iaca.certificate, other.iaca.certificate])
    cache = world.status_cache()
    for holder in (old_holder, new_holder):
        decision = verify(mobile(world, holder), trust=trust, status=cache, now=NOW)
        assert decision.granted, decision
    # The other agency's credentials need its own status list; the chain still holds.
    own_list = {"status_list": {"idx": 0, "uri": "https://mpm.go.kr/status/9"}}
    foreign = verify(
        mobile(other, other.issue(status=own_list)), trust=trust, status=cache, now=NOW
    )
    assert foreign.reason is DenialReason.UNKNOWN_STATUS
    assert foreign.issuer == "인사혁신처 IACA"


# --- a gate's Verifier remembers issuer sides, never verdicts -----------------


def test_remembered_issuer_side_never_skips_the_per_tap_checks(world: World) -> None:
    holder = world.issue()
    trust = world.trust()
    gate = Verifier(trust, world.status_cache(), VerifierOptions())
    assert gate.verify(mobile(world, holder), NOW).granted
    assert gate.verify(mobile(world, holder), NOW).granted  # remembered this time

    recorded = holder.present(transcript(b"first tap"))
    replay = MobilePresentation(recorded, transcript(b"second tap"))
    assert gate.verify(replay, NOW).reason is DenialReason.DEVICE_AUTH_FAILED

    session = transcript()
    response = decode(holder.present(session))
    items = response["documents"][0]["issuerSigned"]["nameSpaces"][csid.NAMESPACE]
    item = decode(items[0].value)
    item["elementValue"] = "forged"
    items[0] = tag24(encode(item))
    tampered = MobilePresentation(encode(response), session)
    assert gate.verify(tampered, NOW).reason is DenialReason.DIGEST_MISMATCH

    later = world.validity().valid_until + dt.timedelta(seconds=1)
    assert gate.verify(mobile(world, holder), later).reason is DenialReason.EXPIRED


def test_status_and_signer_revocation_apply_to_remembered_credentials(world: World) -> None:
    holder = world.issue()
    trust = world.trust()
    status = world.status_cache()
    gate = Verifier(trust, status)
    assert gate.verify(mobile(world, holder), NOW).granted

    world.set_status(holder.index, Status.SUSPENDED)
    status.apply(world.token(iat=world.iat + 1), int(NOW.timestamp()))
    assert gate.verify(mobile(world, holder), NOW).reason is DenialReason.SUSPENDED

    trust.revoke_signer(signer_fingerprint(world.ds.certificate))
    assert gate.verify(mobile(world, holder), NOW).reason is DenialReason.UNTRUSTED_ISSUER


def test_a_different_signature_over_the_same_mso_is_checked_again(world: World) -> None:
    holder = world.issue()
    gate = Verifier(world.trust(), world.status_cache())
    assert gate.verify(mobile(world, holder), NOW).granted
    signed = decode(holder.issuer_signed)
    signature = bytearray(signed["issuerAuth"][3])
    signature[-1] ^= 0x01
    signed["issuerAuth"][3] = bytes(signature)
    holder.issuer_signed = encode(signed)
    assert gate.verify(mobile(world, holder), NOW).reason is DenialReason.BAD_ISSUER_SIGNATURE


def test_remembered_cards_still_answer_every_challenge(world: World) -> None:
    holder = world.issue_card()
    gate = Verifier(world.trust(), world.status_cache(), VerifierOptions(reader_id="sejong-b6-g1"))
    assert gate.verify(tap_card(world, holder), NOW).granted
    old = tap_card(world, holder, now=NOW - dt.timedelta(seconds=5))
    fresh = card.Challenge.fresh("sejong-b6-g1", NOW).encode()
    replay = CardPresentation(holder.card_object, fresh, old.signature)
    assert gate.verify(replay, NOW).reason is DenialReason.DEVICE_AUTH_FAILED


def test_hand_built_encodings_equal_the_encoder() -> None:
    for size in (0, 1, 23, 24, 255, 256, 65535, 65536, 70000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert wrapped_bytes(payload) == encode(tag24(payload))
        assert cose.sig_structure(b"\xa1\x01\x26", payload, b"aad") == encode(
            ["Signature1", b"\xa1\x01\x26", b"aad", payload]
        )


def test_device_signature_with_an_attached_payload_is_malformed(world: World) -> None:
    session = transcript()
    response = decode(world.issue().present(session))
    response["documents"][0]["deviceSigned"]["deviceAuth"]["deviceSignature"][2] = b""
    decision = check(world, MobilePresentation(encode(response), session))
    assert decision.reason is DenialReason.MALFORMED
    assert "detached" in decision.detail


def test_removing_an_anchor_stops_its_credentials_at_once(world: World) -> None:
    holder = world.issue()
    trust = world.trust()
    gate = Verifier(trust, world.status_cache())
    assert gate.verify(mobile(world, holder), NOW).granted
    trust.remove_anchor(world.iaca.certificate)
    assert gate.verify(mobile(world, holder), NOW).reason is DenialReason.UNTRUSTED_ISSUER
