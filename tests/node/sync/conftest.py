"""A node's sync world: the issuer's keys, a site policy signer, a syncer over a temp folder."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.sync_publish import sign_posture, sign_trust_anchors
from gateway.credentials.status_list import StatusCache, StatusList, sign_status_list_token
from gateway.credentials.verifier import Verifier
from gateway.mqtt.payloads import PostureState, TrustAnchors
from gateway.node.policy import CompiledPolicy, LoadedPolicy, load_signed, sign_document
from gateway.node.sync import AppliedPosture, Syncer, SyncStore, make_delta
from tests.credentials.conftest import NOW, STATUS_URI, World, make_world
from tests.node.policy.site import site as policy_site

SITE = "sejong-6"
LIST = "1"  # the last path segment of STATUS_URI
T0 = int(NOW.timestamp()) - 60  # iat of the token the config gave


def b64(der: bytes) -> str:
    return base64.urlsafe_b64encode(der).rstrip(b"=").decode()


@dataclass
class Sink:
    policies: list[tuple[LoadedPolicy, CompiledPolicy]] = field(default_factory=list)
    postures: list[AppliedPosture] = field(default_factory=list)

    def install_policy(self, loaded: LoadedPolicy, compiled: CompiledPolicy) -> None:
        self.policies.append((loaded, compiled))

    def install_posture(self, posture: AppliedPosture) -> None:
        self.postures.append(posture)


@dataclass
class Keys:
    world: World
    policy: ec.EllipticCurvePrivateKey
    stranger: ec.EllipticCurvePrivateKey  # a well-formed key nobody trusts

    def token(self, iat: int, statuses: StatusList | None = None, *, key: Any = None) -> bytes:
        return sign_status_list_token(
            statuses or self.world.statuses,
            key=key or self.world.status_signer.key,
            uri=STATUS_URI,
            issued_at=iat,
            expires_at=None,
            ttl=3600,
        )

    def delta(self, base: int, iat: int, changes: list[tuple[int, int]], key: Any = None) -> bytes:
        return make_delta(
            uri=STATUS_URI,
            base=base,
            iat=iat,
            changes=changes,
            key=key or self.world.status_signer.key,
        )

    def policy_doc(self, version: int, key: Any = None, **changes: Any) -> bytes:
        payload = json.dumps(policy_site(version=version, **changes)).encode()
        return sign_document(payload, key or self.policy)

    def posture(self, version: int, *, key: Any = None, **fields: Any) -> bytes:
        values: dict[str, Any] = {
            "site": SITE,
            "version": version,
            "issued_at": NOW,
            "posture": "normal",
        } | fields
        return sign_posture(PostureState(**values), key or self.policy)

    def anchors(self, version: int, *, key: Any = None, **fields: Any) -> bytes:
        values: dict[str, Any] = {
            "site": SITE,
            "version": version,
            "issued_at": NOW,
            "iaca": [b64(self.world.iaca.der)],
            "status_list_signers": [b64(self.world.status_signer.der)],
            "policy_signers": [],
        } | fields
        return sign_trust_anchors(TrustAnchors(**values), key or self.policy)


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        make_world(),
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )


@dataclass
class Node:
    """What a node builds from its config files, and the syncer over it."""

    keys: Keys
    directory: Path
    sink: Sink
    verifier: Verifier
    syncer: Syncer

    def handle(self, name: str, payload: bytes, *, now: dt.datetime = NOW, **params: str) -> Any:
        params = {"site": SITE, **params}
        return self.syncer.handle(name, params, payload, retained=True, now=now)


def boot(keys: Keys, directory: Path, *, config_policy: int = 7) -> Node:
    """A node as built from config: the token at T0, policy version ``config_policy``."""
    world = keys.world
    cache = StatusCache({STATUS_URI: world.status_signer.key.public_key()})
    cache.apply(keys.token(T0, StatusList(1024)), int(NOW.timestamp()))
    verifier = Verifier(world.trust(), cache)
    loaded = load_signed(keys.policy_doc(config_policy), keys.policy.public_key())
    sink = Sink()
    syncer = Syncer(verifier, loaded, keys.policy.public_key(), SyncStore(directory), SITE, sink)
    return Node(keys, directory, sink, verifier, syncer)


@pytest.fixture
def node(keys: Keys, tmp_path: Path) -> Node:
    return boot(keys, tmp_path / "sync")
