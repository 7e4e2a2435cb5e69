"""Turn pydantic ValidationErrors into findings written for the person editing the file."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from gateway.config.findings import Finding, key_path
from gateway.config.toml_lines import KeyPath, LineMap


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _submodel(arg)) is not None:
            return found
    return None


def _walk(model: type[BaseModel], keys: KeyPath) -> FieldInfo | None:
    """The field of the last key of ``keys``, if the models have it."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for key in keys:
        if isinstance(key, int):
            continue
        if current is None or (info := current.model_fields.get(key)) is None:
            return None
        current = _submodel(info.annotation)
    return info


def _fields_at(model: type[BaseModel], keys: KeyPath) -> list[str]:
    if not keys:
        return sorted(model.model_fields)
    info = _walk(model, keys)
    sub = _submodel(info.annotation) if info is not None else None
    return sorted(sub.model_fields) if sub is not None else []


def _data_keys(data: Any, loc: tuple[str | int, ...], missing: bool) -> KeyPath:
    """The part of a pydantic ``loc`` that is keys in the file (drops union tags)."""
    keys: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_dict or in_list:
            current = current[part]
        elif missing and i == len(loc) - 1:
            pass
        else:
            continue
        keys.append(part)
    return tuple(keys)


def _where(keys: KeyPath) -> str:
    return f"[{key_path(keys)}]" if keys else "the top level"


def _describe(info: FieldInfo | None) -> str:
    if info is None:
        return ""
    text = info.description or ""
    if info.examples and "e.g." not in text:
        text += f"{'; ' if text else ''}e.g. {info.examples[0]!r}"
    return text


def _finding(file: Path, lines: LineMap, keys: KeyPath, message: str, hint: str) -> Finding:
    line, _exact = lines.line_for(keys)
    return Finding(file, line, key_path(keys), message, hint)


def _one(
    error: Any, model: type[BaseModel], data: dict[str, Any], file: Path, lines: LineMap
) -> Finding:
    kind: str = error["type"]
    keys = _data_keys(data, tuple(error["loc"]), missing=kind == "missing")
    info = _walk(model, keys)
    if kind == "extra_forbidden":
        name = str(keys[-1])
        parent = keys[:-1]
        known = _fields_at(model, parent)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        what = "section" if isinstance(error.get("input"), dict) else "key"
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"known keys in {_where(parent)}: " + (", ".join(known) or "none")
        )
        message = f"unknown {what} {name!r} in {_where(parent)}"
        if what == "section":
            message = f"unknown section [{key_path(keys)}]"
        return _finding(file, lines, keys, message, hint)
    if kind == "missing":
        return _missing(file, lines, keys, info)
    return _invalid(file, lines, keys, info, error)


def _missing(file: Path, lines: LineMap, keys: KeyPath, info: FieldInfo | None) -> Finding:
    name = str(keys[-1])
    parent = keys[:-1]
    section = _submodel(info.annotation) if info is not None else None
    line, _exact = lines.line_for(parent)
    if section is not None:
        required = [n for n, f in section.model_fields.items() if f.is_required()]
        hint = f"add a [{key_path(keys)}] section"
        if required:
            hint += f" with {', '.join(required)}"
        return Finding(file, line, key_path(keys), f"missing section [{key_path(keys)}]", hint)
    hint = f"add '{name} = ...' under {_where(parent)}"
    if described := _describe(info):
        hint += f" ({described})"
    message = f"missing required key {name!r} in {_where(parent)}"
    return Finding(file, line, key_path(keys), message, hint)


def _suggest(given: object, allowed: list[str]) -> str:
    text = str(given)
    close = difflib.get_close_matches(text, allowed, n=1, cutoff=0.5)
    if not close:
        close = [a for a in allowed if text and text.lower() in a.lower()][:1]
    return f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(allowed)}"


def _invalid(
    file: Path, lines: LineMap, keys: KeyPath, info: FieldInfo | None, error: Any
) -> Finding:
    kind: str = error["type"]
    given = error.get("input")
    message = str(error["msg"]).removeprefix("Value error, ")
    hint = "" if kind == "value_error" else _describe(info)
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        hint = _suggest(given, allowed)
    if kind == "model_type":
        name = key_path(keys)
        message = f"{name!r} should be a section, not {given!r}"
        hint = f"write [{name}] on a line of its own, with its keys below it"
    elif kind == "string_pattern_mismatch":
        message = (
            f"{given!r} is not a valid name: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    elif kind != "value_error" and not isinstance(given, dict):
        message = f"{message} (got {given!r})"
    return _finding(file, lines, keys, message, hint)


def findings_from(
    exc: ValidationError, model: type[BaseModel], data: dict[str, Any], file: Path, lines: LineMap
) -> list[Finding]:
    """One finding per error, in the order of the file's lines (whole-file ones last)."""
    found = [_one(error, model, data, file, lines) for error in exc.errors(include_url=False)]
    return sorted(found, key=lambda f: f.line if f.line is not None else 1 << 30)
