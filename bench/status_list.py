"""Token Status List for every civil servant, against an X.509 CRL of the same revocations."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
import timeit
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.progress import track

from gateway.credentials.status_list import (
    Status,
    StatusCache,
    StatusList,
    StatusReference,
    sign_status_list_token,
    verify_status_list_token,
)

NAME = "status_list"
DESCRIPTION = "1.2 M credentials, 2-bit Token Status List vs. X.509 CRL"

ENTRIES = 1_200_000
INVALID_RATE = 0.01
SUSPENDED_RATE = 0.005
SEED = 20210801
URI = "https://status.gcc.go.kr/lists/civil-servants"
NOW = 1_754_000_000
LOOKUPS = 100_000
REPEATS = 7
SPEED_TARGET_NS = 1000
SIZE_TARGET_RATIO = 0.1


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _per_call_ns(stmt: str, namespace: dict[str, Any]) -> float:
    """Median over REPEATS runs of LOOKUPS calls; the loop's own cost is included."""
    runs = timeit.Timer(stmt, globals=namespace).repeat(repeat=REPEATS, number=1)
    return round(statistics.median(runs) / LOOKUPS * 1e9, 1)


def _build(invalid: list[int], suspended: list[int]) -> StatusList:
    status_list = StatusList(ENTRIES, bits=2)
    for idx in invalid:
        status_list.set(idx, Status.INVALID)
    for idx in suspended:
        status_list.set(idx, Status.SUSPENDED)
    return status_list


def _crl(key: ec.EllipticCurvePrivateKey, serials: Iterable[int], rng: random.Random) -> bytes:
    """One RevokedCertificate per INVALID credential, signed ECDSA with SHA-256."""
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministry of Personnel Management"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Civil Servant ID CA"),
        ]
    )
    this_update = dt.datetime.fromtimestamp(NOW, dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(this_update)
        .next_update(this_update + dt.timedelta(days=1))
        .add_extension(x509.CRLNumber(42), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    for serial in serials:
        revoked_at = this_update - dt.timedelta(seconds=rng.randrange(365 * 86_400))
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def run(*, progress: bool = False) -> dict[str, Any]:
    rng = random.Random(SEED)
    n_invalid, n_suspended = int(ENTRIES * INVALID_RATE), int(ENTRIES * SUSPENDED_RATE)
    chosen = rng.sample(range(ENTRIES), n_invalid + n_suspended)
    invalid, suspended = chosen[:n_invalid], chosen[n_invalid:]
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()

    def build_and_sign() -> bytes:
        return sign_status_list_token(
            _build(invalid, suspended),
            key=key,
            uri=URI,
            issued_at=NOW,
            expires_at=NOW + 86_400,
            ttl=300,
        )

    token = build_and_sign()
    build_sign_s = _median_seconds(build_and_sign, 3)
    verify_s = _median_seconds(lambda: verify_status_list_token(token, key=public), 5)

    tracemalloc.start()
    verified = verify_status_list_token(token, key=public, expected_uri=URI)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    cache = StatusCache({URI: public})
    cache.apply(token, now=NOW)
    probe = [rng.randrange(ENTRIES) for _ in range(LOOKUPS)]
    namespace = {
        "idx": probe,
        "refs": [StatusReference(i, URI) for i in probe],
        "get": verified.list.get,
        "lookup": verified.lookup,
        "cache_lookup": cache.lookup,
        "now": NOW + 10,
    }
    lookup_ns = {
        "status_list_get": _per_call_ns("for i in idx: get(i)", namespace),
        "token_lookup": _per_call_ns("for i in idx: lookup(i)", namespace),
        "cache_lookup": _per_call_ns("for r in refs: cache_lookup(r, now)", namespace),
        "empty_loop": _per_call_ns("for i in idx: pass", namespace),
    }
    assert all(verified.list.get(i) is Status.INVALID for i in invalid)

    serials: Iterable[int] = [rng.getrandbits(159) for _ in range(n_invalid)]  # as x509's
    if progress:
        serials = track(serials, "CRL entries", console=Console(stderr=True), transient=True)
    start = time.perf_counter()
    crl = _crl(key, serials, rng)
    crl_build_s = time.perf_counter() - start

    ratio = len(token) / len(crl)
    list_path_ns = max(lookup_ns["status_list_get"], lookup_ns["token_lookup"])
    return {
        "entries": ENTRIES,
        "invalid": n_invalid,
        "suspended": n_suspended,
        "uncompressed_bytes": len(verified.list.to_bytes()),
        "token_bytes": len(token),
        "build_sign_ms": round(build_sign_s * 1e3, 1),
        "verify_decompress_ms": round(verify_s * 1e3, 2),
        "verify_peak_alloc_bytes": peak,
        "lookup_ns": lookup_ns,
        "crl_entries": n_invalid,
        "crl_bytes": len(crl),
        "crl_build_sign_ms": round(crl_build_s * 1e3, 1),
        "token_to_crl_ratio": round(ratio, 4),
        "targets": {
            "token_to_crl_ratio_le_0.1": ratio <= SIZE_TARGET_RATIO,
            "lookup_under_1us": list_path_ns < SPEED_TARGET_NS,
            "cache_lookup_under_1us": lookup_ns["cache_lookup"] < SPEED_TARGET_NS,
        },
    }
