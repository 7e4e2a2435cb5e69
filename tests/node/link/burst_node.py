"""A real gate node in its own process, driven by a burst of card taps through the memory reader.

Usage: ``python -m tests.node.link.burst_node CONFIG CARDS FIRST LAST``

The node is the one ``gateway node`` runs (config → parts → :func:`node_service`:
outbox, publisher, heartbeat), with the NFC radio swapped for
:class:`~gateway.node.readers.memory.MemoryReader` so a thousand taps take
seconds. ``CARDS`` is a JSON file of ``[card_object_hex, card_key_pem]``
pairs; tap ``i`` presents card ``i % len(cards)``. After each tap the child
waits for the outbox to commit and prints ``committed I SEQ`` (SEQ: the
outbox head), so the parent knows which decisions are on disk when it
sends SIGKILL. With the last tap done it waits until the broker acknowledged
every event and prints ``delivered SEQ``, then stays up until killed or
terminated.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.config.loader import load_node_config
from gateway.logging_setup import configure_logging
from gateway.node.readers.memory import MemoryReader
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from gateway.node.runtime.assemble import node_service
from gateway.node.runtime.node import utc_now
from simulator.holder.chip_card import ChipCard


def _cards(path: Path) -> list[ChipCard]:
    cards = []
    for obj_hex, key_pem in json.loads(path.read_text()):
        key = load_pem_private_key(key_pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cards.append(ChipCard(bytes.fromhex(obj_hex), key))
    return cards


async def main(config: Path, cards_file: Path, first: int, last: int) -> None:
    loaded = load_node_config(config)
    parts = build_parts(loaded, NodeOptions(simulated=True), now=utc_now())
    reader = MemoryReader()
    parts.reader = reader
    gate = GateNode(parts, retap_holdoff_s=0.0)
    service = node_service(loaded, gate)
    cards = _cards(cards_file)
    await service.start()
    assert service.publisher is not None
    for i in range(first, last):
        uid = i.to_bytes(4, "big")
        link = reader.present(uid, cards[i % len(cards)])
        await link.closed.wait()
        await service.outbox.flush()
        print(f"committed {i} {service.outbox.head[0]}", flush=True)
    await service.outbox.flush()
    head = service.outbox.head[0]
    await service.publisher.wait_delivered(head)
    print(f"delivered {head}", flush=True)
    await asyncio.Future()  # until killed


if __name__ == "__main__":
    configure_logging("WARNING")
    config_path, cards_path, first_tap, last_tap = sys.argv[1:5]
    asyncio.run(main(Path(config_path), Path(cards_path), int(first_tap), int(last_tap)))
