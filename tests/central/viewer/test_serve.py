"""The [viewer] section: keys read at start-up, actions only when fully configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import ValidationError

from gateway.central.collector.store import SqliteStore
from gateway.central.viewer import MqttActions
from gateway.central.viewer.serve import ViewerSection, viewer_app


def pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def test_actions_are_wired_from_key_files(tmp_path: Path) -> None:
    (tmp_path / "op.pem").write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    store = SqliteStore(tmp_path / "s.sqlite")
    section = ViewerSection(site="sejong", operator_id="op-kim", operator_key="op.pem")
    app = viewer_app(section, store, base=tmp_path, mqtt_host="127.0.0.1", mqtt_port=1)
    assert isinstance(app.state.viewer.actions, MqttActions)
    bare = viewer_app(ViewerSection(), store, base=tmp_path, mqtt_host="h", mqtt_port=1)
    assert bare.state.viewer.actions is None


async def test_a_wrong_key_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "ed.pem").write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    section = ViewerSection(site="sejong", operator_id="op", operator_key="ed.pem")
    with pytest.raises(ValueError, match="not a P-256"):
        viewer_app(section, SqliteStore(tmp_path / "s"), base=tmp_path, mqtt_host="h", mqtt_port=1)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        ViewerSection.model_validate({"port": 8080, "pasword": "x"})
