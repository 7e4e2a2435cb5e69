"""`gateway check FILE…`: validate node configs, firmware profiles and policy documents.

The kind of each file is told from its content: a node config names a
``profile`` and has [node]; a firmware profile has [board] and [reader]; a
policy document is a signed COSE_Sign1 file (``.cose``/``.cbor``) or its JSON
payload (a JSON object with ``zones``). Exits 1 when any file has an error;
warnings and notes do not fail the check.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import load_node_config, load_profile_file, missing_files, read_toml
from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode
from gateway.node.policy import PolicyError, load_signed, parse_document, policy_warnings

Kind = Literal["node config", "firmware profile", "policy document", "unknown"]
_SIGNED_SUFFIXES = frozenset({".cose", ".cbor"})
_POLICY_KEYS = frozenset({"zones", "doors", "posture_defaults"})


def detect_kind(path: Path) -> Kind:
    suffix = path.suffix.lower()
    if suffix in _SIGNED_SUFFIXES:
        return "policy document"
    if suffix == ".json":
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return "unknown"
        return (
            "policy document" if isinstance(data, dict) and _POLICY_KEYS & set(data) else "unknown"
        )
    if suffix != ".toml":
        return "unknown"
    try:
        keys = set(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "node config"  # the loader reports where the TOML breaks
    if {"profile", "node"} & keys:
        return "node config"
    if {"board", "reader"} & keys:
        return "firmware profile"
    return "unknown"


def check_file(
    path: Path, profiles: Path | None = None, files: bool = False, signer: Path | None = None
) -> tuple[Kind, list[Finding]]:
    """The kind of ``path`` and what is wrong with it (empty: nothing)."""
    if not path.is_file():
        return "unknown", [Finding(path, None, "", "no such file", "check the path")]
    kind = detect_kind(path)
    try:
        if kind == "firmware profile":
            load_profile_file(path)
        elif kind == "node config":
            node = load_node_config(path, profiles)
            return kind, missing_files(node) if files else []
        elif kind == "policy document":
            return kind, check_policy(path, signer)
        else:
            if path.suffix.lower() == ".toml":
                read_toml(path)
            hint = (
                "a node config has 'profile = ...' and [node]; a firmware profile has [board] "
                "and [reader]; a policy document is a .cose/.cbor file or JSON with 'zones'"
            )
            return kind, [Finding(path, None, "", "cannot tell what this file is", hint)]
    except ConfigError as exc:
        return kind, list(exc.findings)
    return kind, []


def _signer_key(path: Path) -> ec.EllipticCurvePublicKey:
    data = path.read_bytes()
    try:
        key: object = x509.load_pem_x509_certificate(data).public_key()
    except ValueError:
        key = load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the policy signer must hold an EC (P-256) key")
    return key


def check_policy(path: Path, signer: Path | None) -> list[Finding]:
    data = path.read_bytes()
    signed = path.suffix.lower() in _SIGNED_SUFFIXES
    key: ec.EllipticCurvePublicKey | None = None
    if signed and signer is not None:
        try:
            key = _signer_key(signer)
        except (OSError, ValueError) as exc:
            message = f"cannot use it as the policy signer: {exc}"
            return [Finding(signer, None, "", message, "give a PEM certificate or public key")]
    out: list[Finding] = []
    try:
        if not signed:
            document = parse_document(data)
            note = "an unsigned payload: the node loads only the signed file"
            out.append(Finding(path, None, "", note, severity="note"))
        elif key is not None:
            document = load_signed(data, key).document
        else:
            hint = "pass --policy-signer CERT (the policy signer's PEM certificate)"
            out.append(Finding(path, None, "", "signature not verified", hint, "warning"))
            document = parse_document(cose.parse_sign1(decode(data)).payload or b"")
    except PolicyError as exc:
        return [*out, Finding(path, None, "", str(exc))]
    except (CborError, cose.CoseError) as exc:
        message = f"not a signed policy document (COSE_Sign1): {exc}"
        return [*out, Finding(path, None, "", message)]
    # Valid but doubtful content (a duty day with no holiday data, expired grants …).
    out.extend(Finding(path, None, "", w, severity="warning") for w in policy_warnings(document))
    return out


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--profiles",
    "profiles",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of firmware profiles (default: $GATEWAY_FIRMWARE_PROFILES or firmware_profiles/).",
)
@click.option(
    "--policy-signer",
    "signer",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM certificate of the policy signer, to verify signed policy documents.",
)
@click.option(
    "--files",
    "files_exist",
    is_flag=True,
    help="Also warn when a node config's [paths] are missing on this machine.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check(
    files: tuple[Path, ...],
    profiles: Path | None,
    signer: Path | None,
    files_exist: bool,
    as_json: bool,
) -> None:
    """Validate node configs, firmware profiles and policy documents."""
    results: list[dict[str, Any]] = []
    for path in files:
        kind, findings = check_file(path, profiles, files_exist, signer)
        ok = not any(f.severity == "error" for f in findings)
        results.append(
            {"file": str(path), "kind": kind, "ok": ok, "findings": [f.as_json() for f in findings]}
        )
        if not as_json:
            click.echo(f"{'ok  ' if ok else 'FAIL'} {path} ({kind})")
            for finding in findings:
                click.echo(f"  {finding}".replace("\n", "\n  "))
    failed = not all(r["ok"] for r in results)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "files": results}, ensure_ascii=False, indent=2))
    else:
        bad = sum(not r["ok"] for r in results)
        click.echo(f"{len(results)} file(s) checked, {bad} with errors")
    if failed:
        raise SystemExit(1)
