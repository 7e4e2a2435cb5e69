"""``gateway credential``: verify a saved presentation offline, as a gate would."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import saved
from gateway.credentials.status_list import KeyResolver, StatusCache, StatusListError
from gateway.credentials.status_signer import status_signer_key
from gateway.credentials.trust import TrustStore, UntrustedIssuer
from gateway.credentials.verifier import VerifierOptions, verify

EXIT_DENIED = 1


def _load_certificates(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise click.BadParameter(f"{path}: not a PEM or DER certificate ({exc})") from exc


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@click.group()
def credential() -> None:
    """Work with presented credentials offline."""


@credential.command("verify")
@click.argument("presentation", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--anchors",
    "anchor_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="IACA root certificates (PEM bundle or DER). Repeat for several issuers.",
)
@click.option(
    "--status-token",
    "token_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Status List Token (CWT bytes) to check status against. Repeatable.",
)
@click.option(
    "--status-signer",
    "signer_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Certificate of the status-list signer; it must chain to one of --anchors.",
)
@click.option(
    "--now", "now_text", help="Verify as of this ISO 8601 time (default: capture time, else now)."
)
@click.option("--reader-id", help="For a card: the reader the challenge must name.")
def verify_command(
    presentation: Path,
    anchor_files: tuple[Path, ...],
    token_files: tuple[Path, ...],
    signer_file: Path | None,
    now_text: str | None,
    reader_id: str | None,
) -> None:
    """Verify a saved PRESENTATION and print the decision as JSON.

    Exit status: 0 granted, 1 denied, 2 bad input. The file format is in
    docs/credential-verify.md.
    """
    try:
        loaded = saved.load(presentation)
    except saved.SavedPresentationError as exc:
        raise click.UsageError(str(exc)) from exc
    now = _parse_time(now_text) or loaded.captured_at or dt.datetime.now(dt.UTC)
    trust = TrustStore([cert for path in anchor_files for cert in _load_certificates(path)])
    status = StatusCache(_status_keys(trust, signer_file, now))
    for path in token_files:
        try:
            status.apply(path.read_bytes(), int(now.timestamp()))
        except StatusListError as exc:
            raise click.UsageError(f"{path}: {exc}") from exc
    card_reader = reader_id or (loaded.reader_id if isinstance(loaded, saved.SavedCard) else None)
    try:
        subject = loaded.presentation()
    except ValueError as exc:
        raise click.UsageError(f"{presentation}: {exc}") from exc
    decision = verify(
        subject,
        trust=trust,
        status=status,
        now=now,
        options=VerifierOptions(reader_id=card_reader or ""),
    )
    result = {"verified_at": now.isoformat(), **decision.to_json()}
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    if not decision.granted:
        sys.exit(EXIT_DENIED)


def _status_keys(trust: TrustStore, signer_file: Path | None, now: dt.datetime) -> KeyResolver:
    """The status-list signer's key, for any list URI, once its certificate chains to an anchor."""
    if signer_file is None:
        return {}
    try:
        key = status_signer_key(trust.anchors, _load_certificates(signer_file), now)
    except UntrustedIssuer as exc:
        raise click.UsageError(f"{signer_file}: {exc}") from exc

    def resolve(uri: str) -> ec.EllipticCurvePublicKey:
        return key

    return resolve
