"""The signed-message envelope: what verifies, and the reason word for each refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from gateway.credentials import cose
from gateway.mqtt.payloads import PostureState
from gateway.mqtt.signed import (
    CT_COMMAND,
    CT_POSTURE,
    SignedMessageError,
    open_message,
    sign_message,
)

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KEYS = {b"centre-1": KEY.public_key()}
POSTURE = PostureState(
    site="sejong",
    version=3,
    issued_at=dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC),
    posture="level2",
)


def _refusal(data: bytes, content_type: str = CT_POSTURE) -> str:
    with pytest.raises(SignedMessageError) as caught:
        open_message(data, KEYS, content_type=content_type, model=PostureState)
    return caught.value.reason


def test_a_signed_posture_opens_with_its_signer() -> None:
    data = sign_message(POSTURE, KEY, kid=b"centre-1", content_type=CT_POSTURE)
    message, kid = open_message(data, KEYS, content_type=CT_POSTURE, model=PostureState)
    assert message == POSTURE
    assert kid == b"centre-1"


def test_a_posture_is_not_a_command() -> None:
    data = sign_message(POSTURE, KEY, kid=b"centre-1", content_type=CT_POSTURE)
    assert _refusal(data, CT_COMMAND) == "wrong_type"


def test_another_key_under_the_trusted_kid_is_a_bad_signature() -> None:
    data = sign_message(POSTURE, OTHER, kid=b"centre-1", content_type=CT_POSTURE)
    assert _refusal(data) == "bad_signature"


def test_an_unknown_kid_is_refused_before_any_signature_work() -> None:
    data = sign_message(POSTURE, KEY, kid=b"someone", content_type=CT_POSTURE)
    assert _refusal(data) == "unknown_signer"


def test_a_payload_edited_after_signing_is_a_bad_signature() -> None:
    signed = cose.parse_sign1(
        cose.sign1(KEY, b'{"v":1}', protected={3: CT_POSTURE, 4: b"centre-1"}).to_cbor_value()
    )
    forged = cose.Sign1(
        signed.protected_bytes,
        signed.protected,
        {},
        POSTURE.model_dump_json().encode(),
        signed.signature,
    )
    assert _refusal(forged.encode(tagged=True)) == "bad_signature"


def test_a_well_signed_payload_the_model_refuses_is_invalid() -> None:
    data = sign_message(
        b'{"v": 1, "site": "sejong"}', KEY, kid=b"centre-1", content_type=CT_POSTURE
    )
    assert _refusal(data) == "invalid"


def test_an_oversized_message_is_malformed() -> None:
    assert _refusal(b"\x00" * (4 * 1024 * 1024 + 1)) == "malformed"


@given(st.binary(max_size=512))
def test_hostile_bytes_are_refused_with_a_reason(data: bytes) -> None:
    assert _refusal(data) in {"malformed", "wrong_type", "unknown_signer", "bad_signature"}
