"""What the node does with each message from the centre: sync documents and commands.

Every message arrives on a topic the registry knows (``topics.match``); the
sync topics go to the :class:`~gateway.node.sync.Syncer`, the node's own
``commands`` topic to the :class:`~gateway.node.commands.CommandGate`. Each
outcome is an event in the node's outbox (so the centre sees refusals and
forgeries too), and a command's result is also published on
``command-results``. A forced resync unsubscribes and subscribes again, which
makes the broker send the retained documents afresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence

import aiomqtt
import structlog

from gateway.mqtt import topics
from gateway.mqtt.payloads import ResendRequest
from gateway.node.commands import (
    Accepted,
    CommandGate,
    CommandOutcome,
    refused_outcome,
    run_command,
)
from gateway.node.policy import CompiledPolicy, LoadedPolicy
from gateway.node.publisher import Publisher
from gateway.node.runtime.memory import return_freed_memory
from gateway.node.runtime.node import GateNode
from gateway.node.sync import AppliedPosture, Syncer

log = structlog.get_logger("gateway.node")
SYNC_TOPICS = ("status_list", "status_list_delta", "policy", "posture", "trust_anchors")
_RESYNC_TOPICS = {
    "status_list": ("status_list", "status_list_delta"),
    "policy": ("policy",),
    "posture": ("posture",),
    "trust_anchors": ("trust_anchors",),
}


class GateSink:
    """Installs what the syncer accepted into the running gate, always on the gate's own loop.

    The syncer runs on a worker thread (its persistence fsyncs, a few ms a message on an
    SD card, must not hold up a tap), so a call from there is handed to the loop.
    """

    def __init__(self, gate: GateNode) -> None:
        self.gate = gate
        self.loop: asyncio.AbstractEventLoop | None = None

    def _on_loop(self, fn: Callable[..., None], *args: object) -> None:
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def install_policy(self, loaded: LoadedPolicy, compiled: CompiledPolicy) -> None:
        self._on_loop(self._install_policy, loaded, compiled)

    def install_posture(self, posture: AppliedPosture) -> None:
        self._on_loop(self._install_posture, posture)

    def _install_policy(self, loaded: LoadedPolicy, compiled: CompiledPolicy) -> None:
        parts = self.gate.parts
        if parts.door_id not in compiled.doors:
            # A policy without this door would leave it with no rule at all: keep the old one
            # and say so; the centre must fix the document.
            self.gate.emit(
                "security",
                is_alarm=True,
                what="policy",
                reason="door_missing",
                detail=f"policy {loaded.document.version} has no door {parts.door_id!r}",
            )
            return
        parts.policy, parts.loaded_policy = compiled, loaded
        parts.policy_version = loaded.document.version
        return_freed_memory()  # the old policy and the new one's parse

    def _install_posture(self, posture: AppliedPosture) -> None:
        self.gate.state = posture.applied_to(self.gate.state)
        door = self.gate.door
        building = self._building()
        if door is not None:
            lockdown = self.gate.state.posture_for(building).value == "lockdown"
            door.set_lockdown(lockdown, reason=posture.reason or f"posture {posture.version}")

    def _building(self) -> str:
        document = self.gate.parts.policy.document
        door = document.doors.get(self.gate.parts.door_id)
        zone = document.zones.get(door.zone) if door else None
        return zone.building if zone else ""


class NodeInbound:
    def __init__(
        self,
        gate: GateNode,
        syncer: Syncer,
        sink: GateSink,
        commands: CommandGate,
        *,
        site: str,
        node_id: str,
        now: Callable[[], dt.datetime],
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self.gate = gate
        self.syncer = syncer
        self.commands = commands
        self.site, self.node_id = site, node_id
        self.now = now
        self.sink = sink
        self.flush = flush
        self.publisher: Publisher | None = None

    def on_started(self) -> None:
        """Reinstall what the sync layer kept across the restart, now that the door runs."""
        self.sink.loop = asyncio.get_running_loop()
        for event in self.syncer.restore(self.now()):
            self.gate.emit(event.kind, **event.fields)

    def subscriptions(self) -> Sequence[tuple[str, int]]:
        subs = [(topics.subscription(n, site=self.site), topics.get(n).qos) for n in SYNC_TOPICS]
        own = [
            (topics.subscription(name, site=self.site, node=self.node_id), topics.get(name).qos)
            for name in ("commands", "resend")
        ]
        return [*subs, *own]

    def attach_publisher(self, publisher: Publisher) -> None:
        """Where a collector's resend request goes (set by the node service)."""
        self.publisher = publisher

    async def handle(
        self, client: aiomqtt.Client, topic: str, payload: bytes, *, retained: bool
    ) -> None:
        found = topics.match(topic)
        if found is None or found.params.get("site") != self.site:
            log.warning("inbound_unknown_topic", topic=topic)
            return
        if found.name == "commands":
            await self._command(client, payload, retained)
            return
        if found.name == "resend":
            self._resend(payload, retained)
            return
        events = await asyncio.to_thread(
            self.syncer.handle, found.name, found.params, payload, retained=retained, now=self.now()
        )
        for event in events:
            self.gate.emit(event.kind, **event.fields)

    def _resend(self, payload: bytes, retained: bool) -> None:
        try:
            request = ResendRequest.model_validate_json(payload)
        except ValueError as exc:
            self.gate.emit("resend", outcome="refused", reason="invalid", detail=str(exc)[:200])
            return
        if retained or (request.site, request.node) != (self.site, self.node_id):
            self.gate.emit("resend", outcome="refused", reason="retained_or_not_ours")
            return
        if self.publisher is None:
            return
        self.publisher.resend(request.from_seq, request.to_seq)
        self.gate.emit("resend", outcome="queued", from_seq=request.from_seq, to_seq=request.to_seq)

    async def _command(self, client: aiomqtt.Client, payload: bytes, retained: bool) -> None:
        now = self.now()
        # Off the loop: recording the nonce is a synchronous SQLite commit.
        verdict = await asyncio.to_thread(self.commands.check, payload, retained=retained, now=now)
        door = self.gate.door
        if isinstance(verdict, Accepted) and door is not None:
            # No door moves without its record on disk: log the accepted command, wait for the
            # commit, then act (docs/reliability.md, "Order of actuation and logging").
            command = verdict.command
            self.gate.emit(
                "command_accepted",
                command_id=command.id,
                operator=verdict.operator_id,
                action=command.do.action,
                detail=command.do.model_dump_json(),
            )
            await self.flush()
            outcome = run_command(
                verdict, {self.gate.parts.door_id: door}, site=self.site, node=self.node_id, now=now
            )
        elif isinstance(verdict, Accepted):
            log.error("command_before_start", command_id=verdict.command.id)
            return
        else:
            outcome = refused_outcome(
                verdict, site=self.site, node=self.node_id, now=now, payload_size=len(payload)
            )
        self.gate.emit("command", **outcome.event)
        await self._publish_result(client, outcome)
        for target in outcome.resync:
            await self._resync(client, target)

    async def _publish_result(self, client: aiomqtt.Client, outcome: CommandOutcome) -> None:
        if outcome.result is None:
            return  # refused before the signature verified: nobody vouched for the id
        spec = topics.get("command_results")
        await client.publish(
            topics.topic_for("command_results", site=self.site, node=self.node_id),
            outcome.result.model_dump_json().encode(),
            qos=spec.qos,
            retain=spec.retain,
        )

    async def _resync(self, client: aiomqtt.Client, target: str) -> None:
        for name in _RESYNC_TOPICS.get(target, ()):
            sub = topics.subscription(name, site=self.site)
            await client.unsubscribe(sub)
            await client.subscribe(sub, qos=topics.get(name).qos)
