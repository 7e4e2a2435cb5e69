"""A tiny node for the kill -9 test: append a burst, print each seq once ``append`` returned.

``python -m tests.node.outbox.burst_child DB KEY COUNT [FULL|NORMAL]`` appends COUNT events in
groups of up to 8 concurrent appends (so group commits really happen) and
prints ``seq`` on stdout, flushed, after each append returns.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.node.outbox import Outbox, Synchronous, load_or_create_node_key


async def burst(db: Path, key_path: Path, count: int, synchronous: Synchronous) -> None:
    outbox = Outbox(db, load_or_create_node_key(key_path), synchronous=synchronous)
    print("ready", flush=True)
    sent = 0
    while sent < count:
        group = min(1 + sent % 8, count - sent)
        tasks = [
            asyncio.ensure_future(outbox.append("decision", {"tap": sent + i, "granted": True}))
            for i in range(group)
        ]
        for task in asyncio.as_completed(tasks):
            event = await task
            sys.stdout.write(f"{event.seq}\n")
            sys.stdout.flush()
        sent += group
    await outbox.aclose()
    print("done", flush=True)


if __name__ == "__main__":
    setting = Synchronous(sys.argv[4]) if len(sys.argv) > 4 else Synchronous.FULL
    asyncio.run(burst(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), setting))
