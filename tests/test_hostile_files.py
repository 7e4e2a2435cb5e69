"""Files an operator or a partner system hands us: hostile or broken, never a crash.

Every parser that reads an operator's file gets random and mutated input here:
the HR export (CSV and JSON), a saved presentation, and a holder's public key.
Each must either parse or raise its own error type with a message that names
the source, never anything else.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.central.authority.hr_import import HrImportError, parse_hr_csv, parse_hr_json
from gateway.central.authority.keys import KeyFormatError, load_public_key
from gateway.credentials import saved

EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"
CSV = (EXAMPLES / "hr-export.csv").read_text(encoding="utf-8")
JSON = (EXAMPLES / "hr-export.json").read_text(encoding="utf-8")
FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def mutate(text: str, data: st.DataObject) -> str:
    """Delete, duplicate or replace a slice of the text, somewhere hypothesis picks."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    action = data.draw(st.sampled_from(["delete", "duplicate", "replace"]))
    if action == "delete":
        return text[:start] + text[end:]
    if action == "duplicate":
        return text[:end] + text[start:end] + text[end:]
    return text[:start] + data.draw(st.text(max_size=20)) + text[end:]


def test_the_examples_parse() -> None:
    assert len(parse_hr_csv(CSV, source="hr-export.csv", base_dir=EXAMPLES).entries) == 12
    assert len(parse_hr_json(JSON, source="hr-export.json", base_dir=EXAMPLES).entries) == 12


@FAST
@given(data=st.data())
def test_mutated_csv_parses_or_names_the_source(data: st.DataObject) -> None:
    text = mutate(CSV, data)
    try:
        parse_hr_csv(text, source="mutated.csv", base_dir=EXAMPLES)
    except HrImportError as exc:
        assert "mutated.csv" in str(exc)


@FAST
@given(data=st.data())
def test_mutated_json_parses_or_names_the_source(data: st.DataObject) -> None:
    text = mutate(JSON, data)
    try:
        parse_hr_json(text, source="mutated.json", base_dir=EXAMPLES)
    except HrImportError as exc:
        assert "mutated.json" in str(exc)


@FAST
@given(text=st.text(max_size=300))
def test_random_text_is_no_hr_export(text: str) -> None:
    for parse, name in ((parse_hr_csv, "r.csv"), (parse_hr_json, "r.json")):
        try:
            parse(text, source=name, base_dir=EXAMPLES)
        except HrImportError as exc:
            assert name in str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@FAST
@given(
    kind=st.sampled_from(["mobile", "card", "uid", None]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "device_response",
                "session_transcript",
                "card_object",
                "challenge",
                "signature",
                "reader_id",
                "captured_at",
                "reader_key_pem",
                "extra",
            ]
        ),
        json_values,
    ),
)
def test_saved_presentation_files_load_or_name_the_file(
    tmp_path_factory: object, kind: str | None, fields: dict[str, object]
) -> None:
    path = Path(str(tmp_path_factory.mktemp("saved"))) / "tap.json"  # type: ignore[attr-defined]
    path.write_text(json.dumps({"kind": kind, **fields}), encoding="utf-8")
    try:
        loaded = saved.load(path)
    except saved.SavedPresentationError as exc:
        assert str(path) in str(exc)
        return
    # An unusable reader key is a ValueError, which the CLI reports as a usage error.
    with contextlib.suppress(ValueError):
        loaded.presentation()


@FAST
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_are_no_public_key(raw: bytes) -> None:
    with contextlib.suppress(KeyFormatError):
        load_public_key(raw)
