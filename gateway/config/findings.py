"""What a check found: one message per problem, naming the file, the line and the key path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    file: Path
    line: int | None
    key: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        key = f" {self.key}:" if self.key else ""
        text = f"{where}: {self.severity}:{key} {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["file"] = str(self.file)
        return data


class ConfigError(Exception):
    """A config or profile that must not be used; ``findings`` says why."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("\n".join(str(f) for f in self.findings))


def key_path(parts: Iterable[str | int]) -> str:
    """``("door", "unlock_seconds")`` -> ``door.unlock_seconds``; list items as ``[2]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
