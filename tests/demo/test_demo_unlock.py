"""The demo's duty desk: a remote unlock from the viewer's actions opens a simulated gate.

The command is signed with the duty-desk key the site's policy lists, carries the
simulation's time, travels the embedded broker with a login, and the gate's real
command gate accepts it and moves the door.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from simulator.demo.run import DEMO_SCENARIO, duty_desk
from simulator.site.run import Site
from simulator.site.scenario import load_scenario


async def test_the_duty_desk_unlocks_a_gate_of_the_running_demo(tmp_path: Path) -> None:
    commands: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    def listeners_for(gate: str) -> tuple[Any, ...]:
        def listen(record: dict[str, Any]) -> None:
            if record.get("event") == "command":
                commands.append({**record, "gate": gate})
                arrived.set()

        return (listen,)

    site = Site(load_scenario(DEMO_SCENARIO), tmp_path, listeners_for)
    await site.setup()
    try:
        gate = site.gates[0]
        command_id = await duty_desk(site).unlock(
            node=gate.gate_id, door=gate.gate_id, seconds=7, actor="demo-operator"
        )
        async with asyncio.timeout(15):
            await arrived.wait()
        state = gate.controller.state.value
    finally:
        await site.close()
    [done] = commands
    assert (done["gate"], done["outcome"], done["command_id"]) == (gate.gate_id, "done", command_id)
    assert done["operator"] == "duty-desk"
    assert state == "unlocked_for_grant"
