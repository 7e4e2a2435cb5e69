"""The holders of ``bench/tap.py`` in a process of their own, so the gate's CPU time is its own.

``python -m bench._holder_process`` reads one JSON line from stdin: the
holder specs by name (bytes as hex, see :func:`build`). It builds each holder
(a virtual phone behind :class:`PhoneNfc`, or a :class:`ChipCard`), puts one
:class:`NfcTarget` on the loopback udp link, writes ``["ready", path]`` and
then obeys one JSON command per line, answering ``["ok", value]``:

* ``["use", name]``: the holder named ``name`` is the one in the field from
  the next tap on; its history is cleared;
* ``["usage"]``: this process's CPU time and the target's frame counters;
* ``["stop"]``: leave the field and exit (answer ``["stopped", null]``).

A plain child process, not ``multiprocessing``: its ``spawn`` start method
would re-import the parent's main script, which breaks callers without a
``__main__`` guard.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key

from gateway.node.proximity.engagement import NfcOptions
from simulator.holder.chip_card import ChipCard
from simulator.holder.nfc_target import NfcTarget
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import Wallet

Responder = PhoneNfc | ChipCard


def _key(der: bytes) -> ec.EllipticCurvePrivateKey:
    key = load_der_private_key(der, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def build(spec: dict[str, Any]) -> Responder:
    """A holder from its spec: ``{"kind": "phone", "issuer_signed", "device_key", "max_command",
    "max_response"}`` or ``{"kind": "card", "card_object", "card_key"}`` (bytes as hex, keys as
    PKCS#8 DER)."""
    if spec["kind"] == "phone":
        nfc = NfcOptions(spec["max_command"], spec["max_response"])
        issuer_signed = bytes.fromhex(spec["issuer_signed"])
        wallet = Wallet([(issuer_signed, _key(bytes.fromhex(spec["device_key"])))], nfc=nfc)
        return PhoneNfc(wallet)
    return ChipCard(bytes.fromhex(spec["card_object"]), _key(bytes.fromhex(spec["card_key"])))


def _forget(responder: Responder) -> None:
    if isinstance(responder, PhoneNfc):
        responder.wallet.requests.clear()
        responder.wallet.responses.clear()
    else:
        responder.signatures.clear()


def _say(out: TextIO, kind: str, value: Any) -> None:
    out.write(json.dumps([kind, value]) + "\n")
    out.flush()


def serve(specs: dict[str, dict[str, Any]], commands: TextIO, out: TextIO) -> None:
    logging.getLogger("nfc").setLevel(logging.CRITICAL)  # nfcpy logs every ISO-DEP retry
    responders = {name: build(spec) for name, spec in specs.items()}
    first = next(iter(responders.values()))
    with NfcTarget(first) as target:
        _say(out, "ready", target.path)
        for line in commands:
            command, *args = json.loads(line)
            if command == "use":
                responder = responders[args[0]]
                _forget(responder)
                target.responder = responder
                _say(out, "ok", None)
            elif command == "usage":
                _say(out, "ok", {"cpu_s": time.process_time(), **dataclasses.asdict(target.stats)})
            elif command == "stop":
                break
            else:
                _say(out, "error", f"unknown command {command!r}")
    _say(out, "stopped", None)


if __name__ == "__main__":
    serve(json.loads(sys.stdin.readline()), sys.stdin, sys.stdout)
