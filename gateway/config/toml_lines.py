"""Line numbers for TOML keys. tomllib keeps none, so scan the text for headers and keys.

The scan understands ``[table]`` and ``[[array]]`` headers, ``key =`` lines with
bare, quoted and dotted keys, one level of inline table on the key's line, and
skips multi-line strings. It maps a key path to the line where it is written;
anything it misses falls back to the nearest enclosing key or header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=\s*(.*)$")
_INLINE_KEY = re.compile(rf"(?:^|[{{,])\s*({_KEY_PART})\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, text)
    return tuple(p[1:-1] if p[:1] in {'"', "'"} else p for p in parts)


class LineMap:
    def __init__(self, text: str) -> None:
        self.lines: dict[KeyPath, int] = {}
        table: KeyPath = ()
        counts: dict[KeyPath, int] = {}
        fence: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if fence is not None:
                if line.count(fence) % 2 == 1:
                    fence = None
                continue
            if header := _HEADER.match(line):
                path: KeyPath = _split_key(header[2])
                if header[1] == "[[":
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    self.lines.setdefault(path, number)
                    path = (*path, index)
                table = path
                self.lines.setdefault(table, number)
                continue
            if key := _KEY.match(line):
                path = (*table, *_split_key(key[1]))
                self.lines.setdefault(path, number)
                value = key[2]
                for quote in ('"""', "'''"):
                    if value.count(quote) % 2 == 1:
                        fence = quote
                if value.lstrip().startswith("{"):
                    for inner in _INLINE_KEY.findall(value.lstrip()):
                        self.lines.setdefault((*path, *_split_key(inner)), number)

    def line_for(self, path: Sequence[str | int]) -> tuple[int | None, bool]:
        """The line of ``path`` (exact True) or of its nearest written ancestor."""
        for end in range(len(path), 0, -1):
            if (found := self.lines.get(tuple(path[:end]))) is not None:
                return found, end == len(path)
        return None, False
