"""The gate node end to end: config → verifier, policy, door, reader; taps over a real nfcpy link.

A world of real keys issues a phone credential, a chip card (then revoked) and a
phone from an organization the site policy does not know; a signed policy lets
행정안전부 (1741000) into building 6 in office hours. The node is built from
``config/examples/node-simulated.toml`` written into ``tmp_path`` with those files,
runs its loop as a task on MockFactory pins, and a virtual card (:class:`NfcTarget`)
is put into the field of its udp reader for each tap. The wall clock is injected:
a Tuesday morning in March 2026 (the Monday is 삼일절's substitute holiday).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.config.loader import load_node_config
from gateway.credentials import csid, mdoc
from gateway.credentials.status_list import Status
from gateway.node.door import FakeClock
from gateway.node.policy import sign_document
from gateway.node.runtime import GateNode, NodeOptions, NodeParts, build_parts
from simulator.holder.chip_card import ChipCard, UidOnlyCard
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet
from tests.credentials.conftest import Holder, claims_for, make_world
from tests.node.policy.site import SITE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "examples" / "node-simulated.toml"
GATEWAY = Path(sys.executable).parent / "gateway"
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.UTC)  # Tuesday 09:30 in Korea
DEADLINE = 10.0

WORLD = make_world()  # keys are slow to make: one issuer for the module
PHONE = WORLD.issue(1)  # H0000001, 행정안전부
CARD = WORLD.issue_card(2)  # H0000002, revoked below
WORLD.set_status(CARD.index, Status.INVALID)


def _visitor(n: int) -> Holder:
    """A phone of an organization the policy does not list."""
    claims = dataclasses.replace(
        claims_for(n), organization="외부기관", organization_code="1311999"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    index = WORLD.next_index
    issued = mdoc.issue(
        doctype=csid.DOCTYPE,
        namespaces={csid.NAMESPACE: claims.elements()},
        device_key=key.public_key(),
        validity=WORLD.validity(),
        signer_key=WORLD.ds.key,
        x5chain=[WORLD.ds.der],
        status=WORLD._reference(),
    )
    return Holder(key, issued, index)


VISITOR = _visitor(3)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
POLICY = {
    "version": 3,
    "site": "sejong-6",
    "issued_at": "2026-03-01T00:00:00+09:00",
    "schedules": {
        "office": {
            "windows": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
            ]
        }
    },
    "buildings": {"b6": {"name": "6동"}},
    "zones": {"b6-lobby": {"building": "b6"}},
    "doors": {"b6-in": {"zone": "b6-lobby", "direction": "entry"}},
    "organizations": {"1741000": {"name": "행정안전부", "home_buildings": ["b6"]}},
    "posture_defaults": SITE["posture_defaults"],
}


def write_site(root: Path, nfc: str) -> Path:
    """The example config and the files it names, with this world's keys, under ``root``."""
    files = root / "simulated"
    files.mkdir(parents=True, exist_ok=True)
    policy_key = ec.generate_private_key(ec.SECP256R1())
    (files / "policy-signer.pem").write_bytes(
        policy_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    payload = json.dumps(POLICY, ensure_ascii=False).encode()
    (files / "policy.cose").write_bytes(sign_document(payload, policy_key))
    (files / "trust-anchors.pem").write_bytes(WORLD.iaca.cert_pem())
    (files / "status-list-signer.pem").write_bytes(WORLD.status_signer.cert_pem())
    (files / "status.cwt").write_bytes(WORLD.token(iat=int(NOW.timestamp()) - 60))
    text = EXAMPLE.read_text(encoding="utf-8")
    assert 'nfc = "udp:127.0.0.1:50000"' in text
    config = root / "node.toml"
    config.write_text(text.replace("udp:127.0.0.1:50000", nfc), encoding="utf-8")
    return config


class Events:
    """The node's events as a listener sees them; wait for one with a timeout, never a sleep."""

    def __init__(self, on_decision: Callable[[], None]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._on_decision = on_decision
        self.walk_away = True  # False: the holder leaves the card on the reader
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []

    def __call__(self, record: dict[str, Any]) -> None:
        self.seen.append(record)
        if record["event"] == "decision" and self.walk_away:
            self._on_decision()  # the holder walks away before the reader looks again
        for match, future in self._waiters:
            if not future.done() and match(record):
                future.set_result(record)

    async def next(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, future))
        async with asyncio.timeout(DEADLINE):
            return await future

    def of(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.seen
            if r["event"] == event and all(r.get(k) == v for k, v in fields.items())
        ]


@pytest.fixture
def target() -> Iterator[NfcTarget]:
    with NfcTarget(UidOnlyCard()) as field:
        field.present = False
        yield field


@dataclasses.dataclass
class Running:
    gate: GateNode
    parts: NodeParts
    events: Events
    target: NfcTarget

    async def tap(self, responder: Any) -> dict[str, Any]:
        self.target.responder = responder
        decided = self.events.next(lambda r: r["event"] == "decision" and r["stage"] != "read")
        task = asyncio.ensure_future(decided)
        self.target.present = True
        return await task


@pytest.fixture
async def node(tmp_path: Path, target: NfcTarget) -> AsyncIterator[Running]:
    config = write_site(tmp_path, target.path)
    loaded = load_node_config(config)
    options = NodeOptions(
        simulated=True, status_tokens=[tmp_path / "simulated" / "status.cwt"], apdu_timeout=0.5
    )
    parts = build_parts(loaded, options, now=NOW, clock=FakeClock())
    events = Events(lambda: setattr(target, "present", False))
    gate = GateNode(parts, now=lambda: NOW, listeners=(events,))
    await gate.start()
    task = asyncio.create_task(gate.run())
    try:
        yield Running(gate, parts, events, target)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gate.close("test over")


def relay_shows_locked(parts: NodeParts) -> bool:
    """What the relay's GPIO level means for the lock, computed from the pin, not the device."""
    relay = parts.devices.relay
    level = bool(parts.pin_factory.pin(parts.devices.pins.relay).state)
    coil = level == relay.active_high
    return bool(coil == parts.devices.wiring.relay_on_for(True))


async def test_a_valid_phone_unlocks_the_door(node: Running) -> None:
    assert relay_shows_locked(node.parts)
    decision = await node.tap(PhoneNfc(Wallet([(PHONE.issuer_signed, PHONE.device_key)])))
    assert decision["granted"] is True, decision
    assert decision["rule"] == "org_hours:b6"
    assert decision["holder_id"] == "H0000001"
    assert decision["stage"] == "policy"
    assert node.events.of("door", door_event="granted", subject="H0000001")
    assert not relay_shows_locked(node.parts)
    assert not node.parts.devices.locked
    [tap] = node.events.of("tap", kind="mobile")
    assert tap["read"] == "ok"
    assert tap["verify_ms"] is not None


async def test_a_revoked_card_stays_locked_and_the_log_says_revoked(node: Running) -> None:
    decision = await node.tap(ChipCard(CARD.card_object, CARD.card_key))
    assert decision["granted"] is False
    assert decision["reason"] == "revoked"
    assert decision["rule"] == "credential:revoked"
    assert decision["stage"] == "credential"
    assert not node.events.of("door", door_event="granted")
    assert relay_shows_locked(node.parts)


async def test_a_person_the_policy_refuses_is_named_with_the_rule(node: Running) -> None:
    decision = await node.tap(PhoneNfc(Wallet([(VISITOR.issuer_signed, VISITOR.device_key)])))
    assert decision["granted"] is False
    assert decision["reason"] is None  # the credential itself is fine
    assert decision["rule"] == "default_deny"
    assert decision["detail"] == "no rule grants entry"
    assert decision["organization_code"] == "1311999"
    assert relay_shows_locked(node.parts)


async def test_passage_updates_antipassback_only_when_the_door_opens(node: Running) -> None:
    await node.tap(PhoneNfc(Wallet([(PHONE.issuer_signed, PHONE.device_key)])))
    assert node.gate.state.occupancy == {}  # granted, nobody through yet
    contact = node.parts.devices.pins.contact
    assert contact is not None
    opened = node.events.next(lambda r: r["event"] == "passage")
    node.parts.pin_factory.pin(contact.pin).drive_high()  # NC contact: the door opens
    passage = await opened
    assert passage["holder_id"] == "H0000001"
    assert node.gate.state.occupancy == {"H0000001": "b6-lobby"}


async def test_close_relocks_and_says_so(node: Running) -> None:
    await node.tap(PhoneNfc(Wallet([(PHONE.issuer_signed, PHONE.device_key)])))
    assert not node.parts.devices.locked
    await node.gate.close("test")
    [shutdown] = node.events.of("door", door_event="shutdown")
    assert shutdown["locked"] == "true"  # a fail-secure strike stays locked
    assert node.events.of("node", phase="stopped")


async def test_a_maglock_is_left_released_at_shutdown(tmp_path: Path) -> None:
    config = write_site(tmp_path, "udp:127.0.0.1:50000")
    text = config.read_text(encoding="utf-8").replace('"fail-secure"', '"fail-safe"')
    config.write_text(text, encoding="utf-8")
    parts = build_parts(load_node_config(config), NodeOptions(simulated=True), now=NOW)
    seen: list[dict[str, Any]] = []
    gate = GateNode(parts, now=lambda: NOW, listeners=(seen.append,))
    await gate.start()
    assert relay_shows_locked(parts)
    await gate.close("test")
    [shutdown] = [r for r in seen if r.get("door_event") == "shutdown"]
    assert shutdown["locked"] == "false"  # fail-safe: released, as it is without power
    assert shutdown["when_node_stops"] == "unlocked"


async def test_door_alarms_are_logged_as_alarms(node: Running) -> None:
    tamper = node.parts.devices.pins.tamper
    assert tamper is not None
    tripped = node.events.next(lambda r: r.get("door_event") == "tamper_alarm")
    node.parts.pin_factory.pin(tamper.pin).drive_high()  # the cover comes off
    assert (await tripped)["is_alarm"] is True
    cleared = node.events.next(lambda r: r.get("door_event") == "alarm_cleared")
    node.parts.pin_factory.pin(tamper.pin).drive_low()
    record = await cleared
    assert record["alarm"] == "tamper_alarm"
    assert record["is_alarm"] is False


async def test_a_card_left_on_the_reader_is_judged_once(node: Running) -> None:
    # A long hold-off, so a loaded machine that misses the card for a moment
    # cannot turn one long tap into two.
    node.gate.retap_holdoff_s = 60.0
    node.events.walk_away = False
    repeat = node.events.next(lambda r: r["event"] == "tap" and r.get("read") == "repeat")
    waiting = asyncio.ensure_future(repeat)
    decision = await node.tap(PhoneNfc(Wallet([(PHONE.issuer_signed, PHONE.device_key)])))
    assert decision["granted"] is True
    await waiting  # the reader saw it again, and let it be
    node.target.present = False
    assert len(node.events.of("decision")) == 1
    assert len(node.events.of("door", door_event="granted")) == 1


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_sigterm_relocks_flushes_and_exits_0(tmp_path: Path) -> None:
    config = write_site(tmp_path, f"udp:127.0.0.1:{_free_udp_port()}")
    token = tmp_path / "simulated" / "status.cwt"
    args = [
        str(GATEWAY),
        "node",
        "--config",
        str(config),
        "--simulated",
        "--status-token",
        str(token),
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    lines = _stderr_lines(proc)
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=DEADLINE)
            assert line is not None, f"the node ended before it started:\n{''.join(seen)}"
            seen.append(line)
            if json.loads(line).get("phase") == "started":
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while (line := lines.get(timeout=DEADLINE)) is not None:
        seen.append(line)
    records = [json.loads(line) for line in seen]  # every line is one JSON object
    [shutdown] = [r for r in records if r.get("door_event") == "shutdown"]
    assert shutdown["locked"] == "true"
    assert shutdown["when_node_stops"] == "locked"
    stopping = [r for r in records if r.get("phase") == "stopping"]
    assert [r["reason"] for r in stopping] == ["SIGTERM"]
    assert records[-1]["phase"] == "stopped"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATEWAY), "node", *args], check=False, capture_output=True, text=True, timeout=DEADLINE
    )


def test_a_broken_config_exits_2_naming_the_file_and_key(tmp_path: Path) -> None:
    config = write_site(tmp_path, "udp:127.0.0.1:50000")
    text = config.read_text(encoding="utf-8").replace('"fail-secure"', '"fail-secur"')
    config.write_text(text, encoding="utf-8")
    result = _run("--config", str(config), "--simulated")
    assert result.returncode == 2, result.stderr
    assert str(config) in result.stderr
    assert "door.lock_type" in result.stderr
    assert "fail-secure" in result.stderr  # the hint offers the right spelling


def test_a_missing_policy_file_exits_2_naming_the_paths_key(tmp_path: Path) -> None:
    config = write_site(tmp_path, "udp:127.0.0.1:50000")
    (tmp_path / "simulated" / "policy.cose").unlink()
    result = _run("--config", str(config), "--simulated")
    assert result.returncode == 2, result.stderr
    assert f"{config}:" in result.stderr
    assert "paths.policy" in result.stderr


def test_simulated_needs_the_udp_radio(tmp_path: Path) -> None:
    config = write_site(tmp_path, "tty:AMA0:pn532")
    result = _run("--config", str(config), "--simulated")
    assert result.returncode == 2, result.stderr
    assert "readers.nfc" in result.stderr
    assert "udp:127.0.0.1" in result.stderr
