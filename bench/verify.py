"""One mobile presentation, verified offline: ours, pymdoccbor, and two bare ECDSA verifications.

Ours is the gate's whole decision (``verifier.verify``): issuer chain (cached
per DS, as on a gate), IssuerAuth signature, every disclosed digest, the
deviceSignature over this session, validity and a status lookup in a 1.2 M
entry Token Status List. pymdoccbor 1.4 checks issuer data only (signature,
digests; chain optionally) and runs in its own venv (see ``_interop.py``),
timing itself. The floor is what no verifier can avoid: the two ECDSA P-256
verifications (issuer, device) over the same messages, keys already loaded.

Besides the figures it attributes our time to the steps of the verifier
(``stages_us``, each step timed in sequence on the same data) and lists the
functions cProfile finds most expensive (``profile_tottime_us``).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import hmac
import pstats
import random
import re
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench import _interop
from gateway.central.authority import pki
from gateway.credentials import cose, csid, mdoc
from gateway.credentials.cbor import decode
from gateway.credentials.status_list import (
    Status,
    StatusCache,
    StatusList,
    StatusReference,
    sign_status_list_token,
)
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import MobilePresentation, Verifier, verify

NAME = "verify"
DESCRIPTION = "one mobile presentation, offline: ours vs pymdoccbor vs 2x raw ECDSA P-256"

NOW = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)
STATUS_URI = "https://csid.mpm.go.kr/status/1"
STATUS_ENTRIES = 1_200_000
REVOKED_SHARE = 0.01
HOLDER_INDEX = 987_654
SEED = 18013
NUMBER = 500  # calls per timing run
REPEATS = 9  # timing runs; the median is reported
PYMDOC_ITERATIONS = 25  # per round, per variant
STAGE_CALLS = 2000
PROFILE_CALLS = 2000
PROFILE_TOP = 12
TARGET_PYMDOC_RATIO = 10.0
TARGET_FLOOR_RATIO = 1.5
_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass
class Scene:
    presentation: MobilePresentation
    trust: TrustStore
    status: StatusCache
    iaca_der: bytes
    signer_key: ec.EllipticCurvePublicKey
    device_key: ec.EllipticCurvePublicKey


def build() -> Scene:
    """A ministry's PKI, a 1.2 M entry status list, one holder, and one tap at a door."""
    keys = pki.new_issuer(
        "행정안전부", organization="행정안전부", not_before=NOW - dt.timedelta(days=400)
    )
    iaca, ds, status_signer = keys.iaca, keys.document_signer, keys.status_signer
    statuses = StatusList(STATUS_ENTRIES, bits=2)
    rng = random.Random(SEED)
    for index in rng.sample(range(STATUS_ENTRIES), int(STATUS_ENTRIES * REVOKED_SHARE)):
        if index != HOLDER_INDEX:
            statuses.set(index, Status.INVALID)
    token = sign_status_list_token(
        statuses,
        key=status_signer.key,
        uri=STATUS_URI,
        issued_at=int(NOW.timestamp()) - 60,
        expires_at=None,
        ttl=3600,
    )
    cache = StatusCache({STATUS_URI: status_signer.key.public_key()})
    cache.apply(token, int(NOW.timestamp()))

    claims = csid.CivilServantClaims(
        holder_id="H0000001",
        credential_serial="S0000001-1",
        issue_number="2026-000001",
        name="홍길동",
        organization="행정안전부",
        organization_code="1741000",
        position="행정사무관",
        issue_date=dt.date(2026, 1, 5),
        issuing_authority="행정안전부장관",
        issuing_authority_phone="044-205-1234",
        portrait=b"\xff\xd8\xff\xe0" + rng.randbytes(6000),
    )
    device = ec.generate_private_key(ec.SECP256R1())
    signed = NOW - dt.timedelta(days=30)
    issuer_signed = mdoc.issue(
        doctype=csid.DOCTYPE,
        namespaces={csid.NAMESPACE: claims.elements()},
        device_key=device.public_key(),
        validity=mdoc.ValidityInfo(signed, signed, NOW + dt.timedelta(days=335)),
        signer_key=ds.key,
        x5chain=[ds.der],
        status=StatusReference(HOLDER_INDEX, STATUS_URI).to_cbor_value(),
    )
    reader = ec.generate_private_key(ec.SECP256R1())
    engagement = bytes(rng.randbytes(90))  # the size of a BLE DeviceEngagement
    transcript = mdoc.session_transcript(engagement, reader.public_key(), None)
    response = mdoc.present(
        issuer_signed,
        device,
        transcript,
        doctype=csid.DOCTYPE,
        requested={csid.NAMESPACE: csid.DOOR_ELEMENTS},
    )
    signer_key = ds.certificate.public_key()
    assert isinstance(signer_key, ec.EllipticCurvePublicKey)
    return Scene(
        MobilePresentation(response, transcript),
        TrustStore([iaca.certificate]),
        cache,
        iaca.der,
        signer_key,
        device.public_key(),
    )


def _ours(scene: Scene) -> Callable[[], object]:
    """First sight of a credential: nothing remembered but the DS check, as ``verify()``."""
    presentation, trust, status = scene.presentation, scene.trust, scene.status

    def once() -> object:
        return verify(presentation, trust=trust, status=status, now=NOW)

    return once


def _ours_remembered(scene: Scene) -> Callable[[], object]:
    """A gate's Verifier on a credential it has seen: IssuerAuth and MSO remembered;
    digests, device signature, validity and status still checked on every call."""
    gate = Verifier(scene.trust, scene.status)
    presentation = scene.presentation

    def once() -> object:
        return gate.verify(presentation, NOW)

    once()
    return once


def _floor(scene: Scene) -> tuple[Callable[[], object], Callable[[], object]]:
    """Two bare verifications over exactly the bytes ours verifies, and one alone."""
    (doc,) = mdoc.parse_device_response(scene.presentation.device_response)
    assert doc.issuer_auth.payload is not None
    assert doc.device_signature is not None
    issuer_message = cose.sig_structure(doc.issuer_auth.protected_bytes, doc.issuer_auth.payload)
    issuer_signature = cose.raw_to_der(doc.issuer_auth.signature)
    device_message = cose.sig_structure(
        doc.device_signature.protected_bytes,
        mdoc.device_authentication_bytes(
            scene.presentation.session_transcript, doc.doctype, doc.device_namespaces_bytes
        ),
    )
    device_signature = cose.raw_to_der(doc.device_signature.signature)
    issuer_key, device_key = scene.signer_key, scene.device_key

    def both() -> None:
        issuer_key.verify(issuer_signature, issuer_message, _ECDSA)
        device_key.verify(device_signature, device_message, _ECDSA)

    def one() -> None:
        issuer_key.verify(issuer_signature, issuer_message, _ECDSA)

    return both, one


def _timed_rounds(scene: Scene, actions: dict[str, Callable[[], object]]) -> dict[str, Any]:
    """Median µs per verification of each action and of pymdoccbor, in interleaved rounds.

    The machine is shared, so load drifts: each round times every action, then
    has pymdoccbor time itself (one subprocess, chain check off and on), and
    medians are taken across rounds.
    """
    timers = {name: timeit.Timer(action) for name, action in actions.items()}
    samples: dict[str, list[float]] = {name: [] for name in (*actions, "no_chain", "chain")}
    error = None
    for _ in range(REPEATS):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(NUMBER) / NUMBER * 1e6)
        if error is not None:
            continue
        try:
            peer = _interop.pymdoc_verify(
                scene.presentation.device_response,
                [scene.iaca_der],
                iterations=PYMDOC_ITERATIONS,
            )
        except (_interop.InteropUnavailable, RuntimeError) as exc:
            error = str(exc)
            continue
        if not peer["valid"]:
            error = f"pymdoccbor refused the presentation: {peer}"
            continue
        for name in ("no_chain", "chain"):
            samples[name].extend(peer["per_verification_us"][name])
    medians: dict[str, Any] = {
        name: round(statistics.median(values), 1) if values else None
        for name, values in samples.items()
    }
    medians["best"] = {name: round(min(values), 1) for name, values in samples.items() if values}
    medians["pymdoccbor_error"] = error
    return medians


def _stages_us(scene: Scene) -> dict[str, float]:
    """The verifier's mobile path, step by step on the same data, each step timed in place."""
    presentation, trust, cache = scene.presentation, scene.trust, scene.status
    response, transcript = presentation.device_response, presentation.session_transcript
    clock = time.perf_counter_ns
    names = (
        "parse_device_response",
        "decode_session_transcript",
        "trust_lookup_cached",
        "issuer_sig_structure_and_der",
        "issuer_ecdsa_verify",
        "parse_mso",
        "digests",
        "load_device_key",
        "device_authentication_bytes",
        "device_sig_structure_and_der",
        "device_ecdsa_verify",
        "status_reference_and_lookup",
    )
    totals = dict.fromkeys(names, 0)
    for _ in range(STAGE_CALLS):
        marks = [clock()]
        (doc,) = mdoc.parse_device_response(response)
        marks.append(clock())
        decode(transcript)
        marks.append(clock())
        signer = trust.document_signer(doc.issuer_auth.x5chain(), NOW)
        marks.append(clock())
        auth = doc.issuer_auth
        message = cose.sig_structure(auth.protected_bytes, auth.payload or b"")
        signature = cose.raw_to_der(auth.signature)
        marks.append(clock())
        signer.public_key.verify(signature, message, _ECDSA)
        marks.append(clock())
        mso = mdoc.parse_mso(auth)
        marks.append(clock())
        for namespace, items in doc.namespaces.items():
            table = mso.value_digests[namespace]
            for item in items:
                assert hmac.compare_digest(table[item.digest_id], item.digest)
        marks.append(clock())
        device_key = cose.cose_to_ec2_key(mso.device_key)
        marks.append(clock())
        signed = mdoc.device_authentication_bytes(
            transcript, doc.doctype, doc.device_namespaces_bytes
        )
        marks.append(clock())
        device_signature = doc.device_signature
        assert device_signature is not None
        message = cose.sig_structure(device_signature.protected_bytes, signed)
        signature = cose.raw_to_der(device_signature.signature)
        marks.append(clock())
        device_key.verify(signature, message, _ECDSA)
        marks.append(clock())
        cache.lookup(StatusReference.from_cbor_value(mso.status), int(NOW.timestamp()))
        marks.append(clock())
        for position, name in enumerate(names):
            totals[name] += marks[position + 1] - marks[position]
    return {name: round(total / STAGE_CALLS / 1000, 1) for name, total in totals.items()}


def _c_name(function: str) -> str:
    """'<method 'verify' of 'a.b.ECPublicKey' objects>' -> 'ECPublicKey.verify', and so on."""
    method = re.fullmatch(r"<method '(\w+)' of '(?:[\w.]+\.)?(\w+)' objects>", function)
    if method:
        return f"{method[2]}.{method[1]}"
    builtin = re.fullmatch(r"<built-in method ([\w.]+)>", function)
    return builtin[1] if builtin else function


def _profile(once: Callable[[], object]) -> dict[str, float]:
    """cProfile's most expensive functions by own time, in µs per verification.

    cProfile adds a roughly constant cost per Python call, so it overstates
    Python-heavy code next to C calls such as the ECDSA verification.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(PROFILE_CALLS):
        once()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), (_, calls, own, _cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(filename).name}:{line}({function})" if line else _c_name(function)
        rows.append((own, where, calls))
    rows.sort(reverse=True)
    return {
        f"{where} x{calls / PROFILE_CALLS:g}": round(own / PROFILE_CALLS * 1e6, 1)
        for own, where, calls in rows[:PROFILE_TOP]
    }


def run() -> dict[str, Any]:
    scene = build()
    once = _ours(scene)
    decision = once()  # also warms the trust store's DS cache, as a gate's first tap does
    if not getattr(decision, "granted", False):
        raise RuntimeError(f"the benchmark presentation is not granted: {decision}")
    both, one = _floor(scene)
    remembered = _ours_remembered(scene)
    timed = _timed_rounds(
        scene, {"ours": once, "ours_remembered": remembered, "floor": both, "one_ecdsa": one}
    )
    ours, floor, peer = timed["ours"], timed["floor"], timed["no_chain"]
    remembered_ratio = round(timed["ours_remembered"] / floor, 2)
    pymdoc_ratio = None if peer is None else round(peer / ours, 2)
    floor_ratio = round(ours / floor, 2)
    best = timed["best"]
    stages = _stages_us(scene)
    return {
        "presentation": {
            "doctype": csid.DOCTYPE,
            "elements_disclosed": len(csid.DOOR_ELEMENTS),
            "device_response_bytes": len(scene.presentation.device_response),
            "device_auth": "deviceSignature (ES256)",
            "status_list_entries": STATUS_ENTRIES,
        },
        "ours_us": ours,
        "ours_remembered_us": timed["ours_remembered"],
        "pymdoccbor_us": peer,
        "pymdoccbor_with_chain_us": timed["chain"],
        "pymdoccbor_error": timed["pymdoccbor_error"],
        "floor_us": floor,
        "one_ecdsa_verify_us": timed["one_ecdsa"],
        "overhead_beyond_floor_us": round(ours - floor, 1),
        "ratios": {
            "pymdoccbor/ours": pymdoc_ratio,
            "ours/floor": floor_ratio,
            "ours_remembered/floor": remembered_ratio,
            "pymdoccbor/ours_remembered": (
                None if peer is None else round(peer / timed["ours_remembered"], 2)
            ),
        },
        # The least disturbed round of each (timeit's advice on a busy machine).
        "best_us": timed["best"],
        "ratios_of_best": {
            "pymdoccbor/ours": (
                round(best["no_chain"] / best["ours"], 2) if "no_chain" in best else None
            ),
            "ours/floor": round(best["ours"] / best["floor"], 2),
        },
        "targets": {
            f"pymdoccbor/ours >= {TARGET_PYMDOC_RATIO:g}": (
                None if pymdoc_ratio is None else pymdoc_ratio >= TARGET_PYMDOC_RATIO
            ),
            f"ours/floor <= {TARGET_FLOOR_RATIO:g}": floor_ratio <= TARGET_FLOOR_RATIO,
            f"ours_remembered/floor <= {TARGET_FLOOR_RATIO:g}": (
                remembered_ratio <= TARGET_FLOOR_RATIO
            ),
        },
        "stages_us": stages,
        "stages_sum_us": round(sum(stages.values()), 1),
        "profile_tottime_us": _profile(once),
        "method": {
            "number": NUMBER,
            "repeats": REPEATS,
            "statistic": "median over interleaved rounds, us per verification",
            "pymdoccbor": f"MdocCbor.loads+verify, {PYMDOC_ITERATIONS} per round and variant, "
            "timed in its venv, logging off; chain check off (with_chain_us: on)",
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
