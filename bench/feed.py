"""Tap to live feed: end-to-end latency at 1,000 events/s, with the floor measured in the same run.

``NODES`` simulated gate nodes at ``RATE_PER_NODE`` taps/s each, paced on a fixed
schedule, publish through our own Mosquitto to the real collector (every signature
verified) on SQLite; the real viewer is served by uvicorn on a free loopback port on
the collector's event loop, as ``gateway collector`` mounts it. A child process, the
"browser", logs in as a viewer-role account through the login form (CSRF token and
all) and reads ``/events/stream`` with httpx. The nodes come two ways, each measured:

``outbox``     each node a real :class:`~gateway.node.outbox.Outbox` (SQLite, FULL) and
               :class:`~gateway.node.publisher.Publisher`, all in one child process, each
               commit waking the publisher as ``gateway node`` does; latency from ``at``,
               which the outbox stamps at the tap. Twenty outboxes' signing and fsyncs
               then share this 2-core machine with the collector, which a site never does.
``presigned``  as ``bench ingest``: events signed before the clock starts, one event per
               message, one in flight per node; latency from the moment of publishing.

The feed shows ``at`` only to the second, so the senders hand their times back keyed by
(node, seq); all processes share the wall clock. ``legs`` splits each event's time at
the collector's ``received_at``. The floor: ``mqtt_leg`` (the same pre-signed messages
to a plain subscriber) and ``store_feed_leg`` (events written straight into the store,
read by the same browser); ``floor_p99_ms`` is the sum of their p99s and
``ratio_vs_floor`` is end-to-end p99 ÷ floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from bench.ingest import node_key, write_config
from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.config import load_collector_config
from gateway.central.collector.model import EventFilter, StoredEvent, WriteSet
from gateway.central.collector.service import Collector
from gateway.central.collector.store import SqliteStore
from gateway.central.viewer import AccountStore, Role, create_app
from gateway.central.viewer.serve import ViewerSection, serve_viewer
from gateway.logging_setup import configure_logging
from gateway.mqtt.topics import subscription, topic_for
from gateway.node.outbox import GENESIS_HASH, Outbox, canonical_json, event_hash
from gateway.node.outbox.chain import format_at
from gateway.node.publisher import Publisher
from simulator.demo.viewer import free_port
from simulator.mosquitto import running_mosquitto

NAME = "feed"
DESCRIPTION = "tap to visible in the viewer's live feed: p99 at 1,000 events/s vs the floor"
NODES = 20
RATE_PER_NODE = 50.0
SECONDS = 15.0
FLOOR_SECONDS = 8.0
POLL_INTERVALS = (0.5, 0.25)  # the viewer's default, and the one tried beside it
TARGET_P99_MS = 1000.0
COMMIT_EVENTS = 10  # the store leg writes 100 commits/s of 10 events, as a busy collector
SLACK_S = 60.0  # past the run's own length: how long anything may take before we give up
Key = tuple[str, int]  # (node, seq)


@dataclass(frozen=True)
class Load:
    nodes: int = NODES
    rate_per_node: float = RATE_PER_NODE
    seconds: float = SECONDS

    @property
    def per_node(self) -> int:
        return round(self.rate_per_node * self.seconds)

    @property
    def total(self) -> int:
        return self.nodes * self.per_node


def node_name(i: int) -> str:
    return f"node-{i:03d}"  # as bench.ingest.write_config pins the keys


def decision(i: int, k: int) -> dict[str, Any]:
    return {
        "granted": k % 50 != 0, "door": f"d-{i}", "zone": "lobby", "holder_id": f"h{k % 500}",
        "credential_serial": f"S-{k % 500}", "organization_code": "1741000", "stage": "policy",
    }  # fmt: skip


async def paced(load: Load, i: int, act: Callable[[int], Awaitable[None] | None]) -> None:
    """``act(k)`` for node ``i`` on a fixed schedule (no drift), nodes staggered evenly."""
    interval = 1.0 / load.rate_per_node
    start = time.monotonic() + interval * i / load.nodes
    for k in range(load.per_node):
        delay = start + k * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the sender, not waiting for a result
        step = act(k)
        if step is not None:
            await step


def at_epoch(at: str) -> float:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


# -- child process: the gate nodes -------------------------------------------------------


async def _nodes(
    port: int, seed: str, site: str, load: Load, tmp: Path, ready: Any, go: Any
) -> Any:
    outboxes = [
        Outbox(tmp / f"{node_name(i)}.sqlite", node_key(seed, i)) for i in range(load.nodes)
    ]
    pubs = [
        Publisher(o, hostname="127.0.0.1", port=port, site=site, node=node_name(i))
        for i, o in enumerate(outboxes)
    ]
    tasks = [asyncio.create_task(p.run()) for p in pubs]
    for p in pubs:
        await p.connected.wait()
    ready.set()
    await asyncio.to_thread(go.wait)
    futures: list[tuple[str, asyncio.Future[Any]]] = []

    def node(i: int) -> Callable[[int], None]:
        def tap(k: int) -> None:
            future = outboxes[i].submit("decision", decision(i, k))
            future.add_done_callback(lambda _f: pubs[i].notify())  # as node_listener does
            futures.append((node_name(i), future))

        return tap

    async with asyncio.TaskGroup() as group:
        for i in range(load.nodes):
            group.create_task(paced(load, i, node(i)))
    events = await asyncio.gather(*(f for _node, f in futures))
    for p in pubs:
        await p.wait_delivered(load.per_node)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for o in outboxes:
        await o.aclose()
    return {(name, e.seq): at_epoch(e.at) for (name, _f), e in zip(futures, events, strict=True)}


def signed_messages(seed: str, site: str, i: int, count: int) -> list[bytes]:
    """Node ``i``'s ``count`` signed, chained decisions, one per message as a node sends a tap."""
    key, node, prev, out = node_key(seed, i), node_name(i), GENESIS_HASH, []
    at = format_at(dt.datetime.now(dt.UTC))  # before the clock starts; latency uses send time
    for seq in range(1, count + 1):
        payload = decision(i, seq)
        digest = event_hash(seq, at, "decision", payload, prev)
        event = {"seq": seq, "at": at, "kind": "decision", "payload": payload, "prev_hash": prev}
        event |= {"hash": digest, "sig": key.sign(bytes.fromhex(digest)).hex()}
        out.append(canonical_json({"v": 1, "site": site, "node": node, "events": [event]}).encode())
        prev = digest
    return out


async def _presigned(
    port: int, seed: str, site: str, load: Load, topic_prefix: str, ready: Any, go: Any
) -> Any:
    """Pre-signed messages, paced, QoS 1 with one in flight per node; send times by (node, seq)."""
    work = [signed_messages(seed, site, i, load.per_node) for i in range(load.nodes)]
    sent: dict[Key, float] = {}
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                aiomqtt.Client("127.0.0.1", port, identifier=f"{topic_prefix}-{node_name(i)}")
            )
            for i in range(load.nodes)
        ]
        ready.set()
        await asyncio.to_thread(go.wait)

        def node(i: int) -> Callable[[int], Awaitable[None]]:
            topic = topic_for("events", site=site, node=node_name(i))
            if topic_prefix != "events":
                topic = f"{topic_prefix}/{topic}"  # the floor: a topic the collector ignores

            def send(k: int) -> Awaitable[None]:
                sent[(node_name(i), k + 1)] = time.time()
                return clients[i].publish(topic, work[i][k], qos=1)

            return send

        async with asyncio.TaskGroup() as group:
            for i in range(load.nodes):
                group.create_task(paced(load, i, node(i)))
    return sent


def sender_process(kind: str, args: tuple[Any, ...], ready: Any, go: Any, out: Any) -> None:
    configure_logging("WARNING")
    main: Callable[..., Coroutine[Any, Any, Any]] = _nodes if kind == "nodes" else _presigned
    out.put(asyncio.run(main(*args, ready=ready, go=go)))


# -- child process: the browser ----------------------------------------------------------

CSRF_FIELD = 'name="csrf" value="'


async def _browse(
    url: str, username: str, password: str, expected: int, limit_s: float, ready: Any
) -> Any:
    """Log in through the form, read the live feed; (node, seq) -> arrival times."""
    arrivals: dict[Key, list[float]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10.0, read=limit_s)) as web:
        page = (await web.get("/login")).text
        start = page.index(CSRF_FIELD) + len(CSRF_FIELD)
        form = {"csrf": page[start : page.index('"', start)], "username": username}
        answer = await web.post("/login", data={**form, "password": password})
        if answer.status_code != 303 or answer.headers.get("location") != "/feed":
            raise RuntimeError(f"login refused: {answer.status_code}")
        async with web.stream("GET", "/events/stream") as stream:
            if stream.status_code != 200:
                raise RuntimeError(f"/events/stream answered {stream.status_code}")
            ready.set()  # the stream's starting point (the store's last id) is fixed now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit_s):
                    async for line in stream.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        now, row = time.time(), json.loads(line[6:])
                        arrivals.setdefault((row["node"], row["seq"]), []).append(now)
                        if len(arrivals) >= expected:
                            break
    return arrivals


def browser_process(args: tuple[Any, ...], ready: Any, go: Any, out: Any) -> None:
    browse: Callable[..., Coroutine[Any, Any, Any]] = _browse
    out.put(asyncio.run(browse(*args, ready=ready)))


# -- the parent: broker, collector, viewer -----------------------------------------------


@contextlib.asynccontextmanager
async def child(target: Callable[..., None], *args: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A spawned child, ready; yields (go, results queue); killed if it outlives the block."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, ready, go, out), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + SLACK_S
        while not await asyncio.to_thread(ready.wait, 0.2):  # a dead child fails fast
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{target.__name__} did not get ready")
        yield go, out
    finally:
        await asyncio.to_thread(proc.join, SLACK_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


async def result(out: Any, load: Load) -> Any:
    return await asyncio.to_thread(out.get, True, load.seconds + SLACK_S)


async def until_listening(port: int, server: asyncio.Task[None]) -> None:
    while not server.done():
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.02)  # polling interval, as running_mosquitto does
    server.result()
    raise RuntimeError("the viewer stopped before listening")


@contextlib.asynccontextmanager
async def viewer(
    store: SqliteStore, tmp: Path, poll_s: float, commits: CommitSignal | None = None
) -> AsyncIterator[tuple[str, ...]]:
    """The viewer on a free port with one viewer-role account: (url, username, password)."""
    username, password = "bench-watch", secrets.token_urlsafe(16)
    accounts = AccountStore(tmp / "viewer.sqlite")
    await accounts.create(username, password, Role.VIEWER, dt.datetime.now(dt.UTC))
    await accounts.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        store, accounts=AccountStore(tmp / "viewer.sqlite"), poll_interval_s=poll_s,
        public_url=url, announce=lambda _line: None, commits=commits,
    )  # fmt: skip
    section = ViewerSection(listen="127.0.0.1", port=port, poll_interval_s=poll_s)
    server = asyncio.create_task(serve_viewer(app, section), name="viewer")
    try:
        await until_listening(port, server)
        yield url, username, password
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


def summary(latency_s: list[float], sent: int, seen: int, duplicates: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latency_s) or [float("nan")]
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "sent": sent, "seen": seen, "duplicates": duplicates, "every_event_once": sent == seen
        and duplicates == 0, "p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1),
        "max_ms": round(ms[-1], 1),
    }  # fmt: skip


def compare(created: dict[Key, float], arrivals: dict[Key, list[float]]) -> dict[str, Any]:
    seen = [k for k in arrivals if k in created]
    duplicates = sum(len(v) - 1 for v in arrivals.values()) + len(arrivals) - len(seen)
    return summary([arrivals[k][0] - created[k] for k in seen], len(created), len(seen), duplicates)


async def end_to_end(load: Load, poll_s: float, tmp: Path, senders: str) -> dict[str, Any]:
    """``senders``: "outbox" (real Outbox + Publisher per node) or "presigned" (as ingest)."""
    seed, site = uuid.uuid4().hex, f"f-{uuid.uuid4().hex[:10]}"
    store = SqliteStore(tmp / "store.sqlite")
    with running_mosquitto() as broker:
        config = write_config(
            tmp,
            broker.port,
            seed,
            site,
            load.nodes,
            "sqlite:store.sqlite",
            "batch_tail",  # the collector's default
        )
        collector = Collector(load_collector_config(config), store)
        running = asyncio.create_task(collector.run(), name="collector")
        try:
            async with asyncio.timeout(SLACK_S):
                await collector.subscribed.wait()
            # As `gateway collector` mounts it: the collector's commits wake the feed.
            async with viewer(store, tmp, poll_s, collector.commits) as login:
                limit = load.seconds + SLACK_S
                async with child(browser_process, (*login, load.total, limit)) as (_, seen_q):
                    args: tuple[Any, ...]
                    if senders == "outbox":
                        kind, args = "nodes", (broker.port, seed, site, load, tmp)
                    else:
                        kind, args = "presigned", (broker.port, seed, site, load, "events")
                    async with child(sender_process, kind, args) as (go, sent_q):
                        go.set()
                        created = await result(sent_q, load)
                    arrivals = await result(seen_q, load)
            received = await received_times(store)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await store.close()
    legs = {"tap_to_collector": compare(created, received)}  # received_at: before verifying
    legs["collector_to_feed"] = compare({k: v[0] for k, v in received.items()}, arrivals)
    return {
        "senders": senders,
        "poll_interval_s": poll_s,
        **compare(created, arrivals),
        "legs": legs,
    }


async def received_times(store: SqliteStore) -> dict[Key, list[float]]:
    """When the collector received each stored event (its ``received_at``)."""
    found: dict[Key, list[float]] = {}
    after = 0
    while events := await store.follow(EventFilter(), after, limit=500):
        for e in events:
            found.setdefault((e.node, e.seq), []).append(e.received_at.timestamp())
            after = e.id or after
    return found


async def mqtt_leg(load: Load) -> dict[str, Any]:
    """The floor's first leg: the same pre-signed messages, broker to a plain subscriber."""
    seed, site = uuid.uuid4().hex, f"m-{uuid.uuid4().hex[:10]}"
    arrivals: dict[Key, list[float]] = {}
    with running_mosquitto() as broker:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"floor-{site}") as sub:
            await sub.subscribe(f"floor/{subscription('events', site=site)}", qos=1)
            args = (broker.port, seed, site, load, "floor")
            async with child(sender_process, "presigned", args) as (go, sent_q):
                go.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(load.seconds + SLACK_S):
                        async for message in sub.messages:
                            now = time.time()
                            batch = json.loads(message.payload)
                            key = (batch["node"], batch["events"][0]["seq"])
                            arrivals.setdefault(key, []).append(now)
                            if len(arrivals) >= load.total:
                                break
                sent = await result(sent_q, load)
    return compare(sent, arrivals)


async def store_feed_leg(load: Load, poll_s: float, tmp: Path) -> dict[str, Any]:
    """The floor's second leg: events written straight into the store, read by the browser."""
    store = SqliteStore(tmp / "store.sqlite")
    await store.migrate()
    written: dict[Key, float] = {}
    commits = Load(1, load.rate_per_node * load.nodes / COMMIT_EVENTS, load.seconds)

    async def commit(k: int) -> None:
        now = dt.datetime.now(dt.UTC)
        events = [
            stored_event(k * COMMIT_EVENTS + j, load.nodes, now) for j in range(COMMIT_EVENTS)
        ]
        for e in events:
            written[(e.node, e.seq)] = now.timestamp()
        await store.write(WriteSet(events=events))

    try:
        async with viewer(store, tmp, poll_s) as login:
            args = (*login, commits.per_node * COMMIT_EVENTS, load.seconds + SLACK_S)
            async with child(browser_process, args) as (_, seen_q):
                await paced(commits, 0, commit)
                arrivals = await result(seen_q, load)
    finally:
        await store.close()
    return {"poll_interval_s": poll_s, **compare(written, arrivals)}


def stored_event(n: int, nodes: int, now: dt.datetime) -> StoredEvent:
    i, seq = n % nodes, n // nodes + 1
    return StoredEvent(
        site="floor", node=node_name(i), seq=seq, at=now, kind="decision", payload=decision(i, seq),
        hash=f"{n + 1:064x}", prev_hash=f"{n:064x}", sig="ab" * 64, received_at=now,
        door=f"d-{i}", zone="lobby", holder_id=f"h{seq % 500}", granted=True,
    )  # fmt: skip


def p99(figures: dict[str, Any]) -> float:
    return float(figures["p99_ms"])


async def _bench(load: Load) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "nodes": load.nodes, "events_s": round(load.nodes * load.rate_per_node),
        "seconds": load.seconds, "target_p99_ms": TARGET_P99_MS,
    }  # fmt: skip
    floor_load = Load(load.nodes, load.rate_per_node, min(load.seconds, FLOOR_SECONDS))
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp_name:
        tmp = Path(tmp_name)
        figures["mqtt_leg"] = mqtt = await mqtt_leg(floor_load)
        for poll_s in POLL_INTERVALS:
            part: dict[str, Any] = {}
            for senders in ("presigned", "outbox"):
                (run_dir := tmp / f"{senders}-{poll_s}").mkdir()
                part[senders] = await end_to_end(load, poll_s, run_dir, senders)
            (feed_dir := tmp / f"feed-{poll_s}").mkdir()
            part["store_feed_leg"] = feed = await store_feed_leg(floor_load, poll_s, feed_dir)
            part["floor_p99_ms"] = floor = round(p99(mqtt) + p99(feed), 1)
            for senders in ("presigned", "outbox"):
                part[senders]["ratio_vs_floor"] = round(p99(part[senders]) / floor, 2)
            figures[f"poll_{round(poll_s * 1000)}ms"] = part
    default = figures[f"poll_{round(POLL_INTERVALS[0] * 1000)}ms"]
    figures["meets_target"] = all(
        p99(default[s]) < TARGET_P99_MS and default[s]["every_event_once"]
        for s in ("presigned", "outbox")
    )
    return figures


def run(load: Load = Load()) -> dict[str, Any]:
    configure_logging("WARNING")  # stderr, so stdout stays the JSON
    return asyncio.run(_bench(load))
