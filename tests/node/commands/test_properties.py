"""Hostile bytes at the command gate: it never raises, and nothing but the signed command acts."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.credentials.cbor import encode
from gateway.node.commands import Accepted, CommandGate, Refused
from tests.node.commands.kit import NOW, command, gate, signed

SIGNED = signed(command(lifetime_s=600))
COMMAND_ID = command().id  # a fresh id; never the signed one
_TMP = tempfile.TemporaryDirectory(prefix="command-props-")
GATE = gate(Path(_TMP.name))
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh_gate() -> CommandGate:
    return gate(Path(tempfile.mkdtemp(dir=_TMP.name)))


@PROPS
@given(st.binary(max_size=2048), st.booleans())
def test_arbitrary_bytes_are_refused_and_never_raise(data: bytes, retained: bool) -> None:
    verdict = GATE.check(data, retained=retained, now=NOW)
    assert isinstance(verdict, Refused)
    assert len(GATE.replay) == 0  # nothing was remembered, so nothing could act


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=64) | st.text(max_size=32),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.integers() | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@PROPS
@given(cbor_values)
def test_well_formed_cbor_of_any_shape_is_refused(value: object) -> None:
    data = encode(value)
    verdict = GATE.check(data, retained=False, now=NOW)
    assert isinstance(verdict, Refused)
    assert verdict.reason in {"malformed", "wrong_type", "unknown_signer"}


@PROPS
@given(st.integers(min_value=0, max_value=len(SIGNED) - 1), st.integers(1, 255))
def test_a_mutated_command_is_refused_or_is_the_signed_command_itself(
    index: int, flip: int
) -> None:
    data = bytearray(SIGNED)
    data[index] ^= flip
    verdict = _fresh_gate().check(bytes(data), retained=False, now=NOW + dt.timedelta(seconds=1))
    if isinstance(verdict, Accepted):  # e.g. a change in the unsigned header: same command
        assert verdict.command.model_dump_json().encode() in SIGNED
    else:
        assert verdict.reason != "retained"


@PROPS
@given(st.binary(min_size=1, max_size=64))
def test_trailing_or_leading_junk_never_gets_a_command_through(junk: bytes) -> None:
    g = _fresh_gate()
    for data in (SIGNED + junk, junk + SIGNED):
        verdict = g.check(data, retained=False, now=NOW)
        if isinstance(verdict, Accepted):
            assert verdict.command.model_dump_json().encode() in SIGNED
