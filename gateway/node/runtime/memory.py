"""Give the heap that a policy load left behind back to the operating system.

Parsing a policy of 10,000 grants allocates ~15 MB of models that are freed once
the indexes are built; glibc keeps freed heap for reuse, so a gate's RSS would
stay ~6 MB higher than what it holds. ``malloc_trim(0)`` returns it. Elsewhere
(musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def return_freed_memory() -> bool:
    """Collect garbage, then trim the C heap; True if the trim ran."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
