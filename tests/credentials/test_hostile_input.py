"""Hostile bytes at every decoder and at the verifier.

The rule of the product: a hostile byte string gives a clear denial, never a
crash and never an open door. Each decoder may raise only its own error type;
:func:`verify` never raises, denies with one :class:`DenialReason`, and grants
a mutated presentation only when the bytes that were signed are untouched and
the claims are the issuer's.

The verifier's last-resort ``except Exception`` would hide a decoder that
raises the wrong thing, so every verdict here is also checked for having come
through the safety net: that is allowed only for the known bugs pinned at the
end of this file (see ``_known_safety_net_bug``).

The world's keys are made once, when the module is imported; hypothesis runs
derandomized and without an example database so CI sees the same inputs.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from gateway.credentials import card, cbor, cose, csid, mdoc, verifier
from gateway.credentials.cbor import CborError
from gateway.credentials.decision import Decision, DenialReason
from gateway.credentials.status_list import (
    StatusCache,
    StatusList,
    StatusListError,
    StatusOutcome,
    StatusReference,
    verify_status_list_token,
)
from gateway.credentials.trust import TrustStore, UntrustedIssuer, signer_fingerprint
from gateway.credentials.verifier import (
    CardPresentation,
    MobilePresentation,
    VerifierOptions,
    verify,
)
from tests.credentials.conftest import NOW, STATUS_URI, make_world, transcript
from tests.credentials.strategies import (
    Edit,
    Step,
    TreeMutation,
    cbor_maps,
    cbor_values,
    dumps,
    encoded_cbor,
    hashable_leaves,
    mutated,
    shaped,
    small_cbor_values,
    subtree_paths,
    tree_mutations,
)

Failed = pytest.fail.Exception  # what pytest.raises and pytest.fail raise

HOSTILE = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHEAP = settings(HOSTILE, max_examples=200)  # pure decoders: no signature is checked
HEAVY = settings(HOSTILE, max_examples=80)  # structures costly to generate
# Mutations of one valid presentation: cheap to make, and the deep denials
# (digest, device key) need a few hundred before hypothesis spreads out.
MUTATIONS = settings(HOSTILE, max_examples=250)

# --- One world for the module: real keys, one mobile ID, one card ----------------

READER = "sejong-b6-g1"
OPTIONS = VerifierOptions(reader_id=READER)
WORLD = make_world()
TRUST = WORLD.trust()
STATUS_KEY = WORLD.status_signer.key.public_key()
TOKEN = WORLD.token()
STATUS = StatusCache({STATUS_URI: STATUS_KEY})
STATUS.apply(TOKEN, int(NOW.timestamp()))

HOLDER = WORLD.issue()
SESSION = transcript()
RESPONSE = HOLDER.present(SESSION)

MAC_READER = ec.generate_private_key(ec.SECP256R1())
MAC_SESSION = mdoc.session_transcript(b"engagement", MAC_READER.public_key(), None)
MAC_RESPONSE = mdoc.present(
    HOLDER.issuer_signed,
    HOLDER.device_key,
    MAC_SESSION,
    doctype=csid.DOCTYPE,
    reader_key_for_mac=MAC_READER.public_key(),
)

CARD = WORLD.issue_card()
CHALLENGE = card.Challenge.fresh(READER, NOW).encode()
CARD_SIGNATURE = card.sign_challenge(CARD.card_key, CHALLENGE)

ISSUER_AUTH_PATH = ("documents", 0, "issuerSigned", "issuerAuth")
X5CHAIN_PATH = (*ISSUER_AUTH_PATH, 1, cose.HEADER_X5CHAIN)
ITEMS_PATH = ("documents", 0, "issuerSigned", "nameSpaces", csid.NAMESPACE)


def mobile(response: bytes, *, mac: bool = False) -> MobilePresentation:
    if mac:
        return MobilePresentation(response, MAC_SESSION, reader_key=MAC_READER)
    return MobilePresentation(response, SESSION)


# --- The safety-net probe ----------------------------------------------------------


class _SafetyNetProbe(logging.Handler):
    """Remembers the exception behind the verifier's last 'verifier error' denial."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.last: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.last = record.exc_info[1]


PROBE = _SafetyNetProbe()


@pytest.fixture(autouse=True, scope="module")
def _probe_the_safety_net() -> Iterator[None]:
    logger = logging.getLogger(verifier.__name__)
    logger.addHandler(PROBE)
    yield
    logger.removeHandler(PROBE)


def _innermost_gateway_frame(exc: BaseException) -> traceback.FrameSummary:
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if "gateway" in Path(frame.filename).parts
    ]
    return frames[-1]


def _known_safety_net_bug(exc: BaseException) -> str | None:
    """Which pinned bug (see the end of this file) explains a safety-net denial, if any."""
    frame = _innermost_gateway_frame(exc)
    where = (Path(frame.filename).name, frame.name)
    known: dict[tuple[str, str], str] = {}  # none pinned today
    return known.get(where)


def check(presentation: Any, *, trust: TrustStore = TRUST) -> Decision:
    """``verify`` with the module's world, plus the invariants every verdict must keep."""
    PROBE.last = None
    decision = verify(presentation, trust=trust, status=STATUS, now=NOW, options=OPTIONS)
    assert isinstance(decision, Decision)
    if currently_in_test_context():  # --hypothesis-show-statistics shows how deep inputs got
        event(f"{decision.kind}: {decision.reason or 'granted'}")
    if decision.granted:
        assert decision.reason is None
    else:
        assert isinstance(decision.reason, DenialReason), decision
    if decision.detail.startswith("verifier error:"):
        assert not decision.granted
        exc = PROBE.last
        assert exc is not None, "safety-net denial without a logged exception"
        assert _known_safety_net_bug(exc), "the safety net caught an unexpected exception:\n" + (
            "".join(traceback.format_exception(exc))
        )
    return decision


ORIGINAL = check(mobile(RESPONSE))
ORIGINAL_MAC = check(mobile(MAC_RESPONSE, mac=True))
ORIGINAL_CARD = check(CardPresentation(CARD.card_object, CHALLENGE, CARD_SIGNATURE))
assert ORIGINAL.granted
assert ORIGINAL_MAC.granted
assert ORIGINAL_CARD.granted


def _document(response: bytes) -> mdoc.Document:
    return next(d for d in mdoc.parse_device_response(response) if d.doctype == csid.DOCTYPE)


def _signed_parts(doc: mdoc.Document) -> tuple[Any, ...]:
    """What the issuer and the device signed, byte for byte (signatures themselves excluded)."""
    device = doc.device_signature.protected_bytes if doc.device_signature else doc.device_mac[0]
    return (
        doc.issuer_auth.protected_bytes,
        doc.issuer_auth.payload,
        doc.device_namespaces_bytes,
        device,
    )


def _items(doc: mdoc.Document) -> set[tuple[str, bytes]]:
    return {(ns, item.wrapped) for ns, items in doc.namespaces.items() for item in items}


ORIGINAL_DOC = _document(RESPONSE)
ORIGINAL_MAC_DOC = _document(MAC_RESPONSE)


def assert_claims_are_the_originals(decision: Decision, original: Decision) -> None:
    """A grant may disclose fewer elements (selective disclosure), never other values."""
    assert decision.holder_id == original.holder_id
    assert decision.credential_serial == original.credential_serial
    for name, value in decision.claims.items():
        assert name in original.claims, name
        assert value == original.claims[name], name


def assert_mobile_grant_is_the_original(decision: Decision, response: bytes, *, mac: bool) -> None:
    if not decision.granted:
        return
    original_doc = ORIGINAL_MAC_DOC if mac else ORIGINAL_DOC
    doc = _document(response)
    assert _signed_parts(doc) == _signed_parts(original_doc)
    assert _items(doc) <= _items(original_doc)
    assert_claims_are_the_originals(decision, ORIGINAL_MAC if mac else ORIGINAL)


def assert_card_grant_is_the_original(decision: Decision, presentation: CardPresentation) -> None:
    if not decision.granted:
        return
    assert presentation.challenge == CHALLENGE
    original = cose.parse_sign1(cbor.decode(CARD.card_object))
    now = cose.parse_sign1(cbor.decode(presentation.card_object))
    assert (now.protected_bytes, now.payload) == (original.protected_bytes, original.payload)
    assert_claims_are_the_originals(decision, ORIGINAL_CARD)
    assert decision.claims == ORIGINAL_CARD.claims


# === 1. cbor.decode =============================================================

DECODERS = [cbor.decode] + ([cbor.decode_signed] if hasattr(cbor, "decode_signed") else [])


def _only_cbor_error(decoder: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(CborError):
        decoder(data)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@CHEAP
@given(data=st.one_of(st.binary(max_size=300), encoded_cbor(), encoded_cbor().flatmap(mutated)))
def test_decode_raises_only_cbor_error(decoder: Callable[[bytes], Any], data: bytes) -> None:
    _only_cbor_error(decoder, data)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [None, "a0", 7, bytearray(b"\xa0"), [b"\xa0"]], ids=repr)
def test_decode_refuses_what_is_not_bytes(decoder: Callable[[bytes], Any], value: Any) -> None:
    try:
        result = decoder(value)
    except CborError:
        return
    assert isinstance(value, bytearray)  # a bytes-like buffer may be read, nothing else
    assert result == {}


@CHEAP
@given(value=cbor_values, tail=st.binary(min_size=1, max_size=16))
def test_decode_never_returns_with_trailing_bytes(value: Any, tail: bytes) -> None:
    with pytest.raises(CborError):
        cbor.decode(dumps(value) + tail)


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 256**size:
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


@st.composite
def key_encodings(draw: st.DrawFn, key: Any) -> bytes:
    """One of the many encodings of ``key``: minimal or not, definite or chunked, bignum."""
    if isinstance(key, int) and not isinstance(key, bool):
        major, n = (0, key) if key >= 0 else (1, -1 - key)
        forms = [dumps(key)]
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if n < 256**size:
                forms.append(bytes([major << 5 | info]) + n.to_bytes(size, "big"))
        magnitude = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
        forms.append(bytes([0xC2 + major]) + dumps(magnitude))
        return draw(st.sampled_from(forms))
    if isinstance(key, str | bytes) and len(key) > 1 and draw(st.booleans()):
        cut = draw(st.integers(1, len(key) - 1))
        opener = b"\x7f" if isinstance(key, str) else b"\x5f"
        return opener + dumps(key[:cut]) + dumps(key[cut:]) + b"\xff"
    return dumps(key)


@st.composite
def maps_with_a_duplicate_key(draw: st.DrawFn) -> bytes:
    entries = draw(st.dictionaries(hashable_leaves, small_cbor_values, min_size=1, max_size=5))
    pairs = [(draw(key_encodings(k)), dumps(v)) for k, v in entries.items()]
    twice = draw(st.sampled_from(sorted(entries, key=repr)))
    pairs.insert(
        draw(st.integers(0, len(pairs))),
        (draw(key_encodings(twice)), dumps(draw(small_cbor_values))),
    )
    body = b"".join(k + v for k, v in pairs)
    data = b"\xbf" + body + b"\xff" if draw(st.booleans()) else _head(5, len(pairs)) + body
    # Bury the map: in an array, as a map value, under a tag, in an indefinite array.
    for wrapper in draw(
        st.lists(st.sampled_from(["array", "map", "tag", "indefinite"]), max_size=4)
    ):
        if wrapper == "array":
            data = b"\x81" + data
        elif wrapper == "map":
            data = b"\xa1\x00" + data
        elif wrapper == "tag":
            data = b"\xd9\x12\x67" + data
        else:
            data = b"\x9f" + data + b"\xff"
    return data


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@HOSTILE
@given(data=maps_with_a_duplicate_key())
def test_decode_refuses_duplicate_map_keys(decoder: Callable[[bytes], Any], data: bytes) -> None:
    with pytest.raises(CborError):
        decoder(data)


def test_a_protected_header_read_two_ways_is_malformed() -> None:
    """The classic: {1: -7, 1: -35} — one reader sees ES256, another ES384."""
    tree = cbor2.loads(RESPONSE)
    tree["documents"][0]["issuerSigned"]["issuerAuth"][0] = bytes.fromhex("a20126013822")
    decision = check(mobile(cbor2.dumps(tree)))
    assert decision.reason is DenialReason.MALFORMED


NESTING_OPENERS = {
    "array": (b"\x81", b""),
    "indefinite-array": (b"\x9f", b"\xff"),
    "map": (b"\xa1\x00", b""),
    "indefinite-map": (b"\xbf\x00", b"\xff"),
    "tag": (b"\xc6", b""),
    "tag24": (b"\xd8\x18", b""),
}


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", list(NESTING_OPENERS))
def test_deep_nesting_is_refused_fast(decoder: Callable[[bytes], Any], kind: str) -> None:
    opener, closer = NESTING_OPENERS[kind]
    fits = opener * cbor.MAX_DEPTH + b"\x00" + closer * cbor.MAX_DEPTH
    decoder(fits)  # the limit is not zero
    depth = 1_000_000
    bomb = opener * depth + b"\x00" + closer * depth
    started = time.perf_counter()
    with pytest.raises(CborError, match="depth"):
        decoder(bomb)
    assert time.perf_counter() - started < 1.0


@CHEAP
@given(
    openers=st.lists(
        st.sampled_from(list(NESTING_OPENERS)), min_size=cbor.MAX_DEPTH + 1, max_size=400
    ),
)
def test_any_mix_of_containers_beyond_the_limit_is_refused(openers: list[str]) -> None:
    data = b"".join(NESTING_OPENERS[k][0] for k in openers) + b"\x00"
    data += b"".join(NESTING_OPENERS[k][1] for k in reversed(openers))
    with pytest.raises(CborError):
        cbor.decode(data)


# === 2. COSE ====================================================================


def _one_of_these(values: list[Any]) -> st.SearchStrategy[Any]:
    """sampled_from, for values hypothesis cannot hash (a CBORTag around a map raises)."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


ES256_PROTECTED = cose.sign1(WORLD.ds.key, b"x").protected_bytes


@st.composite
def sign1_shaped(draw: st.DrawFn) -> Any:
    body = [
        draw(st.one_of(st.just(ES256_PROTECTED), st.just(b""), encoded_cbor(), st.binary())),
        draw(st.one_of(st.just({}), st.just({33: WORLD.ds.der}), cbor_maps, small_cbor_values)),
        draw(st.one_of(st.none(), st.binary(max_size=40), encoded_cbor(), small_cbor_values)),
        draw(st.one_of(st.binary(min_size=64, max_size=64), st.binary(), small_cbor_values)),
    ]
    body = draw(st.one_of(st.just(body), st.lists(_one_of_these(body), max_size=6)))
    if draw(st.booleans()):
        return cbor2.CBORTag(draw(st.sampled_from([18, 18, 18, 17, 61, 98])), body)
    return body


@CHEAP
@given(value=st.one_of(cbor_values, sign1_shaped()))
def test_parse_sign1_raises_only_cose_error(value: Any) -> None:
    try:
        message = cose.parse_sign1(value)
    except cose.CoseError:
        return
    with contextlib.suppress(cose.CoseError):
        message.x5chain()
    assert cose.verify_es256(message, WORLD.ds.key.public_key()) is False


@CHEAP
@given(value=sign1_shaped().map(cbor2.dumps).flatmap(mutated))
def test_parse_sign1_of_mutated_bytes_raises_only_cose_or_cbor_error(value: bytes) -> None:
    with contextlib.suppress(cose.CoseError, CborError):
        cose.parse_sign1(cbor.decode(value))


_REAL_KEY = cose.ec2_key_to_cose(HOLDER.device_key.public_key())


@st.composite
def cose_key_shaped(draw: st.DrawFn) -> Any:
    key = {
        1: draw(shaped(cose.KTY_EC2)),
        -1: draw(shaped(cose.CRV_P256)),
        -2: draw(
            st.one_of(
                st.just(_REAL_KEY[-2]), st.binary(min_size=32, max_size=32), small_cbor_values
            )
        ),
        -3: draw(
            st.one_of(
                st.just(_REAL_KEY[-3]), st.binary(min_size=32, max_size=32), small_cbor_values
            )
        ),
    }
    for label in draw(st.sets(st.sampled_from([1, -1, -2, -3]), max_size=2)):
        del key[label]
    key.update(draw(cbor_maps))
    return key


@CHEAP
@given(value=st.one_of(cbor_values, cbor_maps, cose_key_shaped()))
def test_cose_to_ec2_key_raises_only_cose_error(value: Any) -> None:
    try:
        key = cose.cose_to_ec2_key(value)
    except cose.CoseError:
        return
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert cose.ec2_key_to_cose(key) == {k: value[k] for k in (1, -1, -2, -3)}


# === 3. mdoc ====================================================================


def _only_mdoc_error(data: bytes) -> None:
    with contextlib.suppress(mdoc.MdocError):
        mdoc.parse_device_response(data)


@CHEAP
@given(data=st.one_of(st.binary(max_size=400), encoded_cbor()))
def test_parse_device_response_of_random_bytes_raises_only_mdoc_error(data: bytes) -> None:
    _only_mdoc_error(data)


@CHEAP
@given(data=st.one_of(mutated(RESPONSE), mutated(MAC_RESPONSE)))
def test_parse_device_response_of_mutated_response_raises_only_mdoc_error(data: bytes) -> None:
    _only_mdoc_error(data)


TREE = cbor2.loads(RESPONSE)
MAC_TREE = cbor2.loads(MAC_RESPONSE)
_DOC = TREE["documents"][0]
_ITEMS = _DOC["issuerSigned"]["nameSpaces"][csid.NAMESPACE]


def _random_item(value: Any) -> cbor2.CBORTag:
    return cbor.tag24(dumps(value))


@st.composite
def item_shaped(draw: st.DrawFn) -> Any:
    item = {
        "digestID": draw(shaped(draw(st.integers(0, 20)))),
        "random": draw(shaped(bytes(32))),
        "elementIdentifier": draw(shaped(draw(st.sampled_from(csid.ALL_ELEMENTS)))),
        "elementValue": draw(small_cbor_values),
    }
    return cbor.tag24(dumps(item))


@st.composite
def mso_payloads(draw: st.DrawFn) -> Any:
    mso = {
        "version": draw(shaped("1.0")),
        "digestAlgorithm": draw(shaped("SHA-256")),
        "valueDigests": draw(
            shaped(
                {
                    draw(st.one_of(st.just(csid.NAMESPACE), hashable_leaves)): draw(
                        st.dictionaries(hashable_leaves, small_cbor_values, max_size=3)
                    )
                }
            )
        ),
        "deviceKeyInfo": draw(shaped({"deviceKey": draw(shaped(_REAL_KEY))})),
        "docType": draw(shaped(csid.DOCTYPE)),
        "validityInfo": draw(
            shaped(
                {
                    "signed": draw(shaped(NOW)),
                    "validFrom": draw(shaped(NOW)),
                    "validUntil": draw(shaped(NOW)),
                    "expectedUpdate": draw(st.one_of(st.none(), shaped(NOW))),
                }
            )
        ),
        "status": draw(small_cbor_values),
    }
    inner = draw(st.one_of(st.just(cbor.encode(mso)), encoded_cbor()))
    outer = draw(shaped(cbor.tag24(inner)))
    return draw(st.one_of(st.just(cbor2.dumps(outer)), st.none(), st.binary(max_size=60)))


# Most telling first: hypothesis draws early elements of a sampled_from more often.
RESPONSE_FIELDS = (
    "items",
    "payload",
    "signature",
    "unprotected",
    "deviceAuth",
    "deviceNameSpaces",
    "namespace",
    "protected",
    "docType",
    "extra",
    "nameSpaces",
    "issuerSigned",
    "deviceSigned",
    "documents",
    "missing",
    "status",
    "version",
)


@st.composite
def response_shaped(draw: st.DrawFn) -> bytes:
    """A DeviceResponse with the right keys, one to three of its values random.

    Randomising a few fields rather than each with some probability keeps most
    inputs close enough to the real one to reach the later checks.
    """
    noisy = draw(st.sets(st.sampled_from(RESPONSE_FIELDS), min_size=1, max_size=3))

    def pick(name: str, right: Any, noise: st.SearchStrategy[Any] = small_cbor_values) -> Any:
        return draw(noise) if name in noisy else right

    auth = _DOC["issuerSigned"]["issuerAuth"]
    issuer_auth = [
        pick("protected", auth[0], st.one_of(encoded_cbor(), small_cbor_values)),
        pick("unprotected", auth[1], st.one_of(cbor_maps, small_cbor_values)),
        pick("payload", auth[2], st.one_of(mso_payloads(), small_cbor_values)),
        pick(
            "signature", auth[3], st.one_of(st.binary(min_size=64, max_size=64), small_cbor_values)
        ),
    ]
    items = pick(
        "items",
        _ITEMS,
        st.one_of(
            st.lists(
                st.one_of(
                    st.sampled_from(_ITEMS), item_shaped(), small_cbor_values.map(_random_item)
                ),
                max_size=12,
            ),
            small_cbor_values,
        ),
    )
    device_signed = _DOC["deviceSigned"]
    device_auth = pick(
        "deviceAuth",
        device_signed["deviceAuth"],
        st.one_of(
            st.just(MAC_TREE["documents"][0]["deviceSigned"]["deviceAuth"]),
            st.fixed_dictionaries({"deviceSignature": sign1_shaped()}),
            st.fixed_dictionaries({"deviceMac": sign1_shaped()}),
            cbor_maps,
        ),
    )
    namespace = pick("namespace", csid.NAMESPACE, hashable_leaves)
    document = {
        "docType": pick("docType", csid.DOCTYPE),
        "issuerSigned": pick(
            "issuerSigned",
            {"nameSpaces": pick("nameSpaces", {namespace: items}), "issuerAuth": issuer_auth},
        ),
        "deviceSigned": pick(
            "deviceSigned",
            {
                "nameSpaces": pick(
                    "deviceNameSpaces",
                    device_signed["nameSpaces"],
                    st.one_of(encoded_cbor().map(cbor.tag24), small_cbor_values),
                ),
                "deviceAuth": device_auth,
            },
        ),
    }
    if "extra" in noisy:
        document[draw(hashable_leaves)] = draw(small_cbor_values)
    documents = pick(
        "documents",
        [document],
        st.one_of(
            st.lists(st.one_of(st.just(document), small_cbor_values), max_size=3), small_cbor_values
        ),
    )
    response = {
        "version": pick("version", "1.0"),
        "documents": documents,
        "status": pick("status", 0),
    }
    if "missing" in noisy:
        del response[draw(st.sampled_from(sorted(response)))]
    return dumps(response)


@HEAVY
@given(data=response_shaped())
def test_parse_device_response_of_shaped_cbor_raises_only_mdoc_error(data: bytes) -> None:
    _only_mdoc_error(data)


@HEAVY
@given(payload=mso_payloads())
def test_parse_mso_raises_only_mdoc_error(payload: bytes | None) -> None:
    message = cose.Sign1(ES256_PROTECTED, {1: -7}, {}, payload, bytes(64))
    try:
        mso = mdoc.parse_mso(message)
    except mdoc.MdocError:
        return
    assert isinstance(mso.doctype, str)


# === 4. The chip card ==========================================================


@st.composite
def challenge_shaped(draw: st.DrawFn) -> bytes:
    body = [
        draw(shaped(card.CHALLENGE_LABEL)),
        draw(shaped(READER)),
        draw(shaped(int(NOW.timestamp()))),
        draw(
            st.one_of(
                st.binary(min_size=16, max_size=32), st.binary(max_size=15), small_cbor_values
            )
        ),
    ]
    return dumps(draw(st.one_of(st.just(body), st.lists(_one_of_these(body), max_size=6))))


@CHEAP
@given(data=st.one_of(st.binary(max_size=80), challenge_shaped(), mutated(CHALLENGE)))
def test_challenge_decode_raises_only_card_error(data: bytes) -> None:
    try:
        challenge = card.Challenge.decode(data)
    except card.CardError:
        return
    assert isinstance(challenge.reader_id, str)
    assert isinstance(challenge.issued_at, int)
    assert challenge.issued_at >= 0
    assert len(challenge.nonce) >= card.NONCE_BYTES


@st.composite
def card_body_shaped(draw: st.DrawFn) -> bytes:
    body = cbor2.loads(cose.parse_sign1(cbor.decode(CARD.card_object)).payload)
    shaped_body = {key: draw(shaped(value)) for key, value in body.items()}
    for key in draw(st.sets(st.sampled_from(sorted(body)), max_size=2)):
        del shaped_body[key]
    return dumps(shaped_body)


@CHEAP
@given(
    payload=st.one_of(
        st.none(),
        st.binary(max_size=60),
        encoded_cbor(),
        card_body_shaped(),
        card_body_shaped().flatmap(mutated),
    ),
    tagged=st.booleans(),
)
def test_parse_card_object_raises_only_card_error(payload: bytes | None, tagged: bool) -> None:
    body = [ES256_PROTECTED, {33: WORLD.ds.der}, payload, bytes(64)]
    message = cose.parse_sign1(cbor2.CBORTag(18, body) if tagged else body)
    with contextlib.suppress(card.CardError):
        card.parse_card_object(message)


@CHEAP
@given(data=st.one_of(mutated(CARD.card_object), st.binary(max_size=120)))
def test_card_object_bytes_raise_only_cbor_cose_or_card_errors(data: bytes) -> None:
    with contextlib.suppress(CborError, cose.CoseError, card.CardError):
        card.parse_card_object(cose.parse_sign1(cbor.decode(data)))


# === 5. Status lists, as the verifier meets them ==================================


def _token_content(token: Any) -> tuple[Any, ...]:
    return (
        token.uri,
        token.issued_at,
        token.expires_at,
        token.ttl,
        token.bits,
        token.list.to_bytes(),
        token.aggregation_uri,
    )


ORIGINAL_TOKEN = STATUS.token(STATUS_URI)
assert ORIGINAL_TOKEN is not None


@st.composite
def token_shaped(draw: st.DrawFn) -> bytes:
    message = cbor2.loads(TOKEN)
    body = list(message.value)
    claims = cbor2.loads(body[2])
    shaped_claims = {key: draw(shaped(value)) for key, value in claims.items()}
    for key in draw(st.sets(st.sampled_from(sorted(claims)), max_size=2)):
        del shaped_claims[key]
    shaped_body = [
        draw(shaped(body[0])),
        draw(shaped(body[1])),
        draw(shaped(dumps(shaped_claims))),
        draw(shaped(body[3])),
    ]
    tag = draw(st.sampled_from([18, 18, 18, 61, 17]))
    return dumps(cbor2.CBORTag(tag, shaped_body) if draw(st.booleans()) else shaped_body)


hostile_tokens = st.one_of(mutated(TOKEN), token_shaped(), st.binary(max_size=120))


@HOSTILE
@given(token=hostile_tokens)
def test_a_hostile_token_never_displaces_the_held_list(token: bytes) -> None:
    assume(token != TOKEN)
    reference = StatusReference(HOLDER.index, STATUS_URI)
    now = int(NOW.timestamp())
    with pytest.raises(StatusListError):  # different bytes, same or no newer signed iat
        STATUS.apply(token, now)
    assert STATUS.token(STATUS_URI) is ORIGINAL_TOKEN
    assert STATUS.lookup(reference, now) is StatusOutcome.VALID


@HOSTILE
@given(token=hostile_tokens)
def test_a_hostile_token_is_refused_or_is_the_signed_list(token: bytes) -> None:
    fresh = StatusCache({STATUS_URI: STATUS_KEY})
    try:
        accepted = fresh.apply(token, int(NOW.timestamp()))
    except StatusListError:
        accepted = None
    try:
        verified = verify_status_list_token(token, key=STATUS_KEY)
    except StatusListError:
        verified = None
    for token_read in (accepted, verified):
        if token_read is not None:  # only unsigned parts (headers, encoding) may differ
            assert _token_content(token_read) == _token_content(ORIGINAL_TOKEN)


@CHEAP
@given(
    value=st.one_of(
        cbor_values,
        st.fixed_dictionaries(
            {
                "status_list": st.fixed_dictionaries(
                    {"idx": small_cbor_values, "uri": small_cbor_values}
                )
            }
        ),
    )
)
def test_status_reference_raises_only_status_list_error(value: Any) -> None:
    try:
        reference = StatusReference.from_cbor_value(value)
    except StatusListError:
        return
    assert STATUS.lookup(reference, int(NOW.timestamp())) in set(StatusOutcome)


@CHEAP
@given(
    lst=st.one_of(
        st.binary(max_size=80),
        st.binary(max_size=300).map(zlib.compress),
        st.binary(max_size=300).map(zlib.compress).flatmap(mutated),
    ),
    bits=st.one_of(st.sampled_from([1, 2, 4, 8]), st.integers(-3, 300), st.booleans()),
)
def test_status_list_from_compressed_raises_only_status_list_error(lst: bytes, bits: int) -> None:
    try:
        status_list = StatusList.from_compressed(lst, bits, max_size=1024)
    except StatusListError:
        return
    assert status_list.size <= 1024


# === 6. The verifier ============================================================


@MUTATIONS
@given(data=st.data(), mac=st.booleans())
def test_mutated_device_response_is_denied_or_is_the_original(
    data: st.DataObject, mac: bool
) -> None:
    original = MAC_RESPONSE if mac else RESPONSE
    response = data.draw(mutated(original))
    assume(response != original)
    decision = check(mobile(response, mac=mac))
    assert_mobile_grant_is_the_original(decision, response, mac=mac)


@HOSTILE
@given(session=mutated(SESSION))
def test_mutated_session_transcript_is_denied(session: bytes) -> None:
    assume(session != SESSION)
    decision = check(MobilePresentation(RESPONSE, session))
    assert not decision.granted


CARD_PARTS = ("card_object", "challenge", "signature")


@MUTATIONS
@given(data=st.data(), part=st.sampled_from(CARD_PARTS))
def test_mutated_card_presentation_is_denied_or_is_the_original(
    data: st.DataObject, part: str
) -> None:
    parts = {"card_object": CARD.card_object, "challenge": CHALLENGE, "signature": CARD_SIGNATURE}
    parts[part] = data.draw(mutated(parts[part]))
    assume(
        parts[part]
        != {"card_object": CARD.card_object, "challenge": CHALLENGE, "signature": CARD_SIGNATURE}[
            part
        ]
    )
    presentation = CardPresentation(**parts)
    decision = check(presentation)
    if part != "card_object":  # the card signed these exact bytes
        assert not decision.granted, decision
    assert_card_grant_is_the_original(decision, presentation)


@HOSTILE
@given(
    data=st.one_of(st.binary(max_size=500), encoded_cbor()),
    challenge=st.one_of(st.just(CHALLENGE), st.binary(max_size=60), challenge_shaped()),
    signature=st.one_of(st.none(), st.just(CARD_SIGNATURE), st.binary(max_size=70)),
)
def test_random_bytes_are_denied(data: bytes, challenge: bytes, signature: bytes | None) -> None:
    assert not check(mobile(data)).granted
    assert not check(mobile(data, mac=True)).granted
    assert not check(CardPresentation(data, challenge, signature)).granted
    assert not check(CardPresentation(CARD.card_object, data, signature)).granted


@HEAVY
@given(response=response_shaped(), mac=st.booleans())
def test_shaped_device_response_is_denied_or_is_the_original(response: bytes, mac: bool) -> None:
    assume(response not in (RESPONSE, MAC_RESPONSE))
    decision = check(mobile(response, mac=mac))
    assert_mobile_grant_is_the_original(decision, response, mac=mac)


@pytest.mark.parametrize(
    "field", ["device_response", "session_transcript", "card_object", "challenge"]
)
@pytest.mark.parametrize("value", [None, "a0", 0, [RESPONSE]], ids=lambda v: type(v).__name__)
def test_what_is_not_bytes_is_denied(field: str, value: Any) -> None:
    if field in ("device_response", "session_transcript"):
        presentation: Any = MobilePresentation(
            **{"device_response": RESPONSE, "session_transcript": SESSION, field: value}
        )
    else:
        presentation = CardPresentation(
            **{
                "card_object": CARD.card_object,
                "challenge": CHALLENGE,
                "signature": CARD_SIGNATURE,
                field: value,
            }
        )
    decision = verify(presentation, trust=TRUST, status=STATUS, now=NOW, options=OPTIONS)
    assert not decision.granted
    assert isinstance(decision.reason, DenialReason)


# Where a tree mutation may leave a grant standing: unsigned parts the verifier
# does not read or that have a harmless default.
_DEVICE_AUTH = ("documents", 0, "deviceSigned", "deviceAuth")
_UNSIGNED_HEADERS = ((*_DEVICE_AUTH, "deviceSignature", 1), (*_DEVICE_AUTH, "deviceMac", 1))


def may_still_grant(mutation: TreeMutation) -> bool:
    path = mutation.path
    if mutation.edit is Edit.REPLACE:
        return path in _UNSIGNED_HEADERS  # the unprotected header of the device's COSE
    if path == ("status",):
        return True  # dropping or renaming "status" leaves its default, 0 (OK)
    # Dropping a disclosed element is selective disclosure, which the holder may do.
    return mutation.edit is Edit.DROP and path[:-1] == ITEMS_PATH


TREE_PATHS = subtree_paths(TREE)
MAC_TREE_PATHS = subtree_paths(MAC_TREE)
assert (*ITEMS_PATH, 0, Step.TAG, Step.EMBED, "elementValue") in TREE_PATHS
assert (*ISSUER_AUTH_PATH, 2, Step.EMBED, Step.TAG, Step.EMBED, "validityInfo") in TREE_PATHS


@MUTATIONS
@given(data=st.data(), mac=st.booleans())
def test_subtree_replaced_in_device_response_is_denied_unless_unsigned(
    data: st.DataObject, mac: bool
) -> None:
    tree, paths, original = (
        (MAC_TREE, MAC_TREE_PATHS, MAC_RESPONSE) if mac else (TREE, TREE_PATHS, RESPONSE)
    )
    mutation = data.draw(tree_mutations(tree, paths))
    response = cbor2.dumps(mutation.apply(tree), canonical=True)
    assume(response != original)
    decision = check(mobile(response, mac=mac))
    if decision.granted:
        assert may_still_grant(mutation), mutation
    assert_mobile_grant_is_the_original(decision, response, mac=mac)


CARD_TREE = cbor2.loads(CARD.card_object)
CARD_TREE_PATHS = subtree_paths(CARD_TREE)
CHALLENGE_TREE = cbor2.loads(CHALLENGE)
CHALLENGE_TREE_PATHS = subtree_paths(CHALLENGE_TREE)


@MUTATIONS
@given(data=st.data(), in_challenge=st.booleans())
def test_subtree_replaced_in_card_object_or_challenge_is_denied(
    data: st.DataObject, in_challenge: bool
) -> None:
    tree, paths = (
        (CHALLENGE_TREE, CHALLENGE_TREE_PATHS) if in_challenge else (CARD_TREE, CARD_TREE_PATHS)
    )
    mutation = data.draw(tree_mutations(tree, paths))
    changed = cbor2.dumps(mutation.apply(tree), canonical=True)
    if in_challenge:
        assume(changed != CHALLENGE)
        presentation = CardPresentation(CARD.card_object, changed, CARD_SIGNATURE)
    else:
        assume(changed != CARD.card_object)
        presentation = CardPresentation(changed, CHALLENGE, CARD_SIGNATURE)
    decision = check(presentation)
    assert not decision.granted, mutation


def test_the_tree_mutator_reaches_every_denial_the_bytes_can_earn() -> None:
    """Not a property: a guard that the tree mutator reaches deep, signed places."""
    reasons = set()
    for path in (
        (*ITEMS_PATH, 0, Step.TAG, Step.EMBED, "elementValue"),
        (*ISSUER_AUTH_PATH, 3),
        (*X5CHAIN_PATH,),
        (*_DEVICE_AUTH, "deviceSignature", 3),
        ("version",),
    ):
        mutation = TreeMutation(Edit.REPLACE, path, b"\x00" * 64)
        reasons.add(check(mobile(cbor2.dumps(mutation.apply(TREE), canonical=True))).reason)
    assert reasons == {
        DenialReason.DIGEST_MISMATCH,
        DenialReason.BAD_ISSUER_SIGNATURE,
        DenialReason.UNTRUSTED_ISSUER,
        DenialReason.DEVICE_AUTH_FAILED,
        DenialReason.MALFORMED,
    }


# === 7. The safety net ==========================================================


class Boom(RuntimeError):
    pass


MOBILE_INNARDS = [
    (mdoc, "parse_device_response"),
    (mdoc, "parse_mso"),
    (mdoc, "device_authentication_bytes"),
    (cose, "verify_es256"),
    (cose, "cose_to_ec2_key"),
    (TrustStore, "document_signer"),
    (StatusCache, "lookup"),
    (StatusReference, "from_cbor_value"),
    (verifier, "_disclosed_claims"),
]
MAC_INNARDS = [(mdoc, "mac_key"), (mdoc, "mac0_tag")]
CARD_INNARDS = [
    (card, "parse_card_object"),
    (card.Challenge, "decode"),
    (card, "challenge_signature_holds"),
    (cose, "parse_sign1"),
]


def _name(target: tuple[Any, str]) -> str:
    owner, attribute = target
    return f"{getattr(owner, '__name__', owner)}.{attribute}"


@pytest.mark.parametrize(
    ("target", "kind"),
    [(t, "mobile") for t in MOBILE_INNARDS]
    + [(t, "mac") for t in MAC_INNARDS]
    + [(t, "card") for t in CARD_INNARDS],
    ids=lambda v: _name(v) if isinstance(v, tuple) else v,
)
@pytest.mark.parametrize("error", [Boom, KeyError, RecursionError, MemoryError, AttributeError])
def test_a_bug_inside_the_verifier_denies_as_malformed(
    monkeypatch: pytest.MonkeyPatch, target: tuple[Any, str], kind: str, error: type[Exception]
) -> None:
    presentation: Any = {
        "mobile": mobile(RESPONSE),
        "mac": mobile(MAC_RESPONSE, mac=True),
        "card": CardPresentation(CARD.card_object, CHALLENGE, CARD_SIGNATURE),
    }[kind]
    owner, attribute = target

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise error("injected")

    patched = (
        classmethod(broken) if isinstance(owner.__dict__.get(attribute), classmethod) else (broken)
    )
    monkeypatch.setattr(owner, attribute, patched)
    decision = verify(presentation, trust=WORLD.trust(), status=STATUS, now=NOW, options=OPTIONS)
    assert not decision.granted
    assert decision.reason is DenialReason.MALFORMED
    assert decision.detail == f"verifier error: {error.__name__}"


def test_the_safety_net_targets_are_on_the_success_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each injected function is really called on a grant, so the test above means something."""
    called: set[str] = set()
    for owner, attribute in MOBILE_INNARDS + MAC_INNARDS + CARD_INNARDS:
        original = getattr(owner, attribute)

        def spy(
            *args: Any, _original: Any = original, _name: str = attribute, **kwargs: Any
        ) -> Any:
            called.add(_name)
            return _original(*args, **kwargs)

        is_classmethod = isinstance(owner.__dict__.get(attribute), classmethod)
        if is_classmethod:
            monkeypatch.setattr(
                owner, attribute, classmethod(lambda _cls, *a, _s=spy, **k: _s(*a, **k))
            )
        else:
            monkeypatch.setattr(owner, attribute, spy)
    trust = WORLD.trust()
    for presentation in (
        mobile(RESPONSE),
        mobile(MAC_RESPONSE, mac=True),
        CardPresentation(CARD.card_object, CHALLENGE, CARD_SIGNATURE),
    ):
        assert verify(presentation, trust=trust, status=STATUS, now=NOW, options=OPTIONS).granted
    assert called == {a for _, a in MOBILE_INNARDS + MAC_INNARDS + CARD_INNARDS}


# === Regressions ================================================================
#
# Regressions: each test below pinned a bug found by the properties above.


# A DAG of shared values (tags 28/29): each level an array of WIDTH references
# to the level below. Decoding is cheap; hashing it (as a map key, or in a set)
# visits WIDTH**LEVELS nodes. Measured: width 4 -> 126 bytes, 0.02 s; width 8 ->
# 246 bytes, 22 s, on the tap path (parse_device_response decodes the whole
# DeviceResponse before any check).
def _shared_value_bomb(width: int = 4, levels: int = 10) -> bytes:
    value: Any = [0]
    for _ in range(levels):
        value = [value] * width
    return b"\xa1" + cbor2.dumps(value, value_sharing=True) + b"\x00"


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_shared_value_bomb(), id="hash-bomb"),
        pytest.param(bytes.fromhex("d81c81d81d00"), id="cyclic-array"),
        pytest.param(bytes.fromhex("d81ca101d81d00"), id="cyclic-map"),
    ],
)
def test_value_sharing_is_refused(decoder: Callable[[bytes], Any], data: bytes) -> None:
    with pytest.raises(CborError):
        decoder(data)


def _corrupt_name(der: bytes, which: str) -> bytes:
    """The DS certificate with an invalid UTF-8 byte in its issuer or subject name."""
    cert = x509.load_der_x509_certificate(der)
    name = (cert.issuer if which == "issuer" else cert.subject).public_bytes()
    start = der.index(name)
    at = der.index("부".encode(), start, start + len(name))
    return der[:at] + b"\xfb" + der[at + 1 :]


def _corrupt_version(der: bytes) -> bytes:
    at = der.index(b"\xa0\x03\x02\x01\x02") + 4
    return der[:at] + b"\x42" + der[at + 1 :]


BROKEN_DS_CERTIFICATES = [
    pytest.param(_corrupt_name(WORLD.ds.der, "issuer"), id="issuer-not-utf8"),
    pytest.param(_corrupt_name(WORLD.ds.der, "subject"), id="subject-not-utf8"),
    pytest.param(_corrupt_version(WORLD.ds.der), id="version-66"),
]


@pytest.mark.parametrize("leaf", BROKEN_DS_CERTIFICATES)
def test_a_broken_ds_certificate_is_untrusted_not_an_error(leaf: bytes) -> None:
    with pytest.raises(UntrustedIssuer):
        WORLD.trust().document_signer([leaf], NOW)


@pytest.mark.parametrize("leaf", BROKEN_DS_CERTIFICATES)
def test_a_presentation_with_a_broken_ds_certificate_is_untrusted(leaf: bytes) -> None:
    mutation = TreeMutation(Edit.REPLACE, X5CHAIN_PATH, leaf)
    response = cbor2.dumps(mutation.apply(TREE), canonical=True)
    decision = verify(mobile(response), trust=WORLD.trust(), status=STATUS, now=NOW)
    if decision.reason is not DenialReason.UNTRUSTED_ISSUER:
        pytest.fail(f"denied as {decision.reason}: {decision.detail}")


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def reencoded_with_malleated_signature(der: bytes) -> bytes:
    """The same certificate, its ECDSA signature (r, s) replaced by the equally valid (r, n-s).

    Nobody's key is needed: anyone who sees the DS certificate can do this.
    """
    cert = x509.load_der_x509_certificate(der)
    r, s = decode_dss_signature(cert.signature)
    tbs = cert.tbs_certificate_bytes
    after_tbs = der.index(tbs) + len(tbs)
    algorithm = der[after_tbs : after_tbs + 2 + der[after_tbs + 1]]
    signature = encode_dss_signature(r, P256_ORDER - s)
    return _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))


REVOKED_DS = signer_fingerprint(WORLD.ds.certificate)


def _revoking_trust() -> TrustStore:
    trust = WORLD.trust()
    trust.revoke_signer(REVOKED_DS)
    return trust


def test_a_revoked_document_signer_is_untrusted() -> None:
    """The baseline for the pinned bug below: revocation works on the issued certificate."""
    decision = check(mobile(RESPONSE), trust=_revoking_trust())
    assert decision.reason is DenialReason.UNTRUSTED_ISSUER
    twin = reencoded_with_malleated_signature(WORLD.ds.der)
    assert twin != WORLD.ds.der
    assert x509.load_der_x509_certificate(twin).tbs_certificate_bytes == (
        WORLD.ds.certificate.tbs_certificate_bytes
    )


def test_a_revoked_document_signer_cannot_return_with_a_reencoded_certificate() -> None:
    twin = reencoded_with_malleated_signature(WORLD.ds.der)
    trust = _revoking_trust()
    response = cbor2.dumps(
        TreeMutation(Edit.REPLACE, X5CHAIN_PATH, twin).apply(TREE), canonical=True
    )
    decision = check(mobile(response), trust=trust)
    if decision.reason is not DenialReason.UNTRUSTED_ISSUER:
        pytest.fail(f"revoked DS came back: granted={decision.granted} reason={decision.reason}")


def test_a_challenge_from_beyond_time_is_denied_without_the_safety_net() -> None:
    challenge = cbor.encode([card.CHALLENGE_LABEL, READER, 2**1024, bytes(16)])
    signature = card.sign_challenge(CARD.card_key, challenge)
    decision = verify(
        CardPresentation(CARD.card_object, challenge, signature),
        trust=TRUST,
        status=STATUS,
        now=NOW,
        options=OPTIONS,
    )
    assert not decision.granted
    if decision.detail.startswith("verifier error:"):
        pytest.fail(decision.detail)
