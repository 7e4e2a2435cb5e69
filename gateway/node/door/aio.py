"""The door on an asyncio loop: gpiozero edges cross threads here, and only here.

gpiozero calls ``when_activated``/``when_deactivated`` on the thread that drives
the pin (lgpio's callback thread on a Pi, the test's own thread with MockFactory).
:class:`AsyncDoor` hands each edge to the loop with ``loop.call_soon_threadsafe``,
so the synchronous :class:`DoorController` only ever runs on the loop's thread,
and it arms one ``loop.call_later`` timer for the controller's next deadline.
"""

from __future__ import annotations

import asyncio
import contextlib

from gateway.node.door.controller import DoorController, RemoteRefusal
from gateway.node.door.devices import DoorInput


class AsyncDoor:
    def __init__(self, controller: DoorController, loop: asyncio.AbstractEventLoop) -> None:
        self.controller = controller
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._started = False

    @classmethod
    async def start(cls, controller: DoorController) -> AsyncDoor:
        door = cls(controller, asyncio.get_running_loop())
        controller.devices.subscribe(door._from_gpio_thread)
        door._started = True
        door._reschedule()
        return door

    @property
    def timer_delay(self) -> float | None:
        """Seconds from now until the armed timer fires, on the loop's clock; None if idle."""
        if self._timer is None:
            return None
        return self._timer.when() - self._loop.time()

    def grant(self, subject: str = "") -> bool:
        result = self.controller.grant(subject)
        self._reschedule()
        return result

    def remote_unlock(
        self, seconds: float, *, operator: str, command_id: str
    ) -> RemoteRefusal | None:
        refusal = self.controller.remote_unlock(seconds, operator=operator, command_id=command_id)
        self._reschedule()
        return refusal

    def remote_relock(self, *, operator: str, command_id: str) -> RemoteRefusal | None:
        refusal = self.controller.remote_relock(operator=operator, command_id=command_id)
        self._reschedule()
        return refusal

    def set_lockdown(self, on: bool, reason: str = "") -> None:
        self.controller.set_lockdown(on, reason)
        self._reschedule()

    def reset_fire(self) -> bool:
        result = self.controller.reset_fire()
        self._reschedule()
        return result

    def close(self) -> None:
        """Stop listening, cancel the timer and leave the lock as its type requires."""
        self.controller.devices.subscribe(None)
        self._started = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.controller.relock_for_shutdown()

    def _from_gpio_thread(self, name: DoorInput, asserted: bool) -> None:
        # A loop already closed at shutdown has nobody left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_input, name, asserted)

    def _on_input(self, name: DoorInput, asserted: bool) -> None:
        if not self._started:
            return
        self.controller.handle_input(name, asserted)
        self._reschedule()

    def _on_timer(self) -> None:
        self._timer = None
        self.controller.tick()
        self._reschedule()

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.controller.next_deadline()
        if deadline is None or not self._started:
            return
        delay = max(0.0, deadline - self.controller.clock.now())
        self._timer = self._loop.call_later(delay, self._on_timer)
