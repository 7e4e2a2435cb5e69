"""The ISO 18013-5 Annex D vectors and the hypothesis budget the proximity tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "credentials" / "vectors" / "annex_d.json").read_text("utf-8")
)
HOSTILE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def raw(name: str) -> bytes:
    return bytes.fromhex(VECTORS[name])
