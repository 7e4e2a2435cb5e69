"""Every check of the command gate, with real keys: what passes and each refusal's reason word."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import get_args

import pytest

from gateway.mqtt.payloads import PostureState, Relock, Resync, Unlock
from gateway.mqtt.signed import CT_COMMAND, CT_POSTURE, sign_message
from gateway.node.commands import (
    Accepted,
    CommandGate,
    RefusalReason,
    Refused,
    ReplayMemory,
    Verdict,
)
from tests.node.commands.kit import (
    DOORS,
    GUARD_KEY,
    NODE,
    NOW,
    SITE,
    SOC_KEY,
    STRANGER_KEY,
    Policies,
    command,
    gate,
    policy,
    signed,
)


def refused(verdict: Verdict) -> str:
    assert isinstance(verdict, Refused), verdict
    return verdict.reason


def test_a_good_command_is_accepted_with_its_operator(tmp_path: Path) -> None:
    verdict = gate(tmp_path).check(signed(), retained=False, now=NOW)
    assert isinstance(verdict, Accepted)
    assert verdict.operator_id == "soc-1"
    assert verdict.command.do == Unlock(door="b6-in", seconds=7)
    assert "relock" in verdict.operator.actions


def test_a_retained_command_is_never_acted_on_and_not_remembered(tmp_path: Path) -> None:
    g = gate(tmp_path)
    data = signed()
    assert refused(g.check(data, retained=True, now=NOW)) == "retained"
    assert len(g.replay) == 0
    assert isinstance(g.check(data, retained=False, now=NOW), Accepted)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed"),
        (b"\xd2\x84garbage", "malformed"),
        (
            sign_message(
                PostureState(site=SITE, version=1, issued_at=NOW, posture="fire"),
                SOC_KEY, kid=b"soc-1", content_type=CT_POSTURE,
            ),
            "wrong_type",
        ),
        (signed(operator="nobody"), "unknown_signer"),
        (signed(key=STRANGER_KEY), "bad_signature"),
        (signed(key=GUARD_KEY, operator="soc-1"), "bad_signature"),
        (sign_message(b'{"v": 1}', SOC_KEY, kid=b"soc-1", content_type=CT_COMMAND), "invalid"),
        (sign_message(b"\xff\xfe", SOC_KEY, kid=b"soc-1", content_type=CT_COMMAND), "invalid"),
    ],
)  # fmt: skip
def test_the_envelope_refusals(tmp_path: Path, data: bytes, reason: str) -> None:
    verdict = gate(tmp_path).check(data, retained=False, now=NOW)
    assert refused(verdict) == reason
    assert isinstance(verdict, Refused)
    assert verdict.command_id is None  # nobody vouched for an id yet


def test_a_kid_that_is_not_utf8_is_an_unknown_signer(tmp_path: Path) -> None:
    data = sign_message(command(), SOC_KEY, kid=b"\xff\xfe", content_type=CT_COMMAND)
    assert refused(gate(tmp_path).check(data, retained=False, now=NOW)) == "unknown_signer"


@pytest.mark.parametrize(
    ("cmd_kwargs", "now", "reason"),
    [
        ({"site": "gwacheon"}, NOW, "wrong_site"),
        ({"node": "gate-6-02"}, NOW, "wrong_node"),
        ({"issued": NOW + dt.timedelta(seconds=31)}, NOW, "not_yet_valid"),
        ({}, NOW + dt.timedelta(seconds=60), "expired"),
        ({"lifetime_s": 601}, NOW, "too_long"),
        ({"lifetime_s": -5}, NOW - dt.timedelta(seconds=10), "invalid"),
        ({"do": Unlock(door="b5-in", seconds=3)}, NOW, "unknown_door"),
    ],
)
def test_the_command_refusals(
    tmp_path: Path, cmd_kwargs: dict[str, object], now: dt.datetime, reason: str
) -> None:
    cmd = command(**cmd_kwargs)  # type: ignore[arg-type]
    g = gate(tmp_path)
    verdict = g.check(signed(cmd), retained=False, now=now)
    assert refused(verdict) == reason
    assert isinstance(verdict, Refused)
    assert (verdict.command_id, verdict.operator_id) == (cmd.id, "soc-1")
    assert len(g.replay) == 0  # only a command that passed everything is remembered


def test_a_little_clock_skew_is_tolerated(tmp_path: Path) -> None:
    cmd = command(issued=NOW + dt.timedelta(seconds=29))
    assert isinstance(gate(tmp_path).check(signed(cmd), retained=False, now=NOW), Accepted)


def test_a_limited_operator_may_relock_its_door_and_nothing_else(tmp_path: Path) -> None:
    g = gate(tmp_path)

    def by_guard(do: Unlock | Relock | Resync) -> Verdict:
        return g.check(signed(command(do), GUARD_KEY, "guard-2"), retained=False, now=NOW)

    assert isinstance(by_guard(Relock(door="b6-in")), Accepted)
    assert refused(by_guard(Unlock(door="b6-in", seconds=5))) == "not_allowed"
    assert refused(by_guard(Resync(what=["policy"]))) == "not_allowed"
    assert refused(by_guard(Relock(door="b6-out"))) == "not_allowed"  # the node's, not guard's
    assert refused(by_guard(Relock(door="b5-in"))) == "unknown_door"


def test_a_command_is_refused_as_replayed_even_after_a_restart(tmp_path: Path) -> None:
    data = signed()
    first = gate(tmp_path)
    assert isinstance(first.check(data, retained=False, now=NOW), Accepted)
    assert refused(first.check(data, retained=False, now=NOW)) == "replayed"
    first.replay.close()
    again = gate(tmp_path)  # a new memory over the same file, as after a reboot
    later = NOW + dt.timedelta(seconds=30)
    assert refused(again.check(data, retained=False, now=later)) == "replayed"


def test_a_key_removed_by_a_newer_policy_is_refused_at_once(tmp_path: Path) -> None:
    policies = Policies(policy())
    g = gate(tmp_path, policies)
    assert isinstance(g.check(signed(), retained=False, now=NOW), Accepted)
    policies.current = policy(version=8, without=("soc-1",))
    assert refused(g.check(signed(), retained=False, now=NOW)) == "unknown_signer"
    # ...and the guard, still in it, goes on working.
    relock = signed(command(Relock(door="b6-in")), GUARD_KEY, "guard-2")
    assert isinstance(g.check(relock, retained=False, now=NOW), Accepted)


def test_with_no_policy_in_force_nobody_may_command(tmp_path: Path) -> None:
    g = gate(tmp_path, Policies(None))
    assert refused(g.check(signed(), retained=False, now=NOW)) == "unknown_signer"


def test_a_replay_memory_that_cannot_write_refuses_rather_than_acts(tmp_path: Path) -> None:
    g = gate(tmp_path)
    g.replay.close()
    verdict = g.check(signed(), retained=False, now=NOW)
    assert refused(verdict) == "store_failed"


def test_expired_nonces_are_pruned_and_the_table_stays_small(tmp_path: Path) -> None:
    memory = ReplayMemory(tmp_path / "r.sqlite3", keep_after_expiry_s=60)
    g = CommandGate(SITE, NODE, DOORS, Policies(policy()), memory)
    for minute in range(30):
        at = NOW + dt.timedelta(minutes=minute)
        assert isinstance(g.check(signed(command(issued=at)), retained=False, now=at), Accepted)
    # each row lives its 60 s lifetime plus 60 s: only the last two or three remain
    assert len(memory) <= 3


def test_the_gate_refuses_a_naive_clock(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        gate(tmp_path).check(signed(), retained=False, now=NOW.replace(tzinfo=None))


def test_every_reason_word_is_reachable(tmp_path: Path) -> None:
    later = NOW + dt.timedelta(minutes=5)
    cases: dict[str, tuple[bytes, bool, dt.datetime]] = {
        "retained": (signed(), True, NOW),
        "malformed": (b"\x00", False, NOW),
        "wrong_type": (
            sign_message(command(), SOC_KEY, kid=b"soc-1", content_type=CT_POSTURE), False, NOW
        ),
        "unknown_signer": (signed(operator="nobody"), False, NOW),
        "bad_signature": (signed(key=STRANGER_KEY), False, NOW),
        "invalid": (sign_message(b"{}", SOC_KEY, kid=b"soc-1", content_type=CT_COMMAND),
                    False, NOW),
        "wrong_site": (signed(command(site="daejeon")), False, NOW),
        "wrong_node": (signed(command(node="gate-9")), False, NOW),
        "not_yet_valid": (signed(), False, NOW - dt.timedelta(minutes=1)),
        "expired": (signed(), False, later),
        "too_long": (signed(command(lifetime_s=3600)), False, NOW),
        "not_allowed": (signed(command(Unlock(door="b6-in", seconds=1)), GUARD_KEY, "guard-2"),
                        False, NOW),
        "unknown_door": (signed(command(Relock(door="b5-out"))), False, NOW),
    }  # fmt: skip
    g = gate(tmp_path)
    reached = {reason: refused(g.check(*case[:1], retained=case[1], now=case[2]))
               for reason, case in cases.items()}  # fmt: skip
    assert reached == {reason: reason for reason in cases}
    data = signed()
    assert isinstance(g.check(data, retained=False, now=NOW), Accepted)
    assert refused(g.check(data, retained=False, now=NOW)) == "replayed"
    g.replay.close()
    assert refused(g.check(signed(), retained=False, now=NOW)) == "store_failed"
    assert set(get_args(RefusalReason)) == {*cases, "replayed", "store_failed"}
