"""The pymdoccbor side of interop tests and benchmarks, in a virtualenv of its own.

pymdoccbor 1.4 depends on pycose 1.1, which cannot decode with cbor2 >= 6,
while the gateway needs cbor2 >= 6. So pymdoccbor lives in ``.venv-interop``
(or ``$GATEWAY_INTEROP_VENV``), made once and reused, and is driven by
subprocess: bytes go in and out as hex inside JSON.

This file has two halves. Imported (from the gateway's venv), it makes the
interop venv and runs things in it. Run as a script by the interop venv's
Python (``python bench/_interop.py verify``), it is the pymdoccbor verifier;
that half imports only the standard library at module level.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("GATEWAY_INTEROP_VENV", ROOT / ".venv-interop"))
REQUIREMENTS = ("pymdoccbor==1.4.0", "cbor2<6")
_STAMP = ".gateway-interop-ready"
_INSTALL_TIMEOUT = 300


class InteropUnavailable(RuntimeError):
    """The interop venv could not be made or used; the message says why."""


def python() -> Path:
    return VENV / "bin" / "python"


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    # Kept outside the venv (which may not exist yet) and outside the tree (git status).
    tag = hashlib.sha256(str(VENV).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"gateway-interop-{tag}.lock"
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InteropUnavailable(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise InteropUnavailable(f"{what} failed ({done.returncode}): {' | '.join(tail)}")


def ensure_venv() -> Path:
    """The interop venv's Python, making the venv first if needed. Raises InteropUnavailable."""
    stamp = VENV / _STAMP
    wanted = json.dumps(REQUIREMENTS)
    if python().exists() and stamp.exists() and stamp.read_text() == wanted:
        return python()
    with _lock():
        if python().exists() and stamp.exists() and stamp.read_text() == wanted:
            return python()
        _run([sys.executable, "-m", "venv", str(VENV)], f"python -m venv {VENV}", 120)
        _run(
            [
                str(python()),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                *REQUIREMENTS,
            ],
            f"pip install {' '.join(REQUIREMENTS)} (is the package index reachable?)",
            _INSTALL_TIMEOUT,
        )
        _run(
            [str(python()), "-c", "import pymdoccbor.mdoc.verifier, pymdoccbor.mdoc.issuer"],
            "importing pymdoccbor in the interop venv",
            60,
        )
        stamp.write_text(wanted)
    return python()


def run_json(script: Path | str, mode: str, payload: dict[str, Any], timeout: float = 120) -> Any:
    """Run ``script mode`` with the interop venv's Python, JSON in on stdin, JSON out on stdout."""
    interpreter = ensure_venv()
    try:
        done = subprocess.run(
            [str(interpreter), str(script), mode],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InteropUnavailable(f"{script} {mode} timed out after {timeout} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{script} {mode} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def pymdoc_verify(
    device_response: bytes,
    roots: list[bytes] | None,
    *,
    iterations: int = 0,
    repeats: int = 1,
    timeout: float = 120,
) -> dict[str, Any]:
    """pymdoccbor's MdocCbor.verify on ``device_response`` (with chain validation if ``roots``).

    The verdict (``valid``, ``hash_verification``, ``disclosed``, ``log``) is that of
    one run. With ``iterations``, it also times ``repeats`` runs of that many
    verifications, without the chain check and, given ``roots``, with it:
    ``per_verification_us`` and ``median_us``, keyed ``no_chain`` and ``chain``.
    """
    payload = {
        "response": device_response.hex(),
        "roots": None if roots is None else [der.hex() for der in roots],
        "iterations": iterations,
        "repeats": repeats,
    }
    result: dict[str, Any] = run_json(Path(__file__), "verify", payload, timeout)
    return result


# --- The half that runs inside the interop venv --------------------------------


def _venv_verify(request: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - other venv
    # Imported here: these exist in the interop venv, and only there for pymdoccbor.
    import logging  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from pymdoccbor.mdoc.verifier import MdocCbor  # type: ignore[import-not-found]  # noqa: PLC0415

    data = bytes.fromhex(request["response"])
    roots = request["roots"]
    anchors = (
        None if roots is None else [x509.load_der_x509_certificate(bytes.fromhex(r)) for r in roots]
    )

    def once(trusted: Any) -> MdocCbor:
        parsed = MdocCbor()
        parsed.loads(data)
        parsed.verify(trusted_root_certs=trusted)
        return parsed

    # The verdict run keeps pymdoccbor's own log: it is where its reasons go.
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(f"{record.levelname}: {record.getMessage()}")

    logger = logging.getLogger("pymdoccbor")
    logger.addHandler(keep := Keep())
    logger.setLevel(logging.WARNING)
    first = once(anchors)
    logger.removeHandler(keep)
    verdict: dict[str, Any] = {
        "valid": not first.documents_invalid and bool(first.documents),
        "documents": len(first.documents),
        "invalid": len(first.documents_invalid),
        "hash_verification": [doc.hash_verification for doc in first.documents],
        "disclosed": {ns: sorted(claims) for ns, claims in first.disclosure_map.items()},
        "doctypes": [doc.doctype for doc in first.documents],
        "log": records,
    }
    # Timing runs: pymdoccbor's logging off, so only its verification is measured.
    # Without a chain check (issuer signature and digests), and with it when roots
    # were given, alternating so that load drift hits both alike.
    logger.setLevel(logging.CRITICAL + 1)
    iterations = int(request.get("iterations", 0))
    variants = {"no_chain": None} if anchors is None else {"no_chain": None, "chain": anchors}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(int(request.get("repeats", 1)) if iterations else 0):
        for name, trusted in variants.items():
            start = time.perf_counter()
            for _ in range(iterations):
                once(trusted)
            samples[name].append((time.perf_counter() - start) / iterations * 1e6)
    verdict["per_verification_us"] = samples
    verdict["median_us"] = {
        name: statistics.median(values) for name, values in samples.items() if values
    }
    return verdict


def _main(argv: list[str]) -> int:  # pragma: no cover - runs in the other venv
    if argv[1:] != ["verify"]:
        print("usage: python bench/_interop.py verify < request.json", file=sys.stderr)
        return 2
    print(json.dumps(_venv_verify(json.load(sys.stdin)), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
