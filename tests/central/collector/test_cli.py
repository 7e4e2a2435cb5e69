"""``gateway logs`` and ``gateway collector --check`` through click's CliRunner."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.central.collector.ingest import Ingest
from gateway.central.collector.model import EventFilter
from gateway.central.collector.store import SqliteStore
from gateway.cli.main import cli
from tests.central.collector.helpers import FakeNode, loaded_for


def populated(tmp_path: Path) -> Path:
    node = FakeNode("sejong", "gate-1")
    node.append(
        "decision",
        {
            "granted": True,
            "door": "d1",
            "zone": "lobby",
            "holder_id": "kim",
            "credential_serial": "S-1",
            "organization_code": "1741000",
        },
    )
    node.append(
        "decision", {"granted": False, "door": "d1", "holder_id": "lee", "reason": "revoked"}
    )
    node.append("door", {"door_event": "forced_alarm", "door": "d2", "is_alarm": True})
    loaded = loaded_for(tmp_path, [node])

    async def fill() -> None:
        store = SqliteStore(tmp_path / "c.sqlite")
        await store.migrate()
        changes, _ = await Ingest(loaded, store).process([node.message(node.events)])
        await store.write(changes)
        await store.close()

    asyncio.run(fill())
    return loaded.path


def test_logs_json_with_filters(tmp_path: Path) -> None:
    config = populated(tmp_path)
    result = CliRunner().invoke(cli, ["logs", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3]  # oldest first
    assert rows[0]["building"] == "b1"
    assert rows[0]["organization_code"] == "1741000"
    denied = CliRunner().invoke(
        cli, ["logs", "--config", str(config), "--json", "--result", "denied", "--door", "d1"]
    )
    assert [json.loads(x)["holder_id"] for x in denied.output.splitlines()] == ["lee"]
    person = CliRunner().invoke(
        cli,
        [
            "logs",
            "--config",
            str(config),
            "--json",
            "--person",
            "kim",
            "--since",
            "2026-03-02T17:00",
        ],
    )
    assert [json.loads(x)["seq"] for x in person.output.splitlines()] == [1]  # 08:50Z = 17:50 KST


def test_logs_csv_and_pages(tmp_path: Path) -> None:
    config = populated(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["logs", "--config", str(config), "--csv", "--limit", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["seq"] for r in rows] == ["2", "3"]
    assert rows[1]["is_alarm"] == "True"
    assert "more: --cursor " in result.stderr
    cursor = result.stderr.split("--cursor ")[1].strip()
    older = runner.invoke(cli, ["logs", "--config", str(config), "--csv", "--cursor", cursor])
    assert [r["seq"] for r in csv.DictReader(io.StringIO(older.stdout))] == ["1"]
    bad = runner.invoke(cli, ["logs", "--config", str(config), "--cursor", "xyz"])
    assert bad.exit_code == 2
    assert "not a page cursor" in bad.output


def test_logs_table_and_follow_ends_after_its_polls(tmp_path: Path) -> None:
    config = populated(tmp_path)
    result = CliRunner().invoke(
        cli, ["logs", "--config", str(config), "--follow", "--interval", "0.05", "--polls", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "denied" in result.output
    assert "ALARM" in result.output


def test_config_errors_name_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        '[store]\nurl = "sqlite:x.sqlite"\nbatch = 3\n[nodes.gate-1]\npublic_key = "short"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["collector", "--config", str(config), "--check"])
    assert result.exit_code == 2
    assert f"{config}:3: error: store.batch:" in result.output
    config.write_text('[nodes.gate-1]\npublic_key = "short"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["collector", "--config", str(config), "--check"])
    assert result.exit_code == 2
    assert f"{config}:2: error: nodes.gate-1.public_key:" in result.output
    assert "hint:" in result.output


def test_collector_check_migrates(tmp_path: Path) -> None:
    config = populated(tmp_path)
    result = CliRunner().invoke(cli, ["collector", "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output
    assert "1 node key(s), schema version 1" in result.output


def test_a_viewer_section_is_part_of_the_collector_config(tmp_path: Path) -> None:
    config = populated(tmp_path)
    config.write_text(config.read_text() + "[viewer]\nport = 8081\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["collector", "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output
    config.write_text(config.read_text() + "colour = 1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["collector", "--config", str(config), "--check"])
    assert result.exit_code == 2
    assert "viewer.colour" in result.output


async def test_follow_prints_events_stored_after_it_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli.logs import Printer, _query

    node = FakeNode("sejong", "gate-1")
    loaded = loaded_for(tmp_path, [node])
    first, later = node.decisions(2), node.decisions(3, holder_id="park")

    class ArrivingStore(SqliteStore):
        """New events are committed just after ``--follow`` notes where it starts."""

        async def last_id(self) -> int:
            start = await super().last_id()
            changes, _ = await Ingest(loaded, self).process([node.message(later)])
            await self.write(changes)
            return start

    store = ArrivingStore(tmp_path / "c.sqlite")
    await store.migrate()
    changes, _ = await Ingest(loaded, store).process([node.message(first)])
    await store.write(changes)
    await _query(store, EventFilter(), 50, None, Printer("json"), True, 0.01, 1)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["seq"], r["holder_id"]) for r in rows] == [
        (1, "h1"), (2, "h1"), (3, "park"), (4, "park"), (5, "park"),
    ]  # fmt: skip
