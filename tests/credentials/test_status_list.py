"""Token Status List (draft-ietf-oauth-status-list), CWT form."""

from __future__ import annotations

import base64
import contextlib
import random
import zlib
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.credentials.cbor import decode, encode
from gateway.credentials.cose import HEADER_TYP, parse_sign1, sign1
from gateway.credentials.status_list import (
    Status,
    StatusCache,
    StatusList,
    StatusListError,
    StatusListToken,
    StatusOutcome,
    StatusReference,
    sign_status_list_token,
    verify_status_list_token,
)

URI = "https://status.gov.example.kr/lists/1"
T0 = 1_750_000_000
TYP = "application/statuslist+cwt"

# The draft's example key (src/util.py of oauth-wg/draft-ietf-oauth-status-list).
DRAFT_X = "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo"
DRAFT_Y = "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M"
# The draft's "Status List Token in CWT Format" example (examples/status_list_cwt.md).
DRAFT_CWT = bytes.fromhex(
    "d2845820a2012610781a6170706c69636174696f6e2f7374617475736c6973742b63"
    "7774a1044231325850a502782168747470733a2f2f6578616d706c652e636f6d2f73"
    "74617475736c697374732f31061a648c5bea041a8898dfea19fffe19a8c019fffda2"
    "646269747301636c73744a78dadbb918000217015d584093fa4d01032b18c35e2fe1"
    "101b77fd6cc9440022caa4694450c4e4e9feab4e99d1fa6d9772ce2bf3a12e0323de"
    "d7c982c5e101a5e67f0cbc1e2b6f57ce99c279"
)
# The draft's Referenced Token in CWT form (examples/referenced_token_cwt.md).
DRAFT_REFERENCED_CWT = bytes.fromhex(
    "d28443a10126a1044231325866a502653132333435017368747470733a2f2f657861"
    "6d706c652e636f6d061a648c5bea041a8898dfea19ffffa16b7374617475735f6c69"
    "7374a2636964780063757269782168747470733a2f2f6578616d706c652e636f6d2f"
    "7374617475736c697374732f315840340f7efea10f1a36dc4797636a17b4dd4848b6"
    "8997d1d10e8cceb3a38ff33b3dda72964a83989f6cf98560c2fc97a08bc8977cc6b0"
    "f84cfedab93d3e4481e938"
)
# Appendix "Test vectors", 2-bit list of 2^20 entries (examples/status_list_encoding2_long_cbor.md).
DRAFT_2BIT_LONG = bytes.fromhex(
    "a2646269747302636c737459013d78daeddb310d00211000412ea1a04004fe5520ed"
    "357c28c81d3312b6df68bc65480000000000406e2101000000000000000000000000"
    "0000000000000000000000000000000000000040795b020000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000"
    "0080f4ba0400000000000000000000000000406d764a000000000000000000000000"
    "000000000000000000e0922101000000000000000000000000000000000000fc1312"
    "00000000000000000000000000000000000000000000000000000000000000c0912e"
    "01000000000000000000000000000000000000c07d4b020000000000000000000000"
    "00000000a8614a0000000000000000000000406a1fcd60010c"
)
DRAFT_2BIT_LONG_STATUSES = {
    0: 1, 1993: 2, 25460: 1, 159495: 3, 495669: 1, 554353: 1,
    645645: 2, 723232: 1, 854545: 1, 934534: 2, 1000345: 3,
}  # fmt: skip


def _b64_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=="), "big")


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _sample_list() -> StatusList:
    status_list = StatusList(1000, bits=2)
    status_list.set(7, Status.INVALID)
    status_list.set(8, Status.SUSPENDED)
    status_list.set(9, Status.APPLICATION)
    return status_list


def _token(
    key: ec.EllipticCurvePrivateKey, status_list: StatusList | None = None, **overrides: Any
) -> bytes:
    args: dict[str, Any] = {"uri": URI, "issued_at": T0, "expires_at": T0 + 86_400, "ttl": 300}
    args.update(overrides)
    return sign_status_list_token(status_list or _sample_list(), key=key, **args)


def _raw_token(
    key: ec.EllipticCurvePrivateKey,
    claims: Any,
    *,
    protected: dict[Any, Any] | None = None,
    tag: int | None = 18,
) -> bytes:
    """A token with arbitrary claims and headers, signed for real."""
    payload = claims if isinstance(claims, bytes) else encode(claims)
    message = sign1(key, payload, protected={HEADER_TYP: TYP} if protected is None else protected)
    body = message.to_cbor_value()
    return encode(body if tag is None else cbor2.CBORTag(tag, body))


def _claims(**overrides: Any) -> dict[Any, Any]:
    lst = _sample_list().compressed()
    claims: dict[Any, Any] = {2: URI, 6: T0, 4: T0 + 86_400, 65534: 300}
    claims[65533] = {"bits": 2, "lst": lst}
    for name, value in overrides.items():
        label = {"sub": 2, "iat": 6, "exp": 4, "ttl": 65534, "nbf": 5, "status_list": 65533}[name]
        if value is None:
            claims.pop(label, None)
        else:
            claims[label] = value
    return claims


# --- the byte array ----------------------------------------------------------------------------


def test_draft_1bit_example_layout_and_compression() -> None:
    statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    status_list = StatusList(16, bits=1)
    for idx, value in enumerate(statuses):
        status_list.set(idx, Status(value))
    assert status_list.to_bytes() == bytes([0xB9, 0xA3])
    assert status_list.compressed() == bytes.fromhex("78dadbb918000217015d")
    decoded = StatusList.from_compressed(bytes.fromhex("78dadbb918000217015d"), 1)
    assert [decoded.get(i) for i in range(16)] == statuses


def test_draft_2bit_example_layout_and_compression() -> None:
    statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    status_list = StatusList(12, bits=2)
    for idx, value in enumerate(statuses):
        status_list.set(idx, value)
    assert status_list.to_bytes() == bytes([0xC9, 0x44, 0xF9])
    assert status_list.compressed() == bytes.fromhex("78da3be9f2130003df0207")
    decoded = StatusList.from_compressed(bytes.fromhex("78da3be9f2130003df0207"), 2)
    assert [decoded.get(i) for i in range(12)] == statuses


def test_draft_2bit_long_test_vector() -> None:
    vector = decode(DRAFT_2BIT_LONG)
    decoded = StatusList.from_compressed(vector["lst"], vector["bits"])
    assert decoded.size == 2**20
    nonzero = {i: int(decoded.get(i)) for i in range(decoded.size) if decoded.get(i)}
    assert nonzero == DRAFT_2BIT_LONG_STATUSES
    rebuilt = StatusList(2**20, bits=2)
    for idx, value in DRAFT_2BIT_LONG_STATUSES.items():
        rebuilt.set(idx, value)
    assert rebuilt == decoded
    assert rebuilt.compressed() == vector["lst"]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_get_round_trip(bits: int) -> None:
    rng = random.Random(bits)
    size = 1001  # not a multiple of the entries per byte
    values = [rng.randrange(1 << bits) for _ in range(size)]
    status_list = StatusList(size, bits=bits)
    for idx, value in enumerate(values):
        status_list.set(idx, value)
    assert [status_list.get(i) for i in range(size)] == values
    # overwriting clears the old bits
    for idx in range(0, size, 3):
        status_list.set(idx, 0)
        values[idx] = 0
    decoded = StatusList.from_compressed(status_list.compressed(), bits)
    assert [decoded.get(i) for i in range(size)] == values
    assert decoded.size >= size
    assert len(status_list.to_bytes()) == (size * bits + 7) // 8


def test_statuses_beyond_the_registered_ones_still_decode() -> None:
    status_list = StatusList(4, bits=8)
    status_list.set(1, 0x0C)
    assert status_list.get(1) == 0x0C
    assert isinstance(status_list.get(1), Status)
    assert status_list.get(0) is Status.VALID


def test_builder_misuse() -> None:
    status_list = StatusList(10, bits=2)
    with pytest.raises(IndexError):
        status_list.set(10, Status.INVALID)
    with pytest.raises(IndexError):
        status_list.get(-1)
    with pytest.raises(ValueError, match="fit"):
        status_list.set(0, 4)
    assert status_list.lookup(10) is None
    assert status_list.lookup(-1) is None
    with pytest.raises(StatusListError):
        StatusList(10, bits=3)
    decoded = StatusList.from_compressed(status_list.compressed(), 2)
    with pytest.raises(TypeError, match="read-only"):
        decoded.set(0, Status.INVALID)


def test_zlib_bomb_refused() -> None:
    bomb = zlib.compress(bytes(64 * 1024 * 1024), 9)  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 100_000
    with pytest.raises(StatusListError, match="beyond"):
        StatusList.from_compressed(bomb, 2)
    with pytest.raises(StatusListError, match="beyond"):
        StatusList.from_compressed(zlib.compress(bytes(1001)), 8, max_size=1000)
    assert StatusList.from_compressed(zlib.compress(bytes(1000)), 8, max_size=1000).size == 1000


@pytest.mark.parametrize(
    "lst",
    [
        b"",
        b"not zlib",
        zlib.compress(bytes(100))[:-3],  # truncated
        zlib.compress(bytes(100)) + b"\x00",  # trailing bytes
        zlib.compress(bytes(100), wbits=-15),  # raw DEFLATE, no ZLIB header
        zlib.compress(bytes(100), wbits=31),  # gzip
    ],
)
def test_malformed_lst_refused(lst: bytes) -> None:
    with pytest.raises(StatusListError):
        StatusList.from_compressed(lst, 2)


# --- the token ---------------------------------------------------------------------------------


def test_draft_cwt_example_verifies() -> None:
    public = ec.EllipticCurvePublicNumbers(
        _b64_int(DRAFT_X), _b64_int(DRAFT_Y), ec.SECP256R1()
    ).public_key()
    token = verify_status_list_token(
        DRAFT_CWT, key=public, expected_uri="https://example.com/statuslists/1"
    )
    assert (token.uri, token.issued_at, token.expires_at, token.ttl, token.bits) == (
        "https://example.com/statuslists/1",
        1686920170,
        2291720170,
        43200,
        1,
    )
    assert [token.lookup(i) for i in range(16)] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    assert token.lookup(16) is None


def test_draft_referenced_token_status_claim() -> None:
    message = parse_sign1(decode(DRAFT_REFERENCED_CWT))
    assert message.payload is not None
    claims = decode(message.payload)
    ref = StatusReference.from_cbor_value(claims[65535])
    assert ref == StatusReference(0, "https://example.com/statuslists/1")
    assert ref.to_cbor_value() == claims[65535]


def test_status_reference_inside_a_tag_decodes() -> None:
    # cbor2 >= 6 gives the content of a tag as frozendict; an MSO sits in tag 24.
    wrapped = decode(encode(cbor2.CBORTag(24, StatusReference(5, URI).to_cbor_value())))
    assert StatusReference.from_cbor_value(wrapped.value) == StatusReference(5, URI)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {},
        {"status_list": None},
        {"status_list": {"uri": URI}},
        {"status_list": {"idx": 1}},
        {"status_list": {"idx": -1, "uri": URI}},
        {"status_list": {"idx": True, "uri": URI}},
        {"status_list": {"idx": 1.0, "uri": URI}},
        {"status_list": {"idx": 1, "uri": b"x"}},
        {"status_list": {"idx": 1, "uri": ""}},
    ],
)
def test_status_reference_refuses_bad_input(value: Any) -> None:
    with pytest.raises(StatusListError):
        StatusReference.from_cbor_value(value)


def test_sign_verify_round_trip(key: ec.EllipticCurvePrivateKey) -> None:
    raw = sign_status_list_token(
        _sample_list(),
        key=key,
        uri=URI,
        issued_at=T0,
        expires_at=T0 + 3600,
        ttl=300,
        kid=b"k1",
        x5chain=[b"leaf-der", b"ca-der"],
    )
    token = verify_status_list_token(raw, key=key.public_key(), expected_uri=URI)
    assert isinstance(token, StatusListToken)
    assert (token.uri, token.issued_at, token.expires_at, token.ttl, token.bits) == (
        URI,
        T0,
        T0 + 3600,
        300,
        2,
    )
    assert token.list == _sample_list()
    assert [token.lookup(i) for i in (0, 7, 8, 9, 999, 1000)] == [
        Status.VALID,
        Status.INVALID,
        Status.SUSPENDED,
        Status.APPLICATION,
        Status.VALID,
        None,
    ]
    item = decode(raw)
    assert item.tag == 18
    message = parse_sign1(item)
    assert message.protected[16] == TYP
    assert message.unprotected[4] == b"k1"
    # cbor2 >= 6 hands back arrays inside a tag as tuples
    assert list(message.unprotected[33]) == [b"leaf-der", b"ca-der"]
    single = sign_status_list_token(
        _sample_list(), key=key, uri=URI, issued_at=T0, expires_at=None, ttl=None, x5chain=[b"c"]
    )
    assert parse_sign1(decode(single)).unprotected == {33: b"c"}
    bare = verify_status_list_token(single, key=key.public_key())
    assert (bare.expires_at, bare.ttl, bare.stale_at) == (None, None, None)


def test_wrong_key_refused(
    key: ec.EllipticCurvePrivateKey, other_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(StatusListError, match="signature"):
        verify_status_list_token(_token(key), key=other_key.public_key())


def test_wrong_uri_refused(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(StatusListError, match="expected"):
        verify_status_list_token(_token(key), key=key.public_key(), expected_uri=URI + "x")


def test_tampered_payload_refused(key: ec.EllipticCurvePrivateKey) -> None:
    raw = _token(key)
    message = parse_sign1(decode(raw))
    assert message.payload is not None
    claims = decode(message.payload)
    cleaned = StatusList(1000, bits=2)  # the attacker un-revokes entry 7
    claims[65533]["lst"] = cleaned.compressed()
    forged = encode(
        cbor2.CBORTag(18, [message.protected_bytes, {}, encode(claims), message.signature])
    )
    with pytest.raises(StatusListError, match="signature"):
        verify_status_list_token(forged, key=key.public_key())


@pytest.mark.parametrize(
    ("protected", "tag", "match"),
    [
        ({HEADER_TYP: "application/cwt"}, 18, "typ"),
        ({}, 18, "typ"),
        ({HEADER_TYP: TYP, 2: [99]}, 18, "critical"),
        (None, None, "COSE_Sign1_Tagged"),
        (None, 61, "COSE_Sign1_Tagged"),
        (None, 17, "COSE_Sign1_Tagged"),
    ],
)
def test_wrong_envelope_refused(
    key: ec.EllipticCurvePrivateKey, protected: Any, tag: int | None, match: str
) -> None:
    raw = _raw_token(key, _claims(), protected=protected, tag=tag)
    with pytest.raises(StatusListError, match=match):
        verify_status_list_token(raw, key=key.public_key())


def test_typ_only_in_unprotected_header_refused(key: ec.EllipticCurvePrivateKey) -> None:
    message = sign1(key, encode(_claims()), protected={}, unprotected={HEADER_TYP: TYP})
    with pytest.raises(StatusListError, match="typ"):
        verify_status_list_token(message.encode(tagged=True), key=key.public_key())


def test_cwt_tag_around_the_sign1_refused(key: ec.EllipticCurvePrivateKey) -> None:
    inner = decode(_token(key))
    with pytest.raises(StatusListError, match="COSE_Sign1_Tagged"):
        verify_status_list_token(encode(cbor2.CBORTag(61, inner)), key=key.public_key())


@pytest.mark.parametrize(
    "claims",
    [
        _claims(sub=None),
        _claims(sub=""),
        _claims(sub=7),
        _claims(iat=None),
        _claims(iat=1.5),
        _claims(iat=True),
        _claims(iat="now"),
        _claims(exp=-1),
        _claims(ttl=0),
        _claims(ttl=-5),
        _claims(nbf="x"),
        _claims(status_list=None),
        _claims(status_list={"bits": 3, "lst": zlib.compress(b"")}),
        _claims(status_list={"bits": True, "lst": zlib.compress(b"")}),
        _claims(status_list={"bits": 2}),
        _claims(status_list={"bits": 2, "lst": "text"}),
        _claims(status_list={"bits": 2, "lst": b"not zlib"}),
        _claims(status_list={"bits": 2, "lst": zlib.compress(b""), "aggregation_uri": 1}),
        [1, 2, 3],
        b"\xff",  # not CBOR
        b"\xa1\x02\x60\x00",  # trailing byte
    ],
)
def test_bad_claims_refused(key: ec.EllipticCurvePrivateKey, claims: Any) -> None:
    with pytest.raises(StatusListError):
        verify_status_list_token(_raw_token(key, claims), key=key.public_key())


def test_extra_claims_and_aggregation_uri_accepted(key: ec.EllipticCurvePrivateKey) -> None:
    claims = _claims()
    claims[1] = "https://issuer.example"  # iss
    claims[65533]["aggregation_uri"] = "https://status.example/aggregation"
    token = verify_status_list_token(_raw_token(key, claims), key=key.public_key())
    assert token.aggregation_uri == "https://status.example/aggregation"


def test_staleness_boundaries(key: ec.EllipticCurvePrivateKey) -> None:
    token = verify_status_list_token(
        _token(key, expires_at=T0 + 1000, ttl=300), key=key.public_key()
    )
    assert not token.is_stale(T0 + 300)  # refresh due only when iat + ttl < now
    assert token.is_stale(T0 + 301)
    exp_only = verify_status_list_token(
        _token(key, expires_at=T0 + 1000, ttl=None), key=key.public_key()
    )
    assert not exp_only.is_stale(T0 + 999)
    assert exp_only.is_stale(T0 + 1000)  # RFC 8392: not accepted on or after exp
    ttl_beyond_exp = verify_status_list_token(
        _token(key, expires_at=T0 + 100, ttl=300), key=key.public_key()
    )
    assert ttl_beyond_exp.is_stale(T0 + 100)


# --- the gate's cache --------------------------------------------------------------------------


def _cache(key: ec.EllipticCurvePrivateKey) -> StatusCache:
    return StatusCache({URI: key.public_key()})


def test_cache_outcomes(key: ec.EllipticCurvePrivateKey) -> None:
    cache = _cache(key)
    assert cache.lookup(StatusReference(7, URI), T0) is StatusOutcome.UNKNOWN  # nothing held yet
    cache.apply(_token(key), now=T0)
    outcomes = {idx: cache.lookup(StatusReference(idx, URI), T0 + 10) for idx in (0, 7, 8, 9)}
    assert outcomes == {
        0: StatusOutcome.VALID,
        7: StatusOutcome.INVALID,
        8: StatusOutcome.SUSPENDED,
        9: StatusOutcome.UNKNOWN,  # application specific: no meaning at the gate
    }
    assert cache.lookup(StatusReference(1000, URI), T0) is StatusOutcome.UNKNOWN
    assert cache.lookup(StatusReference(10**9, URI), T0) is StatusOutcome.UNKNOWN
    assert cache.lookup(StatusReference(0, URI + "/other"), T0) is StatusOutcome.UNKNOWN
    held = cache.token(URI)
    assert held is not None
    assert held.issued_at == T0
    assert cache.token("nope") is None


def test_cache_stale_with_injected_clock(key: ec.EllipticCurvePrivateKey) -> None:
    cache = _cache(key)
    cache.apply(_token(key, expires_at=T0 + 3600, ttl=300), now=T0)
    ref = StatusReference(7, URI)
    assert cache.lookup(ref, T0 + 300) is StatusOutcome.INVALID
    assert cache.lookup(ref, T0 + 301) is StatusOutcome.STALE  # iat + ttl passed
    cache.apply(_token(key, issued_at=T0 + 290, expires_at=T0 + 3600, ttl=300), now=T0 + 301)
    assert cache.lookup(ref, T0 + 301) is StatusOutcome.INVALID  # a fresh copy arrived
    assert cache.lookup(ref, T0 + 3600) is StatusOutcome.STALE  # exp passed


def test_cache_refuses_rollback(key: ec.EllipticCurvePrivateKey) -> None:
    cache = _cache(key)
    revoked = StatusList(1000, bits=2)
    revoked.set(3, Status.INVALID)
    old = _token(key, issued_at=T0, status_list=StatusList(1000, bits=2))
    new = _token(key, issued_at=T0 + 60, status_list=revoked)
    cache.apply(old, now=T0 + 60)
    assert cache.apply(new, now=T0 + 60).issued_at == T0 + 60
    ref = StatusReference(3, URI)
    assert cache.lookup(ref, T0 + 61) is StatusOutcome.INVALID
    with pytest.raises(StatusListError, match="rollback"):
        cache.apply(old, now=T0 + 61)
    # same iat, different content: we cannot tell which is current
    same_iat = _token(key, issued_at=T0 + 60, status_list=StatusList(1000, bits=2))
    with pytest.raises(StatusListError, match="rollback"):
        cache.apply(same_iat, now=T0 + 61)
    # the very same bytes again (an MQTT redelivery) is a harmless no-op
    assert cache.apply(new, now=T0 + 62).issued_at == T0 + 60
    assert cache.lookup(ref, T0 + 62) is StatusOutcome.INVALID


def test_cache_refuses_bad_timing(key: ec.EllipticCurvePrivateKey) -> None:
    cache = _cache(key)
    with pytest.raises(StatusListError, match="expired"):
        cache.apply(_token(key, expires_at=T0 + 10), now=T0 + 10)
    with pytest.raises(StatusListError, match="from"):
        cache.apply(_token(key, issued_at=T0 + 3600), now=T0)  # would block updates for an hour
    nbf_claims = _claims(nbf=T0 + 3600)
    with pytest.raises(StatusListError, match="from"):
        cache.apply(_raw_token(key, nbf_claims), now=T0)
    cache.apply(_token(key, issued_at=T0 + 200), now=T0)  # within the allowed clock skew
    assert cache.token(URI) is not None


def test_cache_refuses_untrusted_and_forged(
    key: ec.EllipticCurvePrivateKey, other_key: ec.EllipticCurvePrivateKey
) -> None:
    cache = _cache(key)
    with pytest.raises(StatusListError, match="no trusted signer"):
        cache.apply(_token(key, uri=URI + "/unknown"), now=T0)
    with pytest.raises(StatusListError, match="signature"):
        cache.apply(_token(other_key), now=T0)
    with pytest.raises(StatusListError):
        cache.apply(b"\x00garbage", now=T0)
    assert cache.token(URI) is None  # nothing refused was kept


def test_cache_with_a_resolver_callable(key: ec.EllipticCurvePrivateKey) -> None:
    keys = {URI: key.public_key()}
    cache = StatusCache(keys.get)
    cache.apply(_token(key), now=T0)
    assert cache.lookup(StatusReference(7, URI), T0) is StatusOutcome.INVALID

    def strict(uri: str) -> ec.EllipticCurvePublicKey:
        return keys[uri]  # raises KeyError for an unknown list

    with pytest.raises(StatusListError, match="no trusted signer"):
        StatusCache(strict).apply(_token(key, uri=URI + "/x"), now=T0)


def test_cache_refuses_a_bomb_even_when_signed(key: ec.EllipticCurvePrivateKey) -> None:
    huge = StatusList(2_000_000, bits=2)
    cache = StatusCache({URI: key.public_key()}, max_size=1_000_000)
    with pytest.raises(StatusListError, match="beyond"):
        cache.apply(_token(key, status_list=huge), now=T0)


# --- hostile bytes -----------------------------------------------------------------------------

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def valid_token(key: ec.EllipticCurvePrivateKey) -> bytes:
    return _token(key)


@_FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_only_raise_status_list_error(
    key: ec.EllipticCurvePrivateKey, data: bytes
) -> None:
    with pytest.raises(StatusListError):
        verify_status_list_token(data, key=key.public_key())
    with contextlib.suppress(StatusListError):
        StatusList.from_compressed(data, 2, max_size=4096)


_cbor_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.binary(max_size=20)
    | st.text(max_size=20)
)
_cbor_values = st.recursive(
    _cbor_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers(-3, 70000) | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@_FUZZ
@given(body=_cbor_values, claims=_cbor_values)
def test_structured_garbage_only_raises_status_list_error(
    key: ec.EllipticCurvePrivateKey, body: Any, claims: Any
) -> None:
    with pytest.raises(StatusListError):
        verify_status_list_token(encode(cbor2.CBORTag(18, body)), key=key.public_key())
    with contextlib.suppress(StatusListError):
        verify_status_list_token(_raw_token(key, encode(claims)), key=key.public_key())


@_FUZZ
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 10**6),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_tokens_never_change_content(
    key: ec.EllipticCurvePrivateKey, valid_token: bytes, edits: list[tuple[str, int, int]]
) -> None:
    original = verify_status_list_token(valid_token, key=key.public_key())
    data = bytearray(valid_token)
    for kind, position, value in edits:
        pos = position % (len(data) + (kind == "insert"))
        if kind == "flip" and data:
            data[pos % len(data)] ^= value or 1
        elif kind == "insert":
            data.insert(pos, value)
        elif data:
            del data[pos % len(data)]
    try:
        accepted = verify_status_list_token(bytes(data), key=key.public_key())
    except StatusListError:
        return
    assert accepted == original  # e.g. only the unprotected kid changed
    assert accepted.list == original.list


# --- deltas, reasons and several signers ------------------------------------------------------


def test_changes_apply_copy_on_write_and_move_the_ttl_window(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    cache = _cache(key)
    held = cache.apply(_token(key), now=T0)
    updated = cache.apply_changes(
        URI, base=T0, iat=T0 + 400, changes=[(0, 1), (7, 0)], now=T0 + 400
    )
    assert held.lookup(0) is Status.VALID  # the old list is untouched
    assert held.lookup(7) is Status.INVALID
    assert (updated.lookup(0), updated.lookup(7)) == (Status.INVALID, Status.VALID)
    assert cache.lookup(StatusReference(0, URI), T0 + 600) is StatusOutcome.INVALID  # ttl from 400
    assert cache.lookup(StatusReference(0, URI), T0 + 701) is StatusOutcome.STALE
    assert cache.uris() == [URI]


@pytest.mark.parametrize(
    ("base", "iat", "changes", "reason"),
    [
        (T0 - 1, T0 + 1, [(0, 1)], "base_mismatch"),
        (T0, T0, [(0, 1)], "rollback"),
        (T0, T0 + 1, [(1000, 1)], "invalid"),
        (T0, T0 + 1, [(0, 4)], "invalid"),
        (T0, T0 + 10_000, [(0, 1)], "invalid"),  # from the future
    ],
)
def test_changes_are_refused_with_a_reason_and_change_nothing(
    key: ec.EllipticCurvePrivateKey, base: int, iat: int, changes: Any, reason: str
) -> None:
    cache = _cache(key)
    held = cache.apply(_token(key), now=T0)
    with pytest.raises(StatusListError) as caught:
        cache.apply_changes(URI, base=base, iat=iat, changes=changes, now=T0)
    assert caught.value.reason == reason
    assert cache.token(URI) is held


def test_a_token_replaces_delta_state_at_the_same_version_not_below(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    cache = _cache(key)
    cache.apply(_token(key), now=T0)
    cache.apply_changes(URI, base=T0, iat=T0 + 5, changes=[(0, 1)], now=T0)
    with pytest.raises(StatusListError) as caught:
        cache.apply(_token(key, issued_at=T0 + 4), now=T0)
    assert caught.value.reason == "rollback"
    assert cache.apply(_token(key, issued_at=T0 + 5), now=T0).lookup(0) is Status.VALID


def test_token_refusal_reasons_and_rotating_signers(key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    cache = StatusCache(lambda uri: None)
    with pytest.raises(StatusListError) as unknown:
        cache.apply(_token(key), now=T0)
    assert unknown.value.reason == "unknown_signer"
    with pytest.raises(StatusListError) as malformed:
        cache.apply(b"\xa0", now=T0)
    assert malformed.value.reason == "malformed"
    cache.set_keys(lambda uri: (other.public_key(),))
    with pytest.raises(StatusListError) as forged:
        cache.apply(_token(key), now=T0)
    assert forged.value.reason == "bad_signature"
    cache.set_keys(lambda uri: (other.public_key(), key.public_key()))  # during a rotation
    assert cache.apply(_token(key), now=T0).issued_at == T0
