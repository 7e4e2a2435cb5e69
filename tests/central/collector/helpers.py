"""Simulated nodes with real keys and chains, and collector configs written as TOML."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.central.collector.config import LoadedCollector, load_collector_config
from gateway.central.collector.ingest import Incoming
from gateway.mqtt.topics import topic_for
from gateway.node.outbox import GENESIS_HASH, Event, event_hash, public_key_bytes
from gateway.node.outbox.chain import format_at

T0 = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)


@dataclass
class FakeNode:
    """Signs a valid chain, as the node's outbox would."""

    site: str
    node: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    events: list[Event] = field(default_factory=list)

    @property
    def public_b64(self) -> str:
        return base64.urlsafe_b64encode(public_key_bytes(self.key)).decode().rstrip("=")

    def append(self, kind: str, payload: dict[str, Any], at: dt.datetime | None = None) -> Event:
        seq = len(self.events) + 1
        prev = self.events[-1].hash if self.events else GENESIS_HASH
        when = format_at(at or T0 + dt.timedelta(seconds=seq))
        digest = event_hash(seq, when, kind, payload, prev)
        sig = self.key.sign(bytes.fromhex(digest)).hex()
        event = Event(seq, when, kind, payload, prev, digest, sig)
        self.events.append(event)
        return event

    def decisions(self, n: int, **payload: Any) -> list[Event]:
        base = {"granted": True, "door": "d1", "zone": "lobby", "holder_id": "h1"}
        return [self.append("decision", {**base, **payload}) for _ in range(n)]

    def message(self, events: list[Event], at: dt.datetime = T0) -> Incoming:
        return Incoming(self.topic, batch_bytes(self.site, self.node, events), at)

    @property
    def topic(self) -> str:
        return topic_for("events", site=self.site, node=self.node)


def batch_bytes(site: str, node: str, events: list[Event]) -> bytes:
    body = {"v": 1, "site": site, "node": node, "events": [e.to_wire() for e in events]}
    return json.dumps(body).encode()


def write_config(path: Path, nodes: list[FakeNode], store_url: str, extra: str = "") -> Path:
    lines = [
        "[store]",
        f'url = "{store_url}"',
        "[alarms]",
        "denial_burst_count = 3",
        "denial_burst_window_s = 60",
        "walking_speed_m_s = 2.0",
        "[buildings.b1]",
        "lat = 36.5040",
        "lon = 127.2650",
        "[buildings.b2]",
        "lat = 36.5140",
        "lon = 127.2650",
        "[zones.lobby]",
        'building = "b1"',
        "[zones.office]",
        'building = "b1"',
        'parent = "lobby"',
        "[zones.annex]",
        'building = "b2"',
    ]
    for n in nodes:
        lines += [f"[nodes.{n.node}]", f'public_key = "{n.public_b64}"']
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def loaded_for(
    tmp: Path, nodes: list[FakeNode], store_url: str = "sqlite:c.sqlite"
) -> LoadedCollector:
    return load_collector_config(write_config(tmp / "collector.toml", nodes, store_url))
