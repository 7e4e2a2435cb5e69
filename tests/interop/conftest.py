"""Interop against pymdoccbor, which runs in a virtualenv of its own (see bench/_interop.py).

The venv is made once (about 10 s) and reused; without it these tests skip and say why.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bench import _interop
from gateway.central.authority import pki
from gateway.credentials.cbor import encode
from gateway.credentials.status_list import StatusCache, StatusList, sign_status_list_token
from gateway.credentials.trust import TrustStore

ISSUE_SCRIPT = Path(__file__).with_name("pymdoc_issue.py")
STATUS_URI = "https://csid.mpm.go.kr/status/interop"


@pytest.fixture(scope="session")
def interop_python() -> Path:
    try:
        return _interop.ensure_venv()
    except _interop.InteropUnavailable as exc:
        pytest.skip(f"pymdoccbor interop venv unavailable: {exc}")


@dataclass
class Authority:
    """An IACA, its DS and status signer, valid around the wall clock (pymdoccbor signs 'now')."""

    iaca: pki.KeyPair
    ds: pki.KeyPair
    status_signer: pki.KeyPair
    statuses: StatusList

    def trust(self) -> TrustStore:
        return TrustStore([self.iaca.certificate])

    def status_cache(self, now: dt.datetime) -> StatusCache:
        token = sign_status_list_token(
            self.statuses,
            key=self.status_signer.key,
            uri=STATUS_URI,
            issued_at=int(now.timestamp()) - 60,
            expires_at=None,
            ttl=3600,
        )
        cache = StatusCache({STATUS_URI: self.status_signer.key.public_key()})
        cache.apply(token, int(now.timestamp()))
        return cache


@pytest.fixture(scope="session")
def authority() -> Authority:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    keys = pki.new_issuer(
        "행정안전부", organization="행정안전부", not_before=start, signer_days=400
    )
    return Authority(keys.iaca, keys.document_signer, keys.status_signer, StatusList(4096))


def coordinates(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {"x": numbers.x.to_bytes(32, "big").hex(), "y": numbers.y.to_bytes(32, "big").hex()}


def pymdoc_issue(
    interop_python: Path,
    *,
    signer: pki.KeyPair,
    doctype: str,
    data: dict[str, dict[str, Any]],
    device_key: ec.EllipticCurvePublicKey | None = None,
    device_key_pem: str | None = None,
    revocation: dict[str, Any] | None = None,
    days: int = 365,
) -> bytes:
    """pymdoccbor's MdocCborIssuer output (a DeviceResponse-shaped map without deviceSigned)."""
    today = dt.datetime.now(dt.UTC).date()
    request = {
        "signer_d": signer.key.private_numbers().private_value.to_bytes(32, "big").hex(),
        "x5chain": [signer.der.hex()],
        "device_key": None if device_key is None else coordinates(device_key),
        "device_key_pem": device_key_pem,
        "doctype": doctype,
        "data": encode(data).hex(),
        "validity": {
            "issuance_date": today.isoformat(),
            "expiry_date": (today + dt.timedelta(days=days)).isoformat(),
        },
        "revocation": None if revocation is None else encode(revocation).hex(),
    }
    done = subprocess.run(
        [str(interop_python), str(ISSUE_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return bytes.fromhex(json.loads(done.stdout)["mdoc"])
