"""Collector ingest: 100 simulated nodes → our own Mosquitto → collector → SQLite / PostgreSQL.

Each node has its own Ed25519 key and a valid hash chain. The signed events are built
before the clock starts, in a child process that then publishes them (one MQTT client
per node, QoS 1, batches of ``BATCH`` events, as the node's publisher does), so the
publishers are not the bottleneck and do not share the collector's core.

Sustained events/s is counted from the first publish until the collector has committed
the last event (every event verified: hash, signature, chain). ``lost`` and
``duplicates`` are read back from the store afterwards. The *naive* collector parses
the same batches but writes one row per transaction (no signature checks, which only
flatters it) and is measured on ``NAIVE_NODES`` nodes; ``ratio`` is ours ÷ naive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import multiprocessing as mp
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import aiosqlite
import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.central.collector.config import load_collector_config
from gateway.central.collector.service import Collector
from gateway.central.collector.store import EventStore, PostgresStore, SqliteStore
from gateway.logging_setup import configure_logging
from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.topics import subscription, topic_for
from gateway.node.outbox import GENESIS_HASH, event_hash, public_key_bytes
from gateway.node.outbox.chain import canonical_json
from simulator.mosquitto import running_mosquitto

NAME = "ingest"
DESCRIPTION = "events/s from 100 signed nodes through Mosquitto into the collector's stores"
NODES = 100
EVENTS_PER_NODE = 400
BATCH = 50
NAIVE_NODES = 10
TARGET_EVENTS_S = 10_000
TIMEOUT_S = 300.0
MODES = ("every_event", "batch_tail")  # [integrity] signatures
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def node_key(seed: str, i: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest())


def node_messages(seed: str, site: str, i: int, count: int) -> list[tuple[str, bytes]]:
    """``count`` signed, chained decision events of node ``i`` as event-topic messages."""
    key, node = node_key(seed, i), f"node-{i:03d}"
    prev, events = GENESIS_HASH, []
    for seq in range(1, count + 1):
        at = f"2026-03-02T08:{seq // 60 % 60:02d}:{seq % 60:02d}.{i:06d}Z"
        payload = {
            "granted": seq % 50 != 0,
            "door": f"d-{i}",
            "zone": "lobby",
            "holder_id": f"h{seq % 500}",
            "credential_serial": f"S-{seq % 500}",
            "organization_code": "1741000",
            "stage": "policy",
            "is_alarm": False,
        }
        digest = event_hash(seq, at, "decision", payload, prev)
        sig = key.sign(bytes.fromhex(digest)).hex()
        events.append(
            {
                "seq": seq,
                "at": at,
                "kind": "decision",
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
                "sig": sig,
            }
        )
        prev = digest
    topic = topic_for("events", site=site, node=node)
    return [
        (
            topic,
            canonical_json(
                {"v": 1, "site": site, "node": node, "events": events[k : k + BATCH]}
            ).encode(),
        )
        for k in range(0, count, BATCH)
    ]


async def _publish(port: int, work: list[list[tuple[str, bytes]]]) -> None:
    async def one(i: int, messages: list[tuple[str, bytes]]) -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-node-{i}") as client:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=1)  # one in flight, as a node does

    async with asyncio.TaskGroup() as group:
        for i, messages in enumerate(work):
            group.create_task(one(i, messages))


def publisher_process(
    port: int, seed: str, site: str, nodes: int, per_node: int, ready: Any, go: Any
) -> None:
    work = [node_messages(seed, site, i, per_node) for i in range(nodes)]
    ready.set()
    go.wait()
    asyncio.run(_publish(port, work))


def write_config(
    tmp: Path, port: int, seed: str, site: str, nodes: int, url: str, signatures: str
) -> Path:
    lines = [
        f'[mqtt]\nport = {port}\nclient_id = "collector-{site}"\nsite = "{site}"',
        f'[store]\nurl = "{url}"\nmax_batch_messages = 200',
        f'[integrity]\nsignatures = "{signatures}"',
    ]
    for i in range(nodes):
        raw = public_key_bytes(node_key(seed, i))
        b64 = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        lines.append(f'[nodes.node-{i:03d}]\npublic_key = "{b64}"')
    path = tmp / f"collector-{site}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def publishers(port: int, seed: str, site: str, nodes: int, per_node: int) -> Any:
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(
        target=publisher_process, args=(port, seed, site, nodes, per_node, ready, go)
    )
    proc.start()
    try:
        if not ready.wait(TIMEOUT_S):
            raise RuntimeError("the publishers did not get ready")
        yield go
        proc.join(TIMEOUT_S)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


async def measure_collector(
    store: EventStore, tmp: Path, url: str, signatures: str
) -> dict[str, Any]:
    seed, site = uuid.uuid4().hex, f"b-{uuid.uuid4().hex[:10]}"
    total = NODES * EVENTS_PER_NODE
    with running_mosquitto() as broker:
        loaded = load_collector_config(
            write_config(tmp, broker.port, seed, site, NODES, url, signatures)
        )
        collector = Collector(loaded, store)
        task = asyncio.create_task(collector.run())
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await collector.subscribed.wait()
            with publishers(broker.port, seed, site, NODES, EVENTS_PER_NODE) as go:
                start = time.perf_counter()
                go.set()
                async with asyncio.timeout(TIMEOUT_S):
                    while collector.ingest.stats.stored < total:
                        collector.progress.clear()
                        await collector.progress.wait()
                elapsed = time.perf_counter() - start
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    stored = await store.count()
    alarms = await store.alarms()
    return {
        "events": total,
        "seconds": round(elapsed, 3),
        "events_s": round(total / elapsed),
        "lost": total - stored,
        "duplicates": collector.ingest.stats.stored - stored,
        "redeliveries_ignored": collector.ingest.stats.duplicates,
        "commits": collector.ingest.stats.commits,
        "alarms": len(alarms),
    }


async def measure_naive(engine: str, tmp: Path, dsn: str | None) -> dict[str, Any]:
    """One INSERT and one COMMIT per event, as a straightforward subscriber would."""
    seed, site = uuid.uuid4().hex, f"n-{uuid.uuid4().hex[:10]}"
    total = NAIVE_NODES * EVENTS_PER_NODE
    sql = (
        "INSERT INTO naive (node, seq, at, payload, hash) VALUES ({}) "
        "ON CONFLICT (node, seq) DO NOTHING"
    )
    conn: Any
    if engine == "sqlite":
        conn = await aiosqlite.connect(tmp / "naive.sqlite", isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        insert = sql.format("?, ?, ?, ?, ?")
    else:
        conn = await asyncpg.connect(dsn)
        insert = sql.format("$1, $2, $3, $4, $5")
    await conn.execute(
        "CREATE TABLE naive (node TEXT, seq BIGINT, at TEXT, payload TEXT, "
        "hash TEXT, PRIMARY KEY (node, seq))"
    )
    written = 0
    with running_mosquitto() as broker:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"naive-{site}") as sub:
            await sub.subscribe(subscription("events", site=site), qos=1)
            with publishers(broker.port, seed, site, NAIVE_NODES, EVENTS_PER_NODE) as go:
                start = time.perf_counter()
                go.set()
                async with asyncio.timeout(TIMEOUT_S):
                    async for message in sub.messages:
                        batch = EventBatch.model_validate_json(message.payload)
                        for e in batch.events:
                            row = (batch.node, e.seq, e.at, canonical_json(e.payload), e.hash)
                            if engine == "sqlite":
                                await conn.execute(insert, row)  # autocommit: one transaction
                            else:
                                await conn.execute(insert, *row)
                            written += 1
                        if written >= total:
                            break
                elapsed = time.perf_counter() - start
    await conn.close()
    return {"events": total, "seconds": round(elapsed, 3), "events_s": round(total / elapsed)}


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _engine(engine: str, tmp: Path) -> dict[str, Any]:
    """Both signature modes on a fresh store each, then the naive collector."""
    part: dict[str, Any] = {}
    for mode in MODES:
        if engine == "sqlite":
            url = f"sqlite:{mode}.sqlite"
            store: EventStore = SqliteStore(tmp / f"{mode}.sqlite")
            part[mode] = await _measure_and_close(store, tmp, url, mode)
            continue
        name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
        await _admin(f"CREATE DATABASE {name}")
        try:
            dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
            part[mode] = await _measure_and_close(PostgresStore(dsn), tmp, dsn, mode)
            if mode == MODES[-1]:
                part["naive"] = await measure_naive(engine, tmp, dsn)
        finally:
            await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if engine == "sqlite":
        part["naive"] = await measure_naive(engine, tmp, None)
    naive = part["naive"]["events_s"]
    for mode in MODES:
        part[mode]["ratio_vs_naive"] = round(part[mode]["events_s"] / naive, 1)
        part[mode]["meets_target"] = part[mode]["events_s"] >= TARGET_EVENTS_S
        part[mode]["zero_lost_and_duplicates"] = part[mode]["lost"] == part[mode]["duplicates"] == 0
    return part


async def _measure_and_close(store: EventStore, tmp: Path, url: str, mode: str) -> dict[str, Any]:
    try:
        return await measure_collector(store, tmp, url, mode)
    finally:
        await store.close()


async def _bench() -> dict[str, Any]:
    figures: dict[str, Any] = {
        "nodes": NODES,
        "events_per_node": EVENTS_PER_NODE,
        "batch": BATCH,
        "target_events_s": TARGET_EVENTS_S,
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        figures["sqlite"] = await _engine("sqlite", tmp)
        try:
            await _admin("SELECT 1")
        except (OSError, asyncpg.PostgresError) as exc:
            figures["postgres"] = {"skipped": f"PostgreSQL unreachable: {exc}"}
            return figures
        figures["postgres"] = await _engine("postgres", tmp)
    return figures


def run() -> dict[str, Any]:
    configure_logging("WARNING")  # stderr, so stdout stays the JSON
    return asyncio.run(_bench())
