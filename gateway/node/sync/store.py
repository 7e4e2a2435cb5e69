"""The node's copy of what it last synced: each message's exact signed bytes, one file each.

Bytes, not parsed state, so a restart verifies them again with the same code
as a message off the wire: a file changed on the SD card is refused like a
forged message. A write is durable once :meth:`SyncStore.save` returns: the
data is written to a temporary file and fsynced, renamed over the old file,
and the directory is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# policy, posture, trust_anchors; status-list/<list>, status-delta/<list>
_NAME = re.compile(r"^[a-z_-]{1,32}(/[a-z0-9][a-z0-9_-]{0,62})?$")
MAX_FILE_BYTES = 64 * 1024 * 1024  # above the largest status token a site can sign


class SyncStoreError(OSError):
    """A name the store does not allow, or a file too large to be ours."""


class SyncStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise SyncStoreError(f"not a sync store name: {name!r}")
        return self.directory / name

    def save(self, name: str, raw: bytes) -> None:
        """Replace ``name`` with ``raw`` atomically and durably."""
        path = self._path(name)
        if not path.parent.is_dir():
            path.parent.mkdir(mode=0o700)
            _fsync_dir(self.directory)  # the new subfolder's entry
        temp = path.with_name(f".{path.name}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        _fsync_dir(path.parent)

    def load(self, name: str) -> bytes | None:
        """The bytes saved under ``name``; None if there are none. Raises OSError on I/O trouble."""
        path = self._path(name)
        try:
            with path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_FILE_BYTES:
            raise SyncStoreError(f"{path} is over {MAX_FILE_BYTES} bytes")
        return data

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def names(self) -> list[str]:
        """Every saved name, sorted; temporary files and strangers are left out."""
        found: list[str] = []
        for path in self.directory.rglob("*"):
            name = path.relative_to(self.directory).as_posix()
            if path.is_file() and not path.name.startswith(".") and _NAME.match(name):
                found.append(name)
        return sorted(found)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
