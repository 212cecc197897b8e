"""The memory allocators of bulk loads: Arrow's pool (pyarrow's reader, casts and encoding) and glibc's arenas."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_jemalloc() -> str:
    """Make jemalloc Arrow's default memory pool, unless ``ARROW_DEFAULT_MEMORY_POOL`` names one.

    Returns the backend in use. A bulk load allocates and frees a few MB per
    chunk; with jemalloc instead of pyarrow's default mimalloc, ``bench/bulk.py``
    measured a peak RSS 35-40 MB lower (3M rows: ~345 MB against ~380 MB) and a
    load no slower. Builds without jemalloc keep their default.
    """
    if os.environ.get(POOL_VARIABLE):
        return str(pa.default_memory_pool().backend_name)
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return str(pa.default_memory_pool().backend_name)
    pa.set_memory_pool(pool)
    return str(pool.backend_name)


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2
TRIM_EVERY = 4
"""Chunks written between two looks at the free memory glibc holds (``release_free_memory``)."""
FREE_HELD_MAX = 32 << 20


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def tune_malloc() -> bool:
    """Cap glibc's malloc arenas at two (unless ``MALLOC_ARENA_MAX`` is set).

    By default each thread of a load (prefetching, pyarrow's reader, RocksDB's) gets an
    arena of its own, and memory freed in one is not reused by another. False where
    glibc is absent.
    """
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(mallopt(M_ARENA_MAX, MALLOC_ARENAS))


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
        + ("fordblks", "keepcost")
    ]


def _mallinfo2() -> Any:
    function = getattr(_LIBC, "mallinfo2", None)
    if function is not None:
        function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()


def release_free_memory(threshold: int = FREE_HELD_MAX) -> bool:
    """Give the pages glibc holds free back to the system (``malloc_trim``) when they are more
    than ``threshold`` bytes; whether it did. False without glibc 2.33 or later.

    A load frees its chunks' buffers and RocksDB its memtables' blocks between blocks
    still in use, where glibc keeps them (~110 MiB of a default-table load of 1M rows
    was free but held). Trimming costs CPU (the pages are faulted in again when reused),
    so only when that much is held: ``bench/bulk.py`` measured the server's peak RSS
    ~35 MiB lower (420 against 455 MiB) and the one-index load at the same CPU time; a
    fixed 1 MiB ``M_MMAP_THRESHOLD`` had done better on memory (~370 MiB) for ~15% more CPU.
    """
    trim = getattr(_LIBC, "malloc_trim", None)
    if _MALLINFO2 is None or trim is None or _MALLINFO2().fordblks <= threshold:
        return False
    return bool(trim(0))
