"""kill -9 in the middle of a burst: every seq reported after ``append`` returned is on disk.

The child (:mod:`tests.node.outbox.burst_child`) prints each seq once its append
returned; the test SIGKILLs it after a seeded random number of those lines,
reopens the database and checks that every reported seq is there, that seq has
no gap and that the chain verifies. Each round reuses the same database, so a
restart after a kill also carries on the chain.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.node.outbox import Outbox, Synchronous, load_or_create_node_key, verify_chain

ROOT = Path(__file__).resolve().parents[3]
BURST = 1_000


def _run_and_kill(db: Path, key_path: Path, kill_after: int, setting: Synchronous) -> set[int]:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.node.outbox.burst_child",
            str(db),
            str(key_path),
            str(BURST),
            setting.value,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    reported: set[int] = set()
    try:
        assert child.stdout.readline().strip() == "ready"
        while len(reported) < kill_after:
            line = child.stdout.readline()
            if not line or line.strip() == "done":
                break
            reported.add(int(line))
        os.kill(child.pid, signal.SIGKILL)
        # Lines written before the kill landed count as reported too.
        for line in child.stdout:
            if line.strip().isdigit():
                reported.add(int(line))
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return reported


@pytest.mark.parametrize(
    ("setting", "rounds"),
    [(Synchronous.FULL, 4), (Synchronous.NORMAL, 2)],  # NORMAL: kill -9 is survived too
)
def test_every_reported_seq_survives_sigkill(
    tmp_path: Path, setting: Synchronous, rounds: int
) -> None:
    rng = random.Random(f"20261123-{setting.value}")
    db = tmp_path / "outbox.sqlite"
    key_path = tmp_path / "node.key"
    key = load_or_create_node_key(key_path)
    all_reported: set[int] = set()
    for _round in range(rounds):
        kill_after = rng.randrange(1, BURST - 50)
        reported = _run_and_kill(db, key_path, kill_after, setting)
        assert len(reported) >= kill_after
        all_reported |= reported

        outbox = Outbox(db, key)
        try:
            events = outbox.events(limit=BURST * rounds + 10)
        finally:
            outbox.close()
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free from 1
        assert all_reported <= set(seqs)  # nothing reported was lost
        assert verify_chain(events, key.public_key()) == events[-1].hash
