"""The files of one gate for ``bench node``'s real-node figures (written by the parent).

Kept apart from :mod:`bench._node_process` so that the measured process imports
only what a gate imports.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bench.decide import SEED, site_document
from gateway.central.authority import pki
from gateway.credentials import card, csid, mdoc
from gateway.credentials.status_list import (
    Status,
    StatusList,
    StatusReference,
    sign_status_list_token,
)
from gateway.node.policy import sign_document

STATUS_ENTRIES = 1_200_000
STATUS_URI = "https://csid.mpm.go.kr/status/benchnode"
DOOR = "b0-z0-in"
CARD_INDEX = 4242
EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "examples" / "node-simulated.toml"


def write_site(root: Path, broker: str | None) -> None:
    """Everything the node's config names, with fresh keys (run in the parent)."""
    now = dt.datetime.now(dt.UTC)
    keys = pki.new_issuer(
        "행정안전부", organization="행정안전부", not_before=now - dt.timedelta(days=30)
    )
    rng = random.Random(SEED)
    statuses = StatusList(STATUS_ENTRIES, bits=2)
    for index in rng.sample(range(STATUS_ENTRIES), STATUS_ENTRIES // 100):
        if index != CARD_INDEX:
            statuses.set(index, Status.INVALID)
    files = root / "site"
    files.mkdir(parents=True, exist_ok=True)
    (files / "status.cwt").write_bytes(
        sign_status_list_token(
            statuses, key=keys.status_signer.key, uri=STATUS_URI,
            issued_at=int(now.timestamp()) - 60, expires_at=None, ttl=24 * 3600,
        )
    )  # fmt: skip
    (files / "anchors.pem").write_bytes(keys.iaca.cert_pem())
    (files / "status-signer.pem").write_bytes(keys.status_signer.cert_pem())
    policy_key = ec.generate_private_key(ec.SECP256R1())
    (files / "policy-signer.pem").write_bytes(
        policy_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    document = site_document(rng) | {"issued_at": now.isoformat()}
    payload = json.dumps(document, ensure_ascii=False).encode()
    (files / "policy.cose").write_bytes(sign_document(payload, policy_key))
    claims = csid.CivilServantClaims(
        holder_id="H0000001", credential_serial="S0000001-1", issue_number="2026-000001",
        name="홍길동", organization="기관0", organization_code="1000000", position="주무관",
        issue_date=dt.date(2026, 1, 5), issuing_authority="행정안전부장관",
        issuing_authority_phone="044-205-1234", portrait=b"",
    )  # fmt: skip
    elements = dict(claims.elements())
    elements.pop(csid.PORTRAIT, None)  # the photo is printed on the card
    card_key = ec.generate_private_key(ec.SECP256R1())
    validity = mdoc.ValidityInfo(now, now, now + dt.timedelta(days=365))
    obj = card.issue_card_object(
        claims=elements, card_key=card_key.public_key(), validity=validity,
        signer_key=keys.document_signer.key, x5chain=[keys.document_signer.der],
        status=StatusReference(CARD_INDEX, STATUS_URI).to_cbor_value(),
    )  # fmt: skip
    (files / "card.json").write_text(
        json.dumps(
            {
                "object": obj.hex(),
                "key": card_key.private_bytes(
                    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
                ).decode(),
            }
        )
    )
    text = EXAMPLE.read_text(encoding="utf-8").replace('node_id = "b6-in"', f'node_id = "{DOOR}"')
    text = text.replace("simulated/policy.cose", "site/policy.cose")
    text = text.replace("simulated/policy-signer.pem", "site/policy-signer.pem")
    text = text.replace("simulated/trust-anchors.pem", "site/anchors.pem")
    text = text.replace("simulated/status-list-signer.pem", "site/status-signer.pem")
    text += '\n[state]\ndir = "state"\ndurability = "full"\n'
    if broker is not None:
        host, port = broker.rsplit(":", 1)
        text += f'\n[mqtt]\nhost = "{host}"\nport = {port}\nheartbeat_seconds = 30\n'
    (root / "node.toml").write_text(text, encoding="utf-8")
