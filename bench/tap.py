"""Tap to decision over the real nfcpy udp link: a phone (extended and short APDUs) and a card.

The gate side is the production code: :class:`NfcReader` (nfcpy's reader
stack on its worker thread), :func:`read_tap` and :func:`decide` with a
:class:`Verifier` holding a 1.2 M entry status list. The holders (virtual
phone, virtual chip card, in ISO-DEP card emulation on nfcpy's udp driver)
run in a child process (``python -m bench._holder_process``), so
:func:`time.process_time` in this process counts the gate alone: the event
loop and the reader's worker thread.

For each variant it reports tap-to-decision (activation, the APDU phases and
verification) as p50 and p99, each phase with its wall and CPU time, APDU
round trips, ISO-DEP frames and bytes each way, and the gate's CPU per tap
(from the poll that finds the tag to the link's teardown) as a share of the
200 ms budget a Suica gate or an OSDP reader works to (target: < 5 %).

Wall times here are loopback udp between two Python processes, not a radio.
On a real reader the air sets the time, so each variant also gets an air
time estimate from the bytes that crossed it (``air``): the floor of the
bytes alone at 106 and 424 kbit/s, and a framed estimate that adds each
frame's CRC, parity, SOF/EOF and the minimum frame delay time both ways.
nfcpy never raises the bit rate (it sends no PPS after RATS), so 106 kbit/s
is what this stack gets; 424 kbit/s is what a reader that negotiates it
could get. The holder's own processing time (a secure element's signature,
a phone's HCE service) is not modelled.

BLE (18013-5 peripheral server mode) runs through the fake bleak backend in
this process, so its gate CPU is this process's CPU minus the wallet's
``handle()`` (the fake GATT server's bookkeeping still counts as the gate's).
It reports GATT writes, notifications and bytes; there is no radio model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gateway.central.authority import pki
from gateway.credentials import card, csid, mdoc
from gateway.credentials.card import Challenge
from gateway.credentials.status_list import (
    Status,
    StatusCache,
    StatusList,
    StatusReference,
    sign_status_list_token,
)
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import Verifier, VerifierOptions
from gateway.node.proximity.engagement import parse_qr, qr_uri
from gateway.node.proximity.handover import parse_handover_select
from gateway.node.proximity.request import GUARD_DESK_ELEMENTS, build_device_request
from gateway.node.proximity.session import ReaderSession
from gateway.node.readers.ble import BleReader
from gateway.node.readers.nfc import NfcReader
from gateway.node.readers.tap import Exchange, Phase, TapOutcome, decide, read_tap
from simulator.holder.ble_backend import Air  # BLE's holder runs in this process
from simulator.holder.ble_phone import Phone
from simulator.holder.wallet import Wallet

NAME = "tap"
DESCRIPTION = "tap to decision over nfcpy udp (phone, card) and fake BLE: phases, CPU, air time"

NOW = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)
READER_ID = "bench-gate"
STATUS_URI = "https://csid.mpm.go.kr/status/1"
STATUS_ENTRIES = 1_200_000
REVOKED_SHARE = 0.01
SEED = 18013
TAPS = 500  # measured taps per variant
WARMUP = 10  # taps per variant before measuring
BUDGET_S = 0.200  # a Suica gate's tap; OSDP's reply deadline
CPU_TARGET_SHARE = 0.05
APDU_TIMEOUT = 1.0

FC = 13.56e6
BITRATES = {"106": FC / 128, "424": FC / 32}  # 105.9 and 423.75 kbit/s
FRAME_CRC = 2  # CRC_A, not carried by nfcpy's udp driver
FRAME_DELAY_S = 1172 / FC  # ISO/IEC 14443-3 minimum frame delay time, ≈ 86 µs
PHONE_EXTENDED = {"max_command": 0xFFFF, "max_response": 0x10000}
PHONE_SHORT = {"max_command": 255, "max_response": 256}
BLE_MTUS = (517, 185)

log = logging.getLogger(__name__)


# --- the world ------------------------------------------------------------------------


@dataclasses.dataclass
class World:
    verifier: Verifier
    specs: dict[str, dict[str, Any]]  # holder specs for the child process
    issuer_signed: bytes
    device_key: ec.EllipticCurvePrivateKey


def _der(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()).hex()


def build() -> World:
    """An issuer, a 1.2 M entry status list, one phone and one card, and a gate's verifier."""
    keys = pki.new_issuer(
        "행정안전부", organization="행정안전부", not_before=NOW - dt.timedelta(days=400)
    )
    rng = random.Random(SEED)
    statuses = StatusList(STATUS_ENTRIES, bits=2)
    phone_index, card_index = 987_654, 987_655
    for index in rng.sample(range(STATUS_ENTRIES), int(STATUS_ENTRIES * REVOKED_SHARE)):
        if index not in (phone_index, card_index):
            statuses.set(index, Status.INVALID)
    token = sign_status_list_token(
        statuses,
        key=keys.status_signer.key,
        uri=STATUS_URI,
        issued_at=int(NOW.timestamp()) - 60,
        expires_at=None,
        ttl=3600,
    )
    cache = StatusCache({STATUS_URI: keys.status_signer.key.public_key()})
    cache.apply(token, int(NOW.timestamp()))
    claims = csid.CivilServantClaims(
        holder_id="H0000001",
        credential_serial="S0000001-1",
        issue_number="2026-000001",
        name="홍길동",
        organization="행정안전부",
        organization_code="1741000",
        position="행정사무관",
        issue_date=dt.date(2026, 1, 5),
        issuing_authority="행정안전부장관",
        issuing_authority_phone="044-205-1234",
        portrait=b"\xff\xd8\xff\xe0" + rng.randbytes(6000),  # stays on the phone at a door
    )
    signed = NOW - dt.timedelta(days=30)
    validity = mdoc.ValidityInfo(signed, signed, NOW + dt.timedelta(days=335))
    device = ec.generate_private_key(ec.SECP256R1())
    issuer_signed = mdoc.issue(
        doctype=csid.DOCTYPE,
        namespaces={csid.NAMESPACE: claims.elements()},
        device_key=device.public_key(),
        validity=validity,
        signer_key=keys.document_signer.key,
        x5chain=[keys.document_signer.der],
        status=StatusReference(phone_index, STATUS_URI).to_cbor_value(),
    )
    card_claims = dict(claims.elements())
    del card_claims[csid.PORTRAIT]  # the photo is printed on the card
    card_key = ec.generate_private_key(ec.SECP256R1())
    card_object = card.issue_card_object(
        claims=card_claims,
        card_key=card_key.public_key(),
        validity=validity,
        signer_key=keys.document_signer.key,
        x5chain=[keys.document_signer.der],
        status=StatusReference(card_index, STATUS_URI).to_cbor_value(),
    )
    phone: dict[str, Any] = {
        "kind": "phone",
        "issuer_signed": issuer_signed.hex(),
        "device_key": _der(device),
    }
    specs = {
        "phone_extended": {**phone, **PHONE_EXTENDED},
        "phone_short": {**phone, **PHONE_SHORT},
        "card": {"kind": "card", "card_object": card_object.hex(), "card_key": _der(card_key)},
    }
    verifier = Verifier(
        TrustStore([keys.iaca.certificate]), cache, VerifierOptions(reader_id=READER_ID)
    )
    return World(verifier, specs, issuer_signed, device)


# --- figures --------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _median(values: Sequence[int]) -> int:
    return sorted(values)[len(values) // 2]


def _air(frames: int, bytes_out: int, bytes_in: int) -> dict[str, float]:
    """Air time estimates for ``frames`` frame round trips carrying these bytes."""
    total = bytes_out + bytes_in
    figures: dict[str, float] = {}
    for name, bitrate in BITRATES.items():
        figures[f"floor_ms_{name}"] = _ms(total * 8 / bitrate)
    for name, bitrate in BITRATES.items():
        # each byte 8 bits + parity; each frame CRC_A, SOF and EOF, and two frame delays
        bits = (total + 2 * frames * FRAME_CRC) * 9 + 2 * frames * 2
        figures[f"framed_ms_{name}"] = _ms(bits / bitrate + 2 * frames * FRAME_DELAY_S)
    return figures


def _label(exchange: Exchange) -> str:
    names = {0xA4: "SELECT", 0xB0: "READ BINARY", 0xC3: "ENVELOPE", 0xC0: "GET RESPONSE"}
    names[0x88] = "INTERNAL AUTHENTICATE"
    head = exchange.head
    name = names.get(head[1], f"INS {head[1]:02X}")
    if head[1] == 0xA4 and len(head) >= 5:
        name += f" {head[5 : 5 + head[4]].hex().upper()}"
    sw = "lost" if exchange.sw is None else f"{exchange.sw:04X}"
    return (
        f"{exchange.phase.value}: {head[:4].hex().upper()} {name}: "
        f"{exchange.command_size} B → {exchange.response_size} B {sw}, "
        f"{exchange.frames} frame(s), {exchange.bytes_out}/{exchange.bytes_in} B on air"
    )


def _summary(
    outcomes: list[TapOutcome],
    cpu: list[float],
    system: list[float],
    holder_cpu_s: float,
    last: tuple[Exchange, ...],
) -> dict[str, Any]:
    walls = [outcome.wall_s for outcome in outcomes]
    phases: dict[str, Any] = {}
    for phase in outcomes[-1].phases:
        costs = [outcome.phases[phase] for outcome in outcomes if phase in outcome.phases]
        frames = _median([c.frames for c in costs])
        out, into = _median([c.bytes_out for c in costs]), _median([c.bytes_in for c in costs])
        phases[phase.value] = {
            "wall_ms_p50": _ms(_pct([c.wall_s for c in costs], 50)),
            "wall_ms_p99": _ms(_pct([c.wall_s for c in costs], 99)),
            "cpu_ms_p50": _ms(_pct([c.cpu_s for c in costs], 50)),
            "apdus": _median([c.apdus for c in costs]),
            "frames": frames,
            "bytes_out": out,
            "bytes_in": into,
            "air_floor_ms_106": _air(frames, out, into)["floor_ms_106"],
        }
    frames = sum(p["frames"] for p in phases.values())
    bytes_out = sum(p["bytes_out"] for p in phases.values())
    bytes_in = sum(p["bytes_in"] for p in phases.values())
    air = _air(frames, bytes_out, bytes_in)
    cpu_p50, cpu_p99 = _pct(cpu, 50), _pct(cpu, 99)
    wall_p50 = _pct(walls, 50)
    return {
        "taps": len(outcomes),
        "all_granted": all(outcome.granted for outcome in outcomes),
        "tap_to_decision_ms_p50": _ms(wall_p50),
        "tap_to_decision_ms_p99": _ms(_pct(walls, 99)),
        "gate_cpu_ms_p50": _ms(cpu_p50),
        "gate_cpu_ms_p99": _ms(cpu_p99),
        "gate_cpu_share_of_budget_p50": round(cpu_p50 / BUDGET_S, 4),
        "gate_cpu_share_of_budget_p99": round(cpu_p99 / BUDGET_S, 4),
        "gate_cpu_under_target_p50": cpu_p50 < CPU_TARGET_SHARE * BUDGET_S,
        "gate_cpu_under_target_p99": cpu_p99 < CPU_TARGET_SHARE * BUDGET_S,
        "gate_cpu_kernel_ms_mean": _ms(sum(system) / len(system)),  # udp loopback, thread wakeups
        "holder_cpu_ms_mean": _ms(holder_cpu_s / len(outcomes)),
        "apdus": sum(p["apdus"] for p in phases.values()),
        "frames": frames,
        "bytes_out": bytes_out,
        "bytes_in": bytes_in,
        "air": air,
        "ratios": {
            "tap_to_decision_p50_over_budget": round(wall_p50 / BUDGET_S, 4),
            "air_framed_106_over_budget": round(air["framed_ms_106"] / 1e3 / BUDGET_S, 4),
            "air_framed_424_over_budget": round(air["framed_ms_424"] / 1e3 / BUDGET_S, 4),
            "gate_cpu_p50_over_air_framed_106": round(cpu_p50 * 1e3 / air["framed_ms_106"], 4),
            "loopback_p50_over_air_floor_106": round(wall_p50 * 1e3 / air["floor_ms_106"], 3),
        },
        "phases": phases,
        "conversation": {f"{n:02d}": _label(e) for n, e in enumerate(last, 1)},  # the last tap
    }


# --- NFC ------------------------------------------------------------------------------


class _Holders:
    """The child process that holds the phone and the card (``bench/_holder_process.py``)."""

    def __init__(self, specs: dict[str, dict[str, Any]]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._holder_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send(specs)
        self.path = self._expect("ready")

    def _send(self, message: Any) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def _expect(self, what: str) -> Any:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the holder process ended (exit {self._process.wait()})")
        kind, value = json.loads(line)
        if kind != what:
            raise RuntimeError(f"holder process: {kind} {value}")
        return value

    def call(self, *command: Any) -> Any:
        self._send(list(command))
        return self._expect("ok")

    def stop(self) -> None:
        try:
            self._send(["stop"])
            self._expect("stopped")
        finally:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()


async def _nfc_variant(
    reader: NfcReader, holders: _Holders, verifier: Verifier, name: str
) -> dict[str, Any]:
    holders.call("use", name)
    request = build_device_request()
    outcomes: list[TapOutcome] = []
    cpu: list[float] = []
    system: list[float] = []
    last: tuple[Exchange, ...] = ()
    holder_cpu = 0.0
    for n in range(WARMUP + TAPS):
        if n == WARMUP:
            holder_cpu = holders.call("usage")["cpu_s"]
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        started = time.process_time()
        async with asyncio.timeout(5):
            link = await reader.next_tap()
            try:
                result = await read_tap(link, reader_id=READER_ID, now=NOW, device_request=request)
                outcome = await decide(result, verifier, NOW)
            finally:
                await link.close()
        spent = time.process_time() - started
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
        if n >= WARMUP:
            outcomes.append(outcome)
            cpu.append(spent)
            system.append(kernel)
            last = result.exchanges
    holder_cpu = holders.call("usage")["cpu_s"] - holder_cpu
    return _summary(outcomes, cpu, system, holder_cpu, last)


async def _nfc(world: World, progress: bool) -> dict[str, Any]:
    holders = _Holders(world.specs)
    figures: dict[str, Any] = {}
    try:
        async with NfcReader(holders.path, apdu_timeout=APDU_TIMEOUT) as reader:
            for name in world.specs:
                if progress:
                    print(f"tap: {name}, {TAPS} taps …", file=sys.stderr)
                figures[name] = await _nfc_variant(reader, holders, world.verifier, name)
    finally:
        holders.stop()
    return figures


# --- BLE ------------------------------------------------------------------------------


class _TimedWallet:
    """The wallet behind the fake GATT server, with its CPU time counted apart."""

    def __init__(self, wallet: Any) -> None:
        self.wallet = wallet
        self.cpu_s = 0.0

    @property
    def delay(self) -> float:
        return float(self.wallet.delay)

    def handle(self, message: bytes) -> bytes:
        started = time.process_time()
        try:
            return bytes(self.wallet.handle(message))
        finally:
            self.cpu_s += time.process_time() - started


async def _ble_variant(world: World, mtu: int) -> dict[str, Any]:
    air = Air()
    wallet = _TimedWallet(Wallet([(world.issuer_signed, world.device_key)]))
    uuid = uuid4()
    phone = air.add(Phone(wallet, uuid, mtu=mtu))
    reader = BleReader(backend=air.client_backend)
    walls: list[float] = []
    cpu: list[float] = []
    granted = 0
    for n in range(WARMUP + TAPS):
        uri = qr_uri(wallet.wallet.engagement(ble_uuid=uuid))  # the phone shows a fresh QR
        wallet.wallet.requests.clear()
        wallet.wallet.responses.clear()
        holder_before, started = wallet.cpu_s, time.process_time()
        wall = time.perf_counter()
        engagement, handover = parse_qr(uri)
        assert engagement.ble is not None
        # The address a handover would carry: no scan (the fake air's advertising is not a radio).
        ble = dataclasses.replace(engagement.ble, address=phone.address_bytes)
        presentation = await reader.read(dataclasses.replace(engagement, ble=ble), handover)
        decision = world.verifier.verify(presentation, NOW)
        wall = time.perf_counter() - wall
        spent = time.process_time() - started - (wallet.cpu_s - holder_before)
        if n >= WARMUP:
            walls.append(wall)
            cpu.append(spent)
            granted += decision.granted
    trace = reader.last_trace
    cpu_p50, cpu_p99 = _pct(cpu, 50), _pct(cpu, 99)
    return {
        "taps": TAPS,
        "all_granted": granted == TAPS,
        "mtu": trace.mtu,
        "read_to_decision_ms_p50": _ms(_pct(walls, 50)),
        "read_to_decision_ms_p99": _ms(_pct(walls, 99)),
        "gate_cpu_ms_p50": _ms(cpu_p50),
        "gate_cpu_ms_p99": _ms(cpu_p99),
        "gate_cpu_share_of_budget_p50": round(cpu_p50 / BUDGET_S, 4),
        "gate_cpu_share_of_budget_p99": round(cpu_p99 / BUDGET_S, 4),
        "gate_cpu_under_target_p50": cpu_p50 < CPU_TARGET_SHARE * BUDGET_S,
        "gate_cpu_under_target_p99": cpu_p99 < CPU_TARGET_SHARE * BUDGET_S,
        "writes": len(trace.writes),
        "write_sizes": trace.writes,
        "notifications": len(trace.notifications),
        "notification_sizes": _runs(trace.notifications),
        "bytes_out": sum(trace.writes),
        "bytes_in": sum(trace.notifications),
        "message_round_trips": 1,
        "session_establishment_bytes": len(phone.received[-1]),
        "session_data_bytes": len(phone.sent[-1]),
        "device_request_bytes": len(build_device_request()),
        "device_response_bytes": len(wallet.wallet.responses[-1]),
    }


def _runs(sizes: list[int]) -> list[str]:
    """``[512, 512, 512, 90]`` as ``["3×512", "90"]``."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return [f"{count}×{size}" if count > 1 else str(size) for size, count in runs]


async def _ble(world: World, progress: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for mtu in BLE_MTUS:
        if progress:
            print(f"tap: ble, MTU {mtu}, {TAPS} reads …", file=sys.stderr)
        figures[f"mtu_{mtu}"] = await _ble_variant(world, mtu)
    return figures


# --- message sizes ----------------------------------------------------------------------


def _sizes(world: World) -> dict[str, Any]:
    """What each message of a door tap weighs, and what is inside the two credentials."""
    wallet = Wallet([(world.issuer_signed, world.device_key)])
    handover_select = wallet.handover_select()
    engagement, handover = parse_handover_select(handover_select)
    session = ReaderSession(engagement, handover)
    request = build_device_request()
    establishment = session.establishment(request)
    session_data = wallet.handle(establishment)
    response = session.open(session_data)
    (document,) = cbor2.loads(response)["documents"]
    issuer_auth = document["issuerSigned"]["issuerAuth"]
    mso = cbor2.loads(cbor2.loads(issuer_auth[2]).value)
    card_object = bytes.fromhex(world.specs["card"]["card_object"])
    card_sign1 = cbor2.loads(card_object)
    return {
        "handover_select": len(handover_select),
        "device_engagement": len(engagement.raw),
        "session_transcript": len(session.transcript),
        "device_request": len(request),
        "device_request_guard_desk": len(build_device_request(GUARD_DESK_ELEMENTS)),
        "session_establishment": len(establishment),
        "session_data": len(session_data),
        "session_termination": len(session.termination()),
        "device_response": {
            "total": len(response),
            "issuer_auth": len(cbor2.dumps(issuer_auth)),
            "ds_certificate": len(issuer_auth[1][33]),
            "mso": len(issuer_auth[2]),
            "mso_value_digests": len(cbor2.dumps(mso["valueDigests"])),
            "disclosed_items": len(cbor2.dumps(document["issuerSigned"]["nameSpaces"])),
            "device_signed": len(cbor2.dumps(document["deviceSigned"])),
        },
        "card_object": {
            "total": len(card_object),
            "ds_certificate": len(card_sign1[1][33]),
            "payload": len(card_sign1[2]),
            "signature": len(card_sign1[3]),
        },
        "card_challenge": len(Challenge.fresh(READER_ID, NOW).encode()),
    }


# --- entry ----------------------------------------------------------------------------


def run(progress: bool = False) -> dict[str, Any]:
    logging.getLogger("nfc").setLevel(logging.CRITICAL)  # nfcpy logs every ISO-DEP retry
    started = time.perf_counter()
    world = build()
    nfc = asyncio.run(_nfc(world, progress))
    ble = asyncio.run(_ble(world, progress))
    return {
        "budget_ms": _ms(BUDGET_S),
        "cpu_target_share": CPU_TARGET_SHARE,
        "taps_per_variant": TAPS,
        "nfc": nfc,
        "ble": ble,
        "message_bytes": _sizes(world),
        "air_model": (
            "estimate from the bytes that crossed nfcpy's frame watch (RATS onwards; REQA and "
            "anticollision not counted): floor = bytes x 8 / bit rate; framed = per frame CRC_A, "
            "a parity bit per byte, SOF/EOF and 2 x 1172/fc frame delay. nfcpy never raises the "
            "bit rate above 106 kbit/s (no PPS); 424 kbit/s is for a reader that negotiates it. "
            "The holder's processing time is not modelled."
        ),
        "wall_is": "loopback udp between two Python processes, not a radio",
        "phases": [phase.value for phase in Phase],
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
