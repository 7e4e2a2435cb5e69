"""`gateway authority` commands for what the authority itself signs with: init (its IACA
and first signers), rotate-signer and publish (a Status List Token)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from gateway.central.authority.context import AuthoritySettings
from gateway.central.authority.service import Authority
from gateway.cli.authority_options import (
    change_options,
    db_argument,
    emit_json,
    kst,
    out_option,
    say,
    where,
    write,
)


@click.command("init")
@db_argument
@click.option("--name", required=True, help="Issuer as printed on the card, e.g. 인사혁신처장.")
@click.option("--organization", required=True, help="Organization in the certificates.")
@click.option("--status-uri", help="URI of the status list (default: derived from the IACA).")
@click.option("--credential-days", type=click.IntRange(1), default=365, show_default=True)
@click.option(
    "--ttl",
    type=click.IntRange(1),
    default=300,
    show_default=True,
    help="Seconds a gate may rely on a published status list.",
)
@click.option(
    "--capacity",
    type=click.IntRange(1),
    default=1 << 20,
    show_default=True,
    help="Status-list entries; indices are never reused.",
)
@change_options(reason=None)
def init(
    db: Path,
    name: str,
    organization: str,
    status_uri: str | None,
    credential_days: int,
    ttl: int,
    capacity: int,
    now: dt.datetime,
    actor: str,
    as_json: bool,
) -> None:
    """Create DB with a new IACA, Document Signer and status-list signer.

    The keys are stored in DB unencrypted (mode 0600): fine for a demo or an
    offline laptop, not for production, where they belong in an HSM.
    """
    settings = AuthoritySettings(
        credential_days=credential_days, status_ttl=ttl, status_capacity=capacity
    )
    with Authority.create(
        db,
        name=name,
        organization=organization,
        now=now,
        actor=actor,
        status_uri=status_uri,
        settings=settings,
    ) as created:
        info = {
            "db": str(db),
            "name": created.name,
            "status_uri": created.status_uri,
            "signers": [s.to_json() for s in created.signers()],
        }
    if as_json:
        emit_json(info)
    else:
        click.echo(f"created authority {name} in {db}\nstatus list: {info['status_uri']}")


@click.command("rotate-signer")
@db_argument
@click.option("--days", type=click.IntRange(1), help="Validity of the new DS (default: DB's).")
@change_options(reason="optional")
def rotate_signer(
    db: Path, days: int | None, now: dt.datetime, actor: str, reason: str, as_json: bool
) -> None:
    """Start a new Document Signer; credentials signed by the old one keep verifying."""
    with Authority.open(db) as auth:
        signer = auth.rotate_document_signer(now, actor=actor, reason=reason, validity_days=days)
    if as_json:
        emit_json(signer.to_json())
    else:
        click.echo(f"new document signer {signer.subject}, valid until {kst(signer.not_after)} KST")


@click.command("publish")
@db_argument
@out_option("Where to write the Status List Token")
@click.option("--ttl", type=click.IntRange(1), help="Seconds gates may rely on it (default: DB's).")
@change_options(reason=None)
def publish(
    db: Path, out: str, ttl: int | None, now: dt.datetime, actor: str, as_json: bool
) -> None:
    """Sign a new Status List Token with every current status, and store it."""
    with Authority.open(db) as auth:
        token = auth.publish_status_list(now, actor=actor, ttl=ttl)
        latest = auth.status_list_tokens()[-1]
        uri = auth.status_uri
    write(out, token)
    info = {
        "version": latest.version,
        "uri": uri,
        "iat": latest.issued_at,
        "exp": latest.expires_at,
        "ttl": latest.ttl,
        "bytes": len(token),
    }
    if as_json:
        if out == "-":  # the token has stdout: the JSON goes apart, on one line
            click.echo(json.dumps(info), err=True)
        else:
            emit_json(info)
        return
    say(
        out,
        f"published status list version {info['version']} (iat {info['iat']}, "
        f"ttl {info['ttl']} s, {len(token)} bytes) to {where(out)}",
    )
