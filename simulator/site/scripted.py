"""Scripted events: the authority's changes, postures, lockdown, fire, and doors misused.

Each handler acts on the real authority and the real nodes, and tells the
ground truth what happened (the truth keeps its own record; it never asks a node).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.node.policy import Posture
from simulator.holder.chip_card import ChipCard
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet
from simulator.site import faults, physics
from simulator.site.gates import SimGate
from simulator.site.population import ACTOR
from simulator.site.scenario import FAULT_KINDS, Event
from simulator.site.site_files import HELD_OPEN_SECONDS

if TYPE_CHECKING:
    from simulator.site.run import Site

STATUS = {"lost": "invalid", "reissue": "invalid", "suspend": "suspended", "resume": "valid"}


async def apply(site: Site, event: Event) -> None:
    if event.kind in STATUS:
        await credential_change(site, event)
    elif event.kind in FAULT_KINDS:
        await faults.apply(site, event)
    elif event.kind == "posture":
        assert event.level is not None
        set_posture(site, event.building, event.level)
    elif event.kind in ("lockdown", "fire", "drill"):
        await emergency(site, event, on=True)
        site.schedule(site.clock.t + event.minutes * 60, emergency, site, event, False)
    else:
        assert event.gate is not None
        site.jobs[event.gate].append(lambda: door_job(site, event))
        site.kick(event.gate)


async def credential_change(site: Site, event: Event) -> None:
    assert event.role is not None
    person = site.population.cast[event.role]
    authority, now = site.population.authority, site.clock.wall()
    changed = person.serial
    if event.kind == "lost":
        authority.report_lost(person.serial, now=now, actor=ACTOR, reason="phone lost")
    elif event.kind == "reissue":
        key = ec.generate_private_key(ec.SECP256R1())
        issued = authority.reissue(
            person.serial, now=now, actor=ACTOR, reason="reissue: new device", key=key.public_key()
        )
        person.old_devices.append((person.device, person.serial))
        person.device = (
            PhoneNfc(Wallet([(issued.document, key)]))
            if person.credential == "mobile"
            else ChipCard(issued.document, key)
        )
        person.serial = issued.serial
    elif event.kind == "suspend":
        authority.suspend(person.holder_id, now=now, actor=ACTOR, reason="leave")
    else:
        authority.resume(person.holder_id, now=now, actor=ACTOR, reason="back from leave")
    propagation = await site.publish_status()
    site.truth.installed(changed, STATUS[event.kind], site.clock.t)
    site.recorder.revocations.append(
        {
            "event": event.kind,
            "role": event.role,
            "serial": changed,
            "at_s": site.clock.t,
            **propagation,
        }
    )


def _gates_in(site: Site, building: str | None) -> list[SimGate]:
    return [g for g in site.gates if building is None or g.building == building]


def set_posture(site: Site, building: str | None, level: str) -> None:
    for gate in _gates_in(site, building):
        gate.set_posture(Posture(level))
    for b in site.scenario.buildings:
        if building is None or b.id == building:
            site.truth.postures[b.id] = level


async def emergency(site: Site, event: Event, on: bool) -> None:
    """Lockdown, fire or drill over the building (or the whole complex), and its end."""
    gates = _gates_in(site, event.building)
    posture = "lockdown" if event.kind == "lockdown" else "fire"
    if on:
        site.saved_postures = dict(site.truth.postures)
        set_posture(site, event.building, posture)
    else:
        for b in site.scenario.buildings:
            if event.building is None or b.id == event.building:
                set_posture(site, b.id, site.saved_postures.get(b.id, "normal"))
    for gate in gates:
        if event.kind == "lockdown":
            if gate.direction == "entry":  # exits stay free: nobody is held in
                gate.door.set_lockdown(on, "scenario lockdown")
        else:
            await physics.fire_panel(gate, on)
            if not on:
                gate.door.reset_fire()
        site.arm(gate)


async def door_job(site: Site, event: Event) -> float:
    """A door misused at one gate; returns when the gate is free again (sim seconds)."""
    gate = site.gate(event.gate or "")
    t = site.clock.t
    lockdown = site.truth.posture(gate.building) == "lockdown"
    if event.kind == "tamper":
        await physics.tamper(gate, True)
        site.recorder.expect_alarm(gate.gate_id, "tamper_alarm")
        site.schedule(t + physics.TAMPER_S, _untamper, site, gate)
        return t
    if event.kind == "tailgate":
        site.tailgate.add(gate.gate_id)
        return t
    opens = max(t, site.last_passage_end.get(gate.gate_id, -1e9) + physics.FORCE_WAIT_S)
    if event.kind == "forced":
        closes = opens + physics.CLOSE_AFTER_FORCE_S
        site.recorder.expect_alarm(gate.gate_id, "forced_alarm")
    else:  # held_open: out through the exit button, and the door propped open
        site.schedule(opens - 0.5, _press, site, gate)
        closes = opens + event.seconds
        if lockdown:
            site.recorder.expect_alarm(gate.gate_id, "forced_alarm")
        elif event.seconds >= HELD_OPEN_SECONDS:
            site.recorder.expect_alarm(gate.gate_id, "held_open_alarm")
    site.schedule(opens, _move, site, gate, True)
    site.schedule(closes, _move, site, gate, False)
    return closes + 0.5


async def _press(site: Site, gate: SimGate) -> None:
    await physics.press_exit_button(gate)
    site.arm(gate)


async def _move(site: Site, gate: SimGate, open_: bool) -> None:
    await (physics.door_opens if open_ else physics.door_closes)(gate)
    if not open_:
        site.last_passage_end[gate.gate_id] = site.clock.t
    site.arm(gate)


async def _untamper(site: Site, gate: SimGate) -> None:
    await physics.tamper(gate, False)
