"""``gateway demo --duration 20 --json`` in a fresh clone and virtualenv, made as the README says.

The README's first command is ``bash deploy/dev.sh main``: it creates ``.venv``, installs
the project into it and runs ``gateway demo``. Here it runs in a clone of this checkout
(committed files only, as CI sees them), so a missing dependency, a file left out of the
package or a broken entry point fails here first. pip's cache makes the install quick
after the first time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_readme_main_command_runs_the_demo_in_a_fresh_venv(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    ours = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    done = subprocess.run(
        ["bash", "deploy/dev.sh", "main", "--duration", "20", "--json"],
        cwd=clone, capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (clone / ".venv" / "bin" / "gateway").exists()  # its own venv, not ours
    summary = json.loads(done.stdout)
    assert summary["taps"] > 50
    assert summary["wrong"]["false_accepts"] == 0
    assert summary["wrong"]["false_rejects"] == 0
    events = summary["events"]
    assert events["published"] == events["stored"] > 500
    assert events["lost"] == 0
    assert summary["alarms"]["missing"] == []
    assert summary["demo"]["viewer"].startswith("http://127.0.0.1:")
    assert "login demo-admin / " in done.stderr
