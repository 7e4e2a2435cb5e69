"""`gateway authority` commands for holders and credentials: enroll, issue, reissue, lost,
suspend, resume and retire (rules 60-61)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import click

from gateway.central.authority.issuance import IssuedCredential
from gateway.central.authority.records import CredentialRecord
from gateway.central.authority.service import Authority
from gateway.cli.authority_options import (
    KINDS,
    change_options,
    db_argument,
    emit_json,
    kst,
    out_option,
    publish_hint,
    read_key,
    say,
    valid_days_option,
    where,
    write,
)


@click.command("enroll")
@db_argument
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--encoding", help="Text encoding of FILE (default: UTF-8, else CP949).")
@change_options(reason="optional")
def enroll(
    db: Path,
    file: Path,
    encoding: str | None,
    now: dt.datetime,
    actor: str,
    reason: str,
    as_json: bool,
) -> None:
    """Enroll civil servants from an HR export FILE (CSV or JSON).

    People already enrolled whose organization or position changed are
    recorded as a transfer or promotion; their credentials to reissue are
    listed.
    """
    with Authority.open(db) as auth:
        report = auth.enroll_file(file, now=now, actor=actor, reason=reason, encoding=encoding)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(
        f"{file}: {len(report.enrolled)} enrolled, {len(report.changed)} changed, "
        f"{len(report.unchanged)} unchanged, {len(report.ignored)} ignored"
    )
    for change in report.changed:
        moves = ", ".join(
            f"{name} {change.before[name]} → {change.after[name]}" for name in change.before
        )
        click.echo(f"  {change.holder_id} {change.action.value} (line {change.line}): {moves}")
        for serial in change.to_reissue:
            click.echo(f"    reissue {serial}: it prints the old data")
    for holder_id, why in report.ignored:
        click.echo(f"  {holder_id} ignored: {why}")


# --- Issuing ---------------------------------------------------------------------------


def _issued(auth: Authority, issued: IssuedCredential, out: str, as_json: bool) -> None:
    write(out, issued.document)
    if as_json:
        emit_json(issued.to_json())
        return
    c = issued.credential
    text = (
        f"issued {c.serial} ({c.kind}) to {c.holder_id}, status index {c.status_index}, "
        f"valid until {kst(c.valid_until)} KST; wrote {where(out)}"
    )
    if issued.superseded is not None:
        text += f"\n{issued.superseded.serial} is now INVALID (superseded)"
    if issued.cut_to_signer:
        text += "\nvalidity cut to the document signer's expiry: run `rotate-signer` soon"
    say(out, text + publish_hint(auth))


def _issue_command(kind: str, help_text: str) -> click.Command:
    mobile = kind == "mobile"
    what = "the phone's device key" if mobile else "the chip's card key"

    @click.command(f"issue-{kind}", help=help_text)
    @db_argument
    @click.argument("holder")
    @click.option(
        "--device-key" if mobile else "--card-key",
        "key_path",
        required=True,
        metavar="FILE",
        help=f"Public key file of {what}: PEM, DER, JWK or COSE_Key ('-' for stdin).",
    )
    @out_option("Where to write the " + ("IssuerSigned CBOR" if mobile else "card object"))
    @valid_days_option
    @change_options(reason="optional")
    def command(
        db: Path,
        holder: str,
        key_path: str,
        out: str,
        valid_days: int | None,
        now: dt.datetime,
        actor: str,
        reason: str,
        as_json: bool,
    ) -> None:
        key = read_key(key_path)
        with Authority.open(db) as auth:
            issue = auth.issue_mobile if mobile else auth.issue_card
            issued = issue(holder, key, now=now, actor=actor, reason=reason, valid_days=valid_days)
            _issued(auth, issued, out, as_json)

    return command


issue_mobile = _issue_command(
    "mobile",
    "Issue a mobile ID to HOLDER, bound to one phone's device key.\n\n"
    "One phone per person: the holder's previous mobile ID becomes INVALID.",
)
issue_card = _issue_command(
    "card",
    "Issue a chip card object to HOLDER, bound to the chip's key.\n\n"
    "The holder's previous card becomes INVALID.",
)


@click.command("reissue")
@db_argument
@click.argument("target")
@click.option("--kind", type=KINDS, help="Which credential, when TARGET is a holder with both.")
@click.option(
    "--key",
    "key_path",
    metavar="FILE",
    help="Public key of the new phone or chip (default: the old one's key).",
)
@out_option("Where to write the new credential")
@valid_days_option
@change_options(reason="required")
def reissue(
    db: Path,
    target: str,
    kind: str | None,
    key_path: str | None,
    out: str,
    valid_days: int | None,
    now: dt.datetime,
    actor: str,
    reason: str,
    as_json: bool,
) -> None:
    """Reissue TARGET (a serial, or a holder id) with the holder's current data.

    For promotion, transfer or damage (rule 60 ⑤–⑦): the old credential
    becomes INVALID. A lost credential needs --key of the new device.
    """
    key = None if key_path is None else read_key(key_path)
    with Authority.open(db) as auth:
        old = auth.find_credential(target, kind)
        issued = auth.reissue(
            old.serial, now=now, actor=actor, reason=reason, key=key, valid_days=valid_days
        )
        _issued(auth, issued, out, as_json)


# --- Revoking and suspending ----------------------------------------------------------------


def _changed(auth: Authority, verb: str, changed: list[CredentialRecord], as_json: bool) -> None:
    if as_json:
        emit_json({"changed": [c.to_json() for c in changed]})
        return
    if not changed:
        click.echo(f"{verb}; no credential affected")
    for c in changed:
        click.echo(f"{verb}: {c.serial} ({c.kind}) is now {c.status.value.upper()}")
    hint = publish_hint(auth)
    if hint:
        click.echo(hint.strip())


@click.command("lost")
@db_argument
@click.argument("target")
@click.option("--kind", type=KINDS, help="Which credential, when TARGET is a holder with both.")
@change_options(reason="required")
def lost(
    db: Path,
    target: str,
    kind: str | None,
    now: dt.datetime,
    actor: str,
    reason: str,
    as_json: bool,
) -> None:
    """Report TARGET (a serial, or a holder id) lost: INVALID at once (rule 60 ③④)."""
    with Authority.open(db) as auth:
        credential = auth.find_credential(target, kind)
        changed = auth.report_lost(credential.serial, now=now, actor=actor, reason=reason)
        _changed(auth, "lost", [changed], as_json)


def _holder_command(
    verb: str, action: Callable[..., list[CredentialRecord]], doc: str
) -> click.Command:
    """``action`` is the Authority method, e.g. ``Authority.suspend``."""

    @click.command(verb, help=doc)
    @db_argument
    @click.argument("holder")
    @change_options(reason="required")
    def command(
        db: Path, holder: str, now: dt.datetime, actor: str, reason: str, as_json: bool
    ) -> None:
        with Authority.open(db) as auth:
            changed = action(auth, holder, now=now, actor=actor, reason=reason)
            _changed(auth, f"{holder} {verb.removesuffix('e')}ed", changed, as_json)

    return command


suspend = _holder_command(
    "suspend", Authority.suspend, "Suspend HOLDER for leave (rule 61 ②): credentials SUSPENDED."
)
resume = _holder_command(
    "resume", Authority.resume, "Resume HOLDER after leave: SUSPENDED credentials VALID again."
)
retire = _holder_command(
    "retire",
    Authority.retire,
    "Retire HOLDER (rule 61 ①): every credential INVALID, no issuing ever again.",
)
