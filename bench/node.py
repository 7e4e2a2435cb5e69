"""The node's event log: what the outbox costs on the tap path, and the node's memory.

**Tap path.** For ``synchronous=FULL`` (the chosen setting) and ``NORMAL``
(the alternative), each on a fresh SQLite WAL database in a temporary
directory (``tmp_dir`` in the output; its filesystem decides what an fsync
costs), it times:

``submit``         what the tap path pays on the event loop to log one event
                   after the relay has been driven: :meth:`Outbox.submit`
                   (canonical JSON, the clock, the queue). The row is committed
                   by the writer thread in the background.
``append_commit``  ``await outbox.append(...)`` for taps arriving one at a
                   time: the hop to the writer thread, the hash, the Ed25519
                   signature, the INSERT and the COMMIT (with FULL: the WAL
                   fsync). This is what the relay would wait for if it were
                   driven *after* the log (append-then-actuate), and the time
                   until the event may be published.
``append_sync``    the synchronous path (shutdown flush), one commit each.
``burst``          1,000 events submitted at once: events/s until all are
                   committed, and how late a 1 ms timer on the event loop
                   fires meanwhile (``timer_late``: the writer thread holds
                   the GIL while it hashes and signs).

**RSS.** A child process (``python -m bench.node --child``) imports the whole
node runtime (``gateway.node.runtime.build`` and ``.node``: verifier, readers,
policy, door, plus aiomqtt and aiosqlite) and opens an outbox (FULL) with an
Ed25519 node key (``runtime_and_outbox_rss_mb``), then compiles the site
policy ``bench.decide`` uses (50 organisations, 200 doors, 10k grants), drives
a real :class:`DoorController` on gpiozero's MockFactory pins, and reports
VmRSS idle (after start-up, 2 s with the loop idle) and again after
``load_s`` seconds at 20 taps/s, each tap a policy decision, a door grant when
granted, and its events (decision, door) appended through the outbox. No NFC
reader or credential verification runs (no status list is loaded): the
verifier's modules are imported, not exercised. Target: idle RSS < 80 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt  # noqa: F401 - in the RSS: the node's publisher will hold it
import aiosqlite  # noqa: F401
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import gateway.node.runtime.build
import gateway.node.runtime.node  # noqa: F401
from bench.decide import SEED, BenchDoor, site_document, workload
from gateway.node.outbox import Outbox, Synchronous, load_or_create_node_key
from gateway.node.policy import (
    AccessRequest,
    GateState,
    compile_policy,
    decide,
    parse_document,
)
from gateway.node.runtime.memory import return_freed_memory

NAME = "node"
DESCRIPTION = "outbox cost on the tap path (FULL vs NORMAL) and node RSS idle / at 20 taps/s"
SAMPLES = 400
WARMUP = 30
BURST = 1_000
TAPS_PER_S = 20
LOAD_S = 6.0
IDLE_TARGET_MB = 80.0

PAYLOAD: dict[str, Any] = {
    "granted": True,
    "stage": "policy",
    "reason": None,
    "rule": "org-staff",
    "detail": "organization 1234567 may enter b3-z0 on weekdays 07:00-20:00",
    "alarms": [],
    "is_alarm": False,
    "holder_id": "s1234",
    "credential_serial": "S1234",
    "organization_code": "1234567",
    "door": "b3-d12",
    "zone": "b3-z0",
    "direction": "in",
    "posture": "normal",
}


def _stats(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {
        "n": n,
        "p50_us": round(statistics.median(ordered) / 1e3, 1),
        "p99_us": round(ordered[min(n - 1, int(n * 0.99))] / 1e3, 1),
        "max_us": round(ordered[-1] / 1e3, 1),
    }


async def _measure(path: Path, synchronous: Synchronous, samples: int) -> dict[str, Any]:
    outbox = Outbox(path, Ed25519PrivateKey.generate(), synchronous=synchronous)
    clock = time.perf_counter_ns
    submit: list[int] = []
    commit: list[int] = []
    try:
        for i in range(WARMUP + samples):
            t0 = clock()
            future = outbox.submit("decision", PAYLOAD)
            t1 = clock()
            await future
            t2 = clock()
            if i >= WARMUP:
                submit.append(t1 - t0)
                commit.append(t2 - t0)
        sync_samples: list[int] = []
        for _ in range(samples // 2):
            t0 = clock()
            outbox.append_sync("door", {"door_event": "relay_on", "door": "b3-d12"})
            sync_samples.append(clock() - t0)
        before = outbox.head[0]
        t0 = clock()
        futures = [outbox.submit("tap", {**PAYLOAD, "n": n}) for n in range(BURST)]
        done = asyncio.gather(*futures)
        gaps: list[int] = []
        while not done.done():  # how late a 1 ms timer fires while the writer thread works
            t_tick = clock()
            await asyncio.sleep(0.001)
            gaps.append(max(0, clock() - t_tick - 1_000_000))
        await done
        burst_s = (clock() - t0) / 1e9
        assert outbox.head[0] == before + BURST
    finally:
        await outbox.aclose()
    return {
        "submit": _stats(submit),
        "append_commit": _stats(commit),
        "append_sync": _stats(sync_samples),
        "burst": {
            "events": BURST,
            "events_per_s": round(BURST / burst_s),
            "wall_ms": round(burst_s * 1e3, 1),
            "timer_late_max_us": round(max(gaps, default=0) / 1e3, 1),
            "timer_late_p99_us": _stats(gaps or [0])["p99_us"],
        },
    }


# -- the RSS child ----------------------------------------------------------------------------
def _rss_kb() -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def _child(load_s: float, idle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        key = load_or_create_node_key(Path(tmp) / "node.key")
        outbox = Outbox(Path(tmp) / "outbox.sqlite", key)
        await outbox.append("node", {"phase": "started"})
        runtime_and_outbox = _rss_kb()
        rng = random.Random(SEED)
        doc = site_document(rng)
        policy = compile_policy(
            parse_document(json.dumps(doc, ensure_ascii=False).encode()), slim=True
        )
        calls = workload(rng, doc, 500)
        del doc
        return_freed_memory()  # as build_parts does after loading the policy
        door = BenchDoor()
        await asyncio.sleep(idle_s)
        idle = _rss_kb()
        state = GateState()
        taps = granted = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < load_s:
            verdict, door_id, now = calls[taps % len(calls)]
            decision = decide(AccessRequest.from_verdict(verdict, door_id), policy, state, now)
            seen = len(door.events)
            accepted = decision.granted and door.controller.grant(decision.holder_id or "")
            outbox.submit("decision", {"granted": decision.granted, "rule": decision.rule})
            if accepted:
                granted += 1
                door.after_grant(True)
                for event in door.events[seen:]:
                    outbox.submit("door", {"door_event": event.kind.value, "door": event.door_id})
            taps += 1
            await asyncio.sleep(max(0.0, start + taps / TAPS_PER_S - loop.time()))
        await outbox.flush()
        loaded = _rss_kb()
        events = outbox.head[0]
        await outbox.aclose()
    return {
        "runtime_and_outbox_rss_mb": round(runtime_and_outbox[0] / 1024, 1),
        "idle_rss_mb": round(idle[0] / 1024, 1),
        "loaded_rss_mb": round(loaded[0] / 1024, 1),
        "peak_rss_mb": round(loaded[1] / 1024, 1),
        "taps": taps,
        "granted": granted,
        "events_logged": events,
        "load_s": load_s,
    }


def _rss(load_s: float, idle_s: float) -> dict[str, Any]:
    """The synthetic child: runtime imports, outbox and the big policy, no link."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.node", "--child", str(load_s), str(idle_s)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _real_node_rss(load_s: float, idle_s: float) -> dict[str, Any]:
    """``gateway node``'s own service in a process, linked to our own Mosquitto if there is one."""
    # Here, not at the top: this module is also the synthetic child whose RSS is measured.
    from bench._node_site import write_site  # noqa: PLC0415
    from simulator.mosquitto import mosquitto_path, running_mosquitto  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        broker = None
        if mosquitto_path() is not None:
            running = stack.enter_context(running_mosquitto())
            broker = f"{running.host}:{running.port}"
        write_site(Path(tmp), broker)
        out = subprocess.run(
            [sys.executable, "-m", "bench._node_process", tmp, str(idle_s), str(load_s)],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(samples: int = SAMPLES, load_s: float = LOAD_S, idle_s: float = 2.0) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sync in (Synchronous.FULL, Synchronous.NORMAL):
            path = Path(tmp) / f"{sync.value.lower()}.sqlite"
            results[sync.value.lower()] = asyncio.run(_measure(path, sync, samples))
        tmp_dir = tmp
    full, normal = results["full"], results["normal"]
    results["full_over_normal"] = {
        f"{figure}_{p}": round(full[figure][p] / max(normal[figure][p], 0.1), 1)
        for figure in ("submit", "append_commit")
        for p in ("p50_us", "p99_us")
    }
    results["chosen"] = "FULL"
    results["order"] = "actuate, then submit (the relay never waits on the commit)"
    results["tmp_dir"] = tmp_dir
    node = _real_node_rss(load_s, idle_s)
    results["node_rss"] = {
        **node,
        "measured": "a gateway node process (node_service: outbox FULL, publisher to our own "
        "Mosquitto, heartbeat, sync) with bench.decide's policy (10k grants), a 1.2 M entry "
        "status list, the memory reader, a chip card tapped at 20/s (each verified)",
    }
    rss = _rss(load_s, idle_s)
    results["rss"] = {
        **rss,
        "measured": "synthetic child: node runtime imported, site policy compiled, "
        "DoorController on MockFactory, outbox FULL; no reader, no status list, no link",
    }
    results["targets"] = {
        "idle_rss_under_80mb": node["idle_rss_mb"] < IDLE_TARGET_MB,
        "synthetic_idle_rss_under_80mb": rss["idle_rss_mb"] < IDLE_TARGET_MB,
    }
    return results


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        load = float(sys.argv[2]) if len(sys.argv) > 2 else LOAD_S
        idle = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
        print(json.dumps(asyncio.run(_child(load, idle))))
    else:
        print(json.dumps(run(), indent=2))
