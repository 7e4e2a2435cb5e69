"""`gateway authority` commands that change nothing: list, audit, status-token and
export-anchors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.central.authority.records import CredentialRecord
from gateway.central.authority.service import Authority
from gateway.cli.authority_options import (
    db_argument,
    emit_json,
    json_option,
    kst,
    out_option,
    parse_time,
    write,
)


@click.command("list")
@db_argument
@json_option
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
        emit_json(
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
        f"document signer {escape(ds.subject)} valid until {kst(ds.not_after)} KST"
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


@click.command("audit")
@db_argument
@click.option("--since", callback=parse_time, metavar="TIME", help="From this time (inclusive).")
@click.option("--until", callback=parse_time, metavar="TIME", help="Before this time.")
@click.option("--holder", help="Only this holder.")
@click.option("--serial", help="Only this credential.")
@click.option("--action", help="Only this action (issue, lost, retire, …).")
@json_option
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
        emit_json([e.to_json() for e in entries])
        return
    table = Table("time (KST)", "actor", "action", "holder", "serial", "reason")
    for e in entries:
        table.add_row(
            kst(e.at),
            escape(e.actor),
            e.action.value,
            escape(e.holder_id or ""),
            e.serial or "",
            escape(e.reason),
        )
    Console(highlight=False).print(table)


@click.command("status-token")
@db_argument
@out_option("Where to write the latest published token")
def status_token(db: Path, out: str) -> None:
    """Write the latest published Status List Token, without publishing a new one."""
    with Authority.open(db) as auth:
        token = auth.latest_status_list_token()
    if token is None:
        raise click.ClickException("no status list published yet; run `publish` first")
    write(out, token)


@click.command("export-anchors")
@db_argument
@out_option("Where to write the IACA certificate (PEM) for gates' trust stores")
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
    write(out, anchor)
    if status_out is not None:
        write(status_out, status_pem)
