"""The files a node config names in ``[paths]``, loaded and checked before the node starts.

Every problem is a :class:`~gateway.config.findings.Finding` naming the config
file, the line and the ``paths.*`` key whose file is wrong, so an installer
sees which setting to fix; :class:`~gateway.config.findings.ConfigError`
carries it to the command, which exits 2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import LoadedNode, read_toml
from gateway.credentials.status_list import StatusCache, StatusListError
from gateway.credentials.status_signer import status_signer_key
from gateway.credentials.trust import TrustStore, UntrustedIssuer
from gateway.node.policy import (
    CompiledPolicy,
    LoadedPolicy,
    PolicyError,
    compile_policy,
    load_signed_file,
)

CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})


def path_error(node: LoadedNode, key: str, message: str, hint: str = "") -> ConfigError:
    """A finding against ``paths.<key>`` of the node config, on its line."""
    line, _exact = read_toml(node.path).lines.line_for(("paths", key))
    return ConfigError([Finding(node.path, line, f"paths.{key}", message, hint)])


def read_certificates(path: Path) -> list[x509.Certificate]:
    """A PEM bundle, a DER file, or a folder of them (``.pem``, ``.crt``, ``.cer``, ``.der``)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in CERT_SUFFIXES)
        if not files:
            raise ValueError(
                f"{path} holds no certificate files ({', '.join(sorted(CERT_SUFFIXES))})"
            )
        return [cert for file in files for cert in read_certificates(file)]
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _certificates(node: LoadedNode, key: str) -> list[x509.Certificate]:
    path = node.files[key]
    try:
        return read_certificates(path)
    except OSError as exc:
        raise path_error(
            node, key, f"cannot read {path}: {exc.strerror or exc}", "install the file"
        ) from exc
    except ValueError as exc:
        raise path_error(
            node, key, f"{path} is not a PEM or DER certificate: {exc}", "give a certificate"
        ) from exc


def trust_store(node: LoadedNode) -> TrustStore:
    anchors = _certificates(node, "trust_anchors")
    try:
        return TrustStore(anchors)
    except ValueError as exc:
        raise path_error(
            node, "trust_anchors", str(exc), "anchors are the issuers' IACA root certificates"
        ) from exc


def status_cache(
    node: LoadedNode, anchors: Iterable[x509.Certificate], now: dt.datetime
) -> StatusCache:
    """A status cache that believes the configured signer, once it chains to an anchor."""
    chain = _certificates(node, "status_list_signer_cert")
    try:
        key = status_signer_key(anchors, chain, now)
    except UntrustedIssuer as exc:
        raise path_error(
            node,
            "status_list_signer_cert",
            f"the status-list signer is not trusted: {exc}",
            "give the signer certificate issued by one of the trust anchors",
        ) from exc

    def resolve(uri: str) -> ec.EllipticCurvePublicKey:
        return key  # one signer answers for every list URI of this site

    return StatusCache(resolve)


def apply_status_tokens(cache: StatusCache, tokens: Iterable[Path], now: dt.datetime) -> None:
    for path in tokens:
        try:
            cache.apply(path.read_bytes(), int(now.timestamp()))
        except OSError as exc:
            raise ConfigError(
                [Finding(path, None, "", f"cannot read: {exc.strerror or exc}")]
            ) from exc
        except StatusListError as exc:
            hint = "give a Status List Token signed by the configured status-list signer"
            raise ConfigError([Finding(path, None, "", str(exc), hint)]) from exc


def policy_key(node: LoadedNode) -> ec.EllipticCurvePublicKey:
    path = node.files["policy_signer_cert"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise path_error(
            node, "policy_signer_cert", f"cannot read {path}: {exc.strerror or exc}"
        ) from exc
    key: object
    try:
        key = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"CERTIFICATE" in data
            else load_pem_public_key(data)
        )
    except ValueError as exc:
        raise path_error(
            node, "policy_signer_cert", f"{path} is not a PEM certificate or public key: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise path_error(node, "policy_signer_cert", "the policy signer must hold an EC P-256 key")
    return key


def site_policy(node: LoadedNode) -> tuple[LoadedPolicy, CompiledPolicy]:
    key = policy_key(node)
    path = node.files["policy"]
    try:
        loaded = load_signed_file(path, key)
    except OSError as exc:
        raise path_error(node, "policy", f"cannot read {path}: {exc.strerror or exc}") from exc
    except PolicyError as exc:
        raise path_error(
            node, "policy", str(exc), "check it with: gateway check FILE --policy-signer CERT"
        ) from exc
    compiled = compile_policy(loaded.document, slim=True)
    return LoadedPolicy(compiled.document, loaded.installed), compiled
