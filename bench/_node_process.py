"""A real gate node process for ``bench node``'s memory figures.

``python -m bench._node_process DIR IDLE_S LOAD_S`` (the parent writes DIR first)

``bench._node_site.write_site`` (in the parent) writes what an installer
would: the issuer's anchors, the status-list signer, a 1.2 M entry status
list token, ``bench.decide``'s site policy (50 organisations, 200 doors,
10,000 grants) signed, and a node config for door ``b0-z0-in`` with
``[state]`` and, given a broker, ``[mqtt]``. The child
runs the node ``gateway node`` runs (config → parts → :func:`node_service`:
outbox FULL, publisher, heartbeat, sync) with the memory reader, idles, then
taps a chip card at 20 taps/s, and prints one JSON line of VmRSS figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.config.loader import load_node_config
from gateway.logging_setup import configure_logging
from gateway.node.readers.memory import MemoryReader
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from gateway.node.runtime.assemble import node_service
from simulator.holder.chip_card import ChipCard

TAPS_PER_S = 20


def _rss_kb() -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def _main(root: Path, idle_s: float, load_s: float) -> dict[str, Any]:
    configure_logging("WARNING")
    loaded = load_node_config(root / "node.toml")
    options = NodeOptions(simulated=True, status_tokens=[root / "site" / "status.cwt"])
    parts = build_parts(loaded, options, now=dt.datetime.now(dt.UTC))
    await parts.reader.close()
    reader = MemoryReader()
    parts.reader = reader
    gate = GateNode(parts, retap_holdoff_s=0.0)
    service = node_service(loaded, gate)
    await service.start()
    if service.publisher is not None:
        async with asyncio.timeout(30):
            await service.publisher.connected.wait()
    await asyncio.sleep(idle_s)  # the figure is what an idle node holds after this long
    idle = _rss_kb()
    spec = json.loads((root / "site" / "card.json").read_text())
    key = load_pem_private_key(spec["key"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    card = ChipCard(bytes.fromhex(spec["object"]), key)
    taps = 0
    start = time.monotonic()
    while time.monotonic() - start < load_s:
        link = reader.present(taps.to_bytes(4, "big"), card)
        await link.closed.wait()
        taps += 1
        await asyncio.sleep(max(0.0, start + taps / TAPS_PER_S - time.monotonic()))
    await service.outbox.flush()
    loaded_rss = _rss_kb()
    events = service.outbox.head[0]
    delivered = 0
    if service.publisher is not None:
        async with asyncio.timeout(30):
            await service.publisher.wait_delivered(events)
        delivered = service.publisher.delivered_seq
    await service.shutdown("bench over")
    return {
        "idle_rss_mb": round(idle[0] / 1024, 1),
        "loaded_rss_mb": round(loaded_rss[0] / 1024, 1),
        "peak_rss_mb": round(loaded_rss[1] / 1024, 1),
        "taps": taps,
        "events_logged": events,
        "events_delivered": delivered,
        "linked": service.publisher is not None,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))))
