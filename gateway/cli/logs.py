"""``gateway logs``: search the collector's store from the shell; table, JSON lines or CSV."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from gateway.central.collector.model import EventFilter, StoredEvent
from gateway.central.collector.store import BadCursor, EventStore, open_store
from gateway.cli.collector import load_or_exit

KST = ZoneInfo("Asia/Seoul")
CSV_COLUMNS = (
    "at", "site", "node", "seq", "kind", "building", "door", "zone", "holder_id",
    "credential_serial", "organization_code", "granted", "reason", "is_alarm", "hash",
)  # fmt: skip


def _when(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date/time", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=KST)


def as_json(e: StoredEvent) -> dict[str, Any]:
    return {
        "id": e.id, "at": e.at.isoformat(), "site": e.site, "node": e.node, "seq": e.seq,
        "kind": e.kind, "building": e.building, "door": e.door, "zone": e.zone,
        "holder_id": e.holder_id, "credential_serial": e.credential_serial,
        "organization_code": e.organization_code, "granted": e.granted, "reason": e.reason,
        "is_alarm": e.is_alarm, "payload": e.payload, "hash": e.hash,
        "received_at": e.received_at.isoformat(),
    }  # fmt: skip


class Printer:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self._csv = csv.writer(sys.stdout) if fmt == "csv" else None
        self._console = Console()
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def show(self, events: list[StoredEvent]) -> None:
        if self.fmt == "json":
            for e in events:
                click.echo(json.dumps(as_json(e), ensure_ascii=False))
        elif self._csv is not None:
            for e in events:
                row = as_json(e)
                self._csv.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
            sys.stdout.flush()
        elif events:
            self._console.print(self._table(events))

    def _table(self, events: list[StoredEvent]) -> Table:
        table = Table()
        for column in ("at (KST)", "node", "seq", "kind", "building", "door", "holder",
                       "result", "reason"):  # fmt: skip
            table.add_column(column)
        for e in events:
            result = "" if e.granted is None else ("granted" if e.granted else "denied")
            if e.is_alarm:
                result = f"{result} ALARM".strip()
            table.add_row(
                e.at.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"), e.node, str(e.seq), e.kind,
                e.building or "", e.door or "", e.holder_id or "", result, e.reason or "",
            )  # fmt: skip
        return table


async def _query(
    store: EventStore,
    filters: EventFilter,
    limit: int,
    cursor: str | None,
    printer: Printer,
    follow: bool,
    interval: float,
    polls: int | None,
) -> None:
    try:
        page = await store.search(filters, limit=limit, cursor=cursor)
        printer.show(list(reversed(page.events)))  # oldest first, as a log reads
        if page.cursor and not follow:
            click.echo(f"more: --cursor {page.cursor}", err=True)
        if not follow:
            return
        after = await store.last_id()
        done = 0
        while polls is None or done < polls:
            await asyncio.sleep(interval)
            done += 1
            new = await store.follow(filters, after, limit=1000)
            if new:
                after = new[-1].id or after
                printer.show(new)
    finally:
        await store.close()


@click.command("logs")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The collector config; only [store] is used.",
)
@click.option("--site")
@click.option("--node")
@click.option("--building")
@click.option("--door")
@click.option("--person", "holder_id", help="holder id (the person)")
@click.option("--credential", "credential_serial", help="credential serial")
@click.option("--org", "organization_code", help="organization code")
@click.option("--result", type=click.Choice(["granted", "denied"]))
@click.option("--reason")
@click.option("--kind", help="event kind: decision, door, passage, …")
@click.option("--since", help="ISO date/time, inclusive (no zone given: KST)")
@click.option("--until", help="ISO date/time, exclusive (no zone given: KST)")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--cursor", help="page cursor printed by the previous call (older events)")
@click.option("--json", "fmt", flag_value="json", help="one JSON object a line")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row")
@click.option("--follow", is_flag=True, help="keep printing new events as they are stored")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05),
    help="seconds between polls with --follow",
)
@click.option("--polls", type=click.IntRange(1), hidden=True)
def logs(
    config_path: Path, site: str | None, node: str | None, building: str | None,
    door: str | None, holder_id: str | None, credential_serial: str | None,
    organization_code: str | None, result: str | None, reason: str | None, kind: str | None,
    since: str | None, until: str | None, limit: int, cursor: str | None, fmt: str | None,
    follow: bool, interval: float, polls: int | None,
) -> None:  # fmt: skip
    """Search stored events, newest page first, printed oldest first.

    Example: who opened door d-6-101 between 02:00 and 03:00 (KST):

        gateway logs --config collector.toml --door d-6-101 --result granted
        --since 2026-03-02T02:00 --until 2026-03-02T03:00
    """
    loaded = load_or_exit(config_path)
    filters = EventFilter(
        site=site, node=node, building=building, door=door, holder_id=holder_id,
        credential_serial=credential_serial, organization_code=organization_code,
        granted=None if result is None else result == "granted", reason=reason, kind=kind,
        since=_when(since, "--since"), until=_when(until, "--until"),
    )  # fmt: skip
    store = open_store(loaded.store_url, base=loaded.path.parent)
    try:
        asyncio.run(
            _query(store, filters, limit, cursor, Printer(fmt or "table"), follow, interval, polls)
        )
    except BadCursor as exc:
        raise click.BadParameter(str(exc), param_hint="--cursor") from None
