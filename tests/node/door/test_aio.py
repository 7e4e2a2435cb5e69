"""The asyncio adapter: gpiozero edges from another thread run the controller on the loop."""

from __future__ import annotations

import asyncio
import threading

from gateway.node.door import (
    AsyncDoor,
    Clock,
    DoorController,
    DoorEvent,
    DoorEventKind,
    DoorState,
)
from tests.node.door.rig import Rig

K = DoorEventKind


class LoopClock:
    """The loop's own monotonic clock, so its timers and the controller agree."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()


class Recorder:
    """The event sink: what arrived, on which thread, and a way to await a kind."""

    def __init__(self) -> None:
        self.events: list[DoorEvent] = []
        self.threads: set[int] = set()
        self._arrived = asyncio.Event()

    def __call__(self, event: DoorEvent) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(event)
        self._arrived.set()

    @property
    def kinds(self) -> list[DoorEventKind]:
        return [event.kind for event in self.events]

    async def wait_for(self, kind: DoorEventKind, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while kind not in self.kinds:
                self._arrived.clear()
                await self._arrived.wait()


async def started(rig: Rig, clock: Clock | None = None) -> tuple[AsyncDoor, Recorder]:
    recorder = Recorder()
    controller = DoorController(rig.config, rig.devices, clock or rig.clock, recorder)
    return await AsyncDoor.start(controller), recorder


async def test_edges_from_a_gpio_thread_run_on_the_loop() -> None:
    rig = Rig()
    door, recorder = await started(rig)
    driver = threading.Thread(target=rig.open_door)  # as lgpio's callback thread would
    driver.start()
    driver.join()
    assert recorder.events == []  # handed over, not run on the driving thread
    await recorder.wait_for(K.FORCED_ALARM)
    assert recorder.kinds == [K.DOOR_OPENED, K.FORCED_ALARM]
    assert recorder.threads == {threading.get_ident()}
    door.close()


async def test_grant_arms_a_timer_for_the_unlock_time() -> None:
    rig = Rig(unlock_time_s=5.0)
    door, _ = await started(rig)
    assert door.timer_delay is None
    assert door.grant("kim")
    assert door.timer_delay is not None
    assert 4.9 < door.timer_delay <= 5.0
    door.set_lockdown(True)  # cancels the window, so the timer goes
    assert door.timer_delay is None
    door.close()


async def test_the_timer_relocks_on_the_loop() -> None:
    rig = Rig(unlock_time_s=0.001)
    door, recorder = await started(rig, LoopClock(asyncio.get_running_loop()))
    door.grant()
    assert not rig.locked
    await recorder.wait_for(K.RELOCKED)
    assert door.controller.state is DoorState.LOCKED
    assert rig.locked
    assert door.timer_delay is None
    door.close()


async def test_close_relocks_and_stops_listening() -> None:
    rig = Rig()
    door, recorder = await started(rig)
    door.grant()
    door.close()
    assert rig.locked
    rig.open_door()
    await asyncio.sleep(0)
    assert recorder.kinds == [K.GRANTED, K.SHUTDOWN]
    assert door.timer_delay is None
    assert door.reset_fire()  # nothing latched: a no-op


async def test_an_edge_queued_before_close_is_dropped() -> None:
    rig = Rig()
    door, recorder = await started(rig)
    driver = threading.Thread(target=rig.open_door)
    driver.start()
    driver.join()  # the edge now waits on the loop
    door.close()
    await asyncio.sleep(0)
    assert recorder.kinds == [K.SHUTDOWN]
