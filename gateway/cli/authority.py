"""`gateway authority`: the issuing authority's admin commands.

State lives in one SQLite file (the DB argument). Every command that changes
something records ``--actor`` (default: your login name) and, for lifecycle
steps, a required ``--reason`` in the audit log. ``--now`` fixes the time for
reproducible runs; otherwise the real time is used. Errors are one line on
stderr and exit status 1.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.central.authority.context import KST, AuthorityError, AuthoritySettings
from gateway.central.authority.hr_import import HrImportError
from gateway.central.authority.issuance import IssuedCredential
from gateway.central.authority.keys import KeyFormatError
from gateway.central.authority.records import CredentialRecord
from gateway.central.authority.service import Authority

F = TypeVar("F", bound=Callable[..., Any])
KINDS = click.Choice(["mobile", "card"])


class _AuthorityGroup(click.Group):
    """Turns the errors an operator can cause into one clear line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HrImportError as exc:
            count = len(exc.issues)
            raise click.ClickException(
                f"{count} problem{'s' if count > 1 else ''} in the HR export; nothing was "
                f"enrolled:\n  " + "\n  ".join(str(exc).splitlines())
            ) from exc
        except (AuthorityError, KeyFormatError) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            raise click.ClickException(f"{exc.filename or 'file'}: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            raise click.ClickException(f"database error: {exc}") from exc


def _parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-02T08:50:00+09:00")
    return moment


def _parse_time(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.datetime | None:
    return None if value is None else _parse_now(ctx, param, value)


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _db(func: F) -> F:
    return click.argument("db", type=click.Path(dir_okay=False, path_type=Path))(func)


def _now(func: F) -> F:
    return click.option(
        "--now",
        callback=_parse_now,
        metavar="TIME",
        help="Act as of this ISO 8601 time with zone (default: now).",
    )(func)


def _actor(func: F) -> F:
    return click.option(
        "--actor",
        default=_default_actor,
        show_default="your login name",
        help="Who does this, for the audit log.",
    )(func)


def _reason(required: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        extra: dict[str, Any] = {"required": True} if required else {"default": ""}
        return click.option(
            "--reason",
            **extra,
            help="Why, for the audit log (rule 62 ③ checks)." + (" Required." if required else ""),
        )(func)

    return decorate


def _json(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def _out(help_text: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "--out", "-o", required=True, metavar="FILE", help=f"{help_text} ('-' for stdout)."
        )(func)

    return decorate


def _write(out: str, data: bytes) -> None:
    if out == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(out).write_bytes(data)


def _say(out: str, message: str) -> None:
    """A human summary; on stderr when the data itself goes to stdout."""
    click.echo(message, err=out == "-")


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _kst(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def _read_key(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _publish_hint(authority: Authority) -> str:
    if authority.latest_status_list_token() is None:
        return "\nno status list published yet: gates answer unknown_status until `publish`"
    if authority.pending_status_changes:
        return "\nstatus changed: run `gateway authority publish` so gates learn of it"
    return ""


@click.group(cls=_AuthorityGroup)
def authority() -> None:
    """The issuing authority: enroll, issue, revoke and publish credentials.

    One DB file is one authority (one IACA root). Changes reach the gates
    through the next published Status List Token (`publish`).
    """


@authority.command()
@_db
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
@_now
@_actor
@_json
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
        _emit_json(info)
    else:
        click.echo(f"created authority {name} in {db}\nstatus list: {info['status_uri']}")


@authority.command()
@_db
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--encoding", help="Text encoding of FILE (default: UTF-8, else CP949).")
@_now
@_actor
@_reason(required=False)
@_json
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
        _emit_json(report.to_json())
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


def _issued(auth: Authority, issued: IssuedCredential, out: str, as_json: bool) -> None:
    _write(out, issued.document)
    if as_json:
        _emit_json(issued.to_json())
        return
    c = issued.credential
    text = (
        f"issued {c.serial} ({c.kind}) to {c.holder_id}, status index {c.status_index}, "
        f"valid until {_kst(c.valid_until)} KST; wrote {'stdout' if out == '-' else out}"
    )
    if issued.superseded is not None:
        text += f"\n{issued.superseded.serial} is now INVALID (superseded)"
    if issued.cut_to_signer:
        text += "\nvalidity cut to the document signer's expiry: run `rotate-signer` soon"
    _say(out, text + _publish_hint(auth))


def _issue_command(kind: str) -> Callable[..., None]:
    option = "--device-key" if kind == "mobile" else "--card-key"
    what = "the phone's device key" if kind == "mobile" else "the chip's card key"

    @_db
    @click.argument("holder")
    @click.option(
        option,
        "key_path",
        required=True,
        metavar="FILE",
        help=f"Public key file of {what}: PEM, DER, JWK or COSE_Key ('-' for stdin).",
    )
    @_out("Where to write the " + ("IssuerSigned CBOR" if kind == "mobile" else "card object"))
    @click.option("--valid-days", type=click.IntRange(1), help="Validity (default: the DB's).")
    @_now
    @_actor
    @_reason(required=False)
    @_json
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
        key = _read_key(key_path)
        with Authority.open(db) as auth:
            issue = auth.issue_mobile if kind == "mobile" else auth.issue_card
            issued = issue(holder, key, now=now, actor=actor, reason=reason, valid_days=valid_days)
            _issued(auth, issued, out, as_json)

    return command


authority.command(
    "issue-mobile",
    help="Issue a mobile ID to HOLDER, bound to one phone's device key.\n\n"
    "One phone per person: the holder's previous mobile ID becomes INVALID.",
)(_issue_command("mobile"))
authority.command(
    "issue-card",
    help="Issue a chip card object to HOLDER, bound to the chip's key.\n\n"
    "The holder's previous card becomes INVALID.",
)(_issue_command("card"))


@authority.command()
@_db
@click.argument("target")
@click.option("--kind", type=KINDS, help="Which credential, when TARGET is a holder with both.")
@click.option(
    "--key",
    "key_path",
    metavar="FILE",
    help="Public key of the new phone or chip (default: the old one's key).",
)
@_out("Where to write the new credential")
@click.option("--valid-days", type=click.IntRange(1), help="Validity (default: the DB's).")
@_now
@_actor
@_reason(required=True)
@_json
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
    key = None if key_path is None else _read_key(key_path)
    with Authority.open(db) as auth:
        old = auth.find_credential(target, kind)
        issued = auth.reissue(
            old.serial, now=now, actor=actor, reason=reason, key=key, valid_days=valid_days
        )
        _issued(auth, issued, out, as_json)


def _changed(auth: Authority, verb: str, changed: list[CredentialRecord], as_json: bool) -> None:
    if as_json:
        _emit_json({"changed": [c.to_json() for c in changed]})
        return
    if not changed:
        click.echo(f"{verb}; no credential affected")
    for c in changed:
        click.echo(f"{verb}: {c.serial} ({c.kind}) is now {c.status.value.upper()}")
    hint = _publish_hint(auth)
    if hint:
        click.echo(hint.strip())


@authority.command()
@_db
@click.argument("target")
@click.option("--kind", type=KINDS, help="Which credential, when TARGET is a holder with both.")
@_now
@_actor
@_reason(required=True)
@_json
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


def _holder_command(verb: str, doc: str) -> Callable[..., None]:
    @_db
    @click.argument("holder")
    @_now
    @_actor
    @_reason(required=True)
    @_json
    def command(
        db: Path, holder: str, now: dt.datetime, actor: str, reason: str, as_json: bool
    ) -> None:
        with Authority.open(db) as auth:
            action = {"suspend": auth.suspend, "resume": auth.resume, "retire": auth.retire}[verb]
            changed = action(holder, now=now, actor=actor, reason=reason)
            _changed(auth, f"{holder} {verb.removesuffix('e')}ed", changed, as_json)

    command.__doc__ = doc
    return command


authority.command("suspend")(
    _holder_command("suspend", "Suspend HOLDER for leave (rule 61 ②): credentials SUSPENDED.")
)
authority.command("resume")(
    _holder_command("resume", "Resume HOLDER after leave: SUSPENDED credentials VALID again.")
)
authority.command("retire")(
    _holder_command(
        "retire", "Retire HOLDER (rule 61 ①): every credential INVALID, no issuing ever again."
    )
)


@authority.command()
@_db
@_out("Where to write the Status List Token")
@click.option("--ttl", type=click.IntRange(1), help="Seconds gates may rely on it (default: DB's).")
@_now
@_actor
@_json
def publish(
    db: Path, out: str, ttl: int | None, now: dt.datetime, actor: str, as_json: bool
) -> None:
    """Sign a new Status List Token with every current status, and store it."""
    with Authority.open(db) as auth:
        token = auth.publish_status_list(now, actor=actor, ttl=ttl)
        latest = auth.status_list_tokens()[-1]
        uri = auth.status_uri
    _write(out, token)
    info = {
        "version": latest.version,
        "uri": uri,
        "iat": latest.issued_at,
        "exp": latest.expires_at,
        "ttl": latest.ttl,
        "bytes": len(token),
    }
    if as_json:
        (click.echo(json.dumps(info), err=True) if out == "-" else _emit_json(info))
        return
    _say(
        out,
        f"published status list version {info['version']} (iat {info['iat']}, "
        f"ttl {info['ttl']} s, {len(token)} bytes) to {'stdout' if out == '-' else out}",
    )


@authority.command("status-token")
@_db
@_out("Where to write the latest published token")
def status_token(db: Path, out: str) -> None:
    """Write the latest published Status List Token, without publishing a new one."""
    with Authority.open(db) as auth:
        token = auth.latest_status_list_token()
    if token is None:
        raise click.ClickException("no status list published yet; run `publish` first")
    _write(out, token)


@authority.command("rotate-signer")
@_db
@click.option("--days", type=click.IntRange(1), help="Validity of the new DS (default: DB's).")
@_now
@_actor
@_reason(required=False)
@_json
def rotate_signer(
    db: Path, days: int | None, now: dt.datetime, actor: str, reason: str, as_json: bool
) -> None:
    """Start a new Document Signer; credentials signed by the old one keep verifying."""
    with Authority.open(db) as auth:
        signer = auth.rotate_document_signer(now, actor=actor, reason=reason, validity_days=days)
    if as_json:
        _emit_json(signer.to_json())
    else:
        click.echo(
            f"new document signer {signer.subject}, valid until {_kst(signer.not_after)} KST"
        )


@authority.command("export-anchors")
@_db
@_out("Where to write the IACA certificate (PEM) for gates' trust stores")
@click.option(
    "--status-signer",
    "status_out",
    metavar="FILE",
    help="Also write the status-list signer's certificate (PEM) here.",
)
def export_anchors(db: Path, out: str, status_out: str | None) -> None:
    """Export the trust anchor (IACA certificate) that gates must hold."""
    with Authority.open(db) as auth:
        anchor, status_pem = auth.trust_anchor_pem(), auth.status_signer_pem()
    _write(out, anchor)
    if status_out is not None:
        _write(status_out, status_pem)


@authority.command("list")
@_db
@_json
def list_(db: Path, as_json: bool) -> None:
    """Show the authority, its holders and their credentials."""
    with Authority.open(db) as auth:
        holders = auth.holders()
        credentials = auth.credentials()
        stale = {c.serial for c in auth.stale_credentials()}
        signers = auth.signers()
        pending = auth.pending_status_changes
        head = {"name": auth.name, "organization": auth.organization, "status_uri": auth.status_uri}
    if as_json:
        _emit_json(
            {
                **head,
                "pending_status_changes": pending,
                "signers": [s.to_json() for s in signers],
                "holders": [h.to_json() for h in holders],
                "credentials": [
                    {**c.to_json(), "needs_reissue": c.serial in stale} for c in credentials
                ],
            }
        )
        return
    console = Console(highlight=False)
    ds = next(s for s in signers if s.role == "document" and s.active)
    console.print(
        f"[bold]{escape(head['name'])}[/] ({escape(head['organization'])})  "
        f"status list {escape(head['status_uri'])}"
    )
    console.print(
        f"document signer {escape(ds.subject)} valid until {_kst(ds.not_after)} KST"
        + ("  [yellow]unpublished status changes: run publish[/]" if pending else "")
    )
    table = Table("holder", "name", "organization", "code", "position", "state", "mobile", "card")
    live: dict[tuple[str, str], CredentialRecord] = {
        (c.holder_id, c.kind): c for c in credentials if c.live
    }

    def cell(holder_id: str, kind: str) -> str:
        c = live.get((holder_id, kind))
        if c is None:
            return "-"
        return f"{c.serial} {c.status.value}" + (" [yellow]reissue[/]" if c.serial in stale else "")

    for h in holders:
        table.add_row(
            *(escape(v) for v in (h.holder_id, h.name, h.organization, h.organization_code)),
            escape(h.printed_position),
            h.state.value,
            cell(h.holder_id, "mobile"),
            cell(h.holder_id, "card"),
        )
    console.print(table)


@authority.command()
@_db
@click.option("--since", callback=_parse_time, metavar="TIME", help="From this time (inclusive).")
@click.option("--until", callback=_parse_time, metavar="TIME", help="Before this time.")
@click.option("--holder", help="Only this holder.")
@click.option("--serial", help="Only this credential.")
@click.option("--action", help="Only this action (issue, lost, retire, …).")
@_json
def audit(
    db: Path,
    since: dt.datetime | None,
    until: dt.datetime | None,
    holder: str | None,
    serial: str | None,
    action: str | None,
    as_json: bool,
) -> None:
    """Show the audit log: who did what to whom, when and why (rule 62 ③)."""
    with Authority.open(db) as auth:
        try:
            entries = auth.audit(since, until, holder_id=holder, serial=serial, action=action)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--action") from exc
    if as_json:
        _emit_json([e.to_json() for e in entries])
        return
    table = Table("time (KST)", "actor", "action", "holder", "serial", "reason")
    for e in entries:
        table.add_row(
            _kst(e.at),
            escape(e.actor),
            e.action.value,
            escape(e.holder_id or ""),
            e.serial or "",
            escape(e.reason),
        )
    Console(highlight=False).print(table)
