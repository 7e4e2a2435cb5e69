from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROFILES = ROOT / "firmware_profiles"
EXAMPLES = ROOT / "config" / "examples"
