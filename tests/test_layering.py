"""The architecture's one hard rule: gate and centre code never import the simulator.

The simulator is a backend the node runs against, as gpiozero's mock pin
factory is; if ``gateway`` imported it, a Pi would ship test doubles.
"""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_gateway_never_imports_the_simulator_or_the_tests() -> None:
    offenders = {
        str(path.relative_to(GATEWAY.parent)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in {"simulator", "tests"}
        )
        for path in GATEWAY.rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}


def test_the_check_sees_imports() -> None:
    # Guard against a check that passes because it reads nothing.
    sample = GATEWAY / "credentials" / "verifier.py"
    assert "gateway.credentials.trust" in imported_modules(sample)
    assert len(list(GATEWAY.rglob("*.py"))) > 20
