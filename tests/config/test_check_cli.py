"""`gateway check`: 0 on the shipped examples and profiles, 1 with a helpful message otherwise."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.cli.main import cli
from gateway.node import policy as policy_engine
from tests.config.conftest import EXAMPLES, FIXTURES, PROFILES

SHIPPED = sorted(PROFILES.glob("*.toml")) + sorted(EXAMPLES.glob("node-*.toml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.toml")) + sorted(
    (FIXTURES / "profiles").glob("*.toml")
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.output


def test_shipped_files_pass() -> None:
    code, output = run(*map(str, SHIPPED))
    assert code == 0, output
    assert f"{len(SHIPPED)} file(s) checked, 0 with errors" in output
    assert "(firmware profile)" in output
    assert "(node config)" in output


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_invalid_fixture_fails_with_file_line_and_hint(path: Path) -> None:
    code, output = run(str(path))
    assert code == 1, output
    assert f"FAIL {path}" in output
    assert f"{path}:" in output.splitlines()[1]  # file and line of the first finding
    assert "error:" in output


def test_json_output() -> None:
    bad = FIXTURES / "invalid" / "pins.toml"
    good = EXAMPLES / "node-pi4-pn532.toml"
    code, output = run("--json", str(good), str(bad))
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert [f["ok"] for f in report["files"]] == [True, False]
    finding = report["files"][1]["findings"][0]
    assert finding == {
        "file": str(bad),
        "line": 16,
        "key": "pins.led_red",
        "message": "BCM 14 has two functions: led_red and the PN532 reader's UART TXD "
        "(from profile 'pi4-pn532-waveshare-relay')",
        "hint": "move led_red to a free pin: 2-4, 7-12, 16-18, 23-25",
        "severity": "error",
    }


def test_files_flag_warns_without_failing() -> None:
    code, output = run("--files", str(FIXTURES / "valid" / "node.toml"))
    assert code == 0, output
    assert "warning: paths.policy:" in output


def test_profiles_folder_option(tmp_path: Path) -> None:
    code, output = run("--profiles", str(tmp_path), str(EXAMPLES / "node-pi4-pn532.toml"))
    assert code == 1
    assert "no firmware profile 'pi4-pn532-waveshare-relay'" in output
    assert "available: none" in output


def _signer(tmp_path: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, path


BAD_DOCUMENT = b'{"version": 0, "zones": {}}'


@pytest.fixture
def engine() -> Any:
    return policy_engine


def test_policy_payload_is_checked_by_the_engine(engine: Any, tmp_path: Path) -> None:
    payload = tmp_path / "policy.json"
    payload.write_bytes(BAD_DOCUMENT)
    code, output = run(str(payload))
    assert code == 1, output
    assert "(policy document)" in output
    assert "policy document is invalid" in output


def test_signed_policy_signature_and_content(engine: Any, tmp_path: Path) -> None:
    key, cert = _signer(tmp_path, "policy-signer")
    _other, wrong = _signer(tmp_path, "someone-else")
    signed = tmp_path / "policy.cose"
    signed.write_bytes(engine.sign_document(BAD_DOCUMENT, key))

    code, output = run(str(signed))  # no signer: content only, and a warning
    assert code == 1
    assert "warning: signature not verified" in output
    assert "policy document is invalid" in output

    code, output = run("--policy-signer", str(wrong), str(signed))
    assert code == 1
    assert "does not verify" in output

    code, output = run("--policy-signer", str(cert), str(signed))
    assert code == 1  # the signature holds; the content still fails
    assert "policy document is invalid" in output
    assert "does not verify" not in output


def test_policy_signer_must_be_a_certificate(engine: Any, tmp_path: Path) -> None:
    signed = tmp_path / "policy.cose"
    signed.write_bytes(b"\xa0")
    junk = tmp_path / "signer.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    code, output = run("--policy-signer", str(junk), str(signed))
    assert code == 1
    assert f"{junk}: error: cannot use it as the policy signer" in output


def test_signed_policy_that_is_not_cose(engine: Any, tmp_path: Path) -> None:
    signed = tmp_path / "policy.cbor"
    signed.write_bytes(b"\xa0")
    code, output = run(str(signed))
    assert code == 1
    assert "not a signed policy document (COSE_Sign1)" in output


def test_unknown_and_absent_files(tmp_path: Path) -> None:
    other = tmp_path / "notes.toml"
    other.write_text('title = "x"\n', encoding="utf-8")
    code, output = run(str(other), str(tmp_path / "absent.toml"))
    assert code == 1
    assert "cannot tell what this file is" in output
    assert "no such file" in output


def test_needs_a_file() -> None:
    code, _output = run()
    assert code == 2


def test_doubtful_policy_content_is_warned_about_but_passes(tmp_path: Path) -> None:
    from tests.node.policy.site import SITE

    doc = json.loads(json.dumps(SITE))
    doc["zones"]["b6-attic"] = {"building": "b6"}  # valid, but no door leads into it
    payload = tmp_path / "policy.json"
    payload.write_text(json.dumps(doc), encoding="utf-8")
    code, output = run(str(payload))
    assert code == 0, output
    assert "warning: zones.b6-attic: no door leads into it" in output
