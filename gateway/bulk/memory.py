"""Keep freed heap memory in the process instead of returning it to the OS at once (glibc).

Bulk loads allocate and free the same few hundred MB over and over (a chunk of
records, their JSON, their keys). With glibc's default trim threshold the top of
the heap is handed back after every chunk and every page is faulted in again on
the next one, and page faults are slow on virtual machines (measured: one fault
per encoded record, most of the load time). ``keep_heap`` raises the trim
threshold and the top pad once per process; memory stays bounded by the
largest chunk, as before, but is reused instead of re-faulted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("gateway.bulk")

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
TRIM_THRESHOLD = 512 << 20
TOP_PAD = 16 << 20
_done = False


def keep_heap() -> bool:
    """Tune glibc's malloc (trim threshold, top pad); False where that is not possible."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(_M_TOP_PAD, TOP_PAD))
    _done = ok
    if not ok:
        log.info("could not tune malloc (mallopt refused); bulk loads will be slower")
    return ok
