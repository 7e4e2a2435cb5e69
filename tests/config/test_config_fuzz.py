"""Whatever an installer does to a config, the loader answers with findings, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, load_node_config
from tests.config.conftest import EXAMPLES

BASE = (EXAMPLES / "node-pi5-acr122u.toml").read_text(encoding="utf-8").splitlines()
VALUES = ["1", '"x"', "true", "[]", "{ a = 1 }", "1.5", '"usb"', "28", "-1", "14", '"NC"', "[[x]]"]

edit = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, len(BASE) - 1), st.just("")),
    st.tuples(st.just("value"), st.integers(0, len(BASE) - 1), st.sampled_from(VALUES)),
    st.tuples(st.just("key"), st.integers(0, len(BASE) - 1), st.text('abcdefg_[]=."', max_size=8)),
)


def apply(lines: list[str], edits: list[tuple[str, int, str]]) -> list[str]:
    out = list(lines)
    for kind, position, text in edits:
        if not out:
            break
        index = position % len(out)
        if kind == "delete":
            del out[index]
        elif kind == "value" and "=" in out[index]:
            out[index] = out[index].split("=", 1)[0] + "= " + text
        elif kind == "key":
            out[index] = text + out[index][len(text) :]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(edit, max_size=4))
def test_edits_give_findings_or_a_node(edits: list[tuple[str, int, str]]) -> None:
    lines = apply(BASE, edits)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "node.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            node = load_node_config(path)
        except ConfigError as exc:
            assert exc.findings
            for finding in exc.findings:
                assert finding.file == path
                assert finding.line is None or 1 <= finding.line <= len(lines)
                assert finding.message
        else:
            assert node.pins["lock_relay"] in node.profile.board.gpio
