"""Our own Mosquitto, with the project's test config, on a free loopback port.

deploy/mosquitto/test.conf; for tests, benches and the simulator's broker
faults, never the system broker on 1883.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "test.conf"
CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    process: subprocess.Popen[bytes]


def mosquitto_path() -> str | None:
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    return None


def _give_to_broker_user(directory: Path) -> None:
    if os.geteuid() != 0:
        return  # Mosquitto runs as us and can write here
    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return  # no such user: Mosquitto stays root
    os.chown(directory, user.pw_uid, user.pw_gid)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_mosquitto(
    extra: str = "", files: Mapping[str, str] | None = None, timeout: float = 10.0
) -> Iterator[Broker]:
    """Start test.conf plus ``extra`` lines; ``files`` are written to ``$data_dir`` first.

    Started as root, Mosquitto drops to the ``mosquitto`` user before it reads
    an acl_file or password_file, so the directory is made world-readable, and
    before it writes ``mosquitto.db``, so the directory is given to that user:
    without it ``persistence true`` saves nothing, silently, and a restarted
    broker has forgotten every session, subscription and queued message.
    """
    exe = mosquitto_path()
    if exe is None:
        raise FileNotFoundError("mosquitto is not installed")
    with tempfile.TemporaryDirectory(prefix="mosquitto-") as tmp:
        Path(tmp).chmod(0o755)
        _give_to_broker_user(Path(tmp))
        for name, text in (files or {}).items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            (Path(tmp) / name).chmod(0o644)
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(
                Template(CONF.read_text() + extra).substitute(port=port, data_dir=tmp),
                encoding="utf-8",
            )
            log = (Path(tmp) / "mosquitto.log").open("wb")
            proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)  # noqa: S603
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _accepts(port):
                    break
                time.sleep(0.02)  # polling interval, not a wait for readiness
            if proc.poll() is None and _accepts(port):
                try:
                    yield Broker(HOST, port, proc)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    log.close()
                return
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            log.close()
        log_text = (Path(tmp) / "mosquitto.log").read_text(errors="replace")
        raise RuntimeError(f"mosquitto did not start: {log_text}")
