"""Where the parts of a JSON text start, so that an error message can name the line.

The JSON has already parsed, so these walkers may assume it is well formed:
they exist only to learn where each record starts (``json`` does not say).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def array_items(text: str, start: int) -> Iterator[tuple[int, Any]]:
    """Each item of the array that opens at ``start``: where it starts, and its value."""
    i = _skip(text, start + 1)  # past "["
    while text[i] != "]":
        value, end = _DECODER.raw_decode(text, i)
        yield i, value
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)


def object_members(text: str, start: int) -> Iterator[tuple[str, int]]:
    """Each member of the object that opens at ``start``: its key, and where its value starts."""
    i = _skip(text, start + 1)  # past "{"
    while text[i] != "}":
        key, end = _DECODER.raw_decode(text, i)
        i = _skip(text, _skip(text, end) + 1)  # past ":"
        _, end = _DECODER.raw_decode(text, i)
        yield key, i
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
