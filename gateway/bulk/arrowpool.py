"""The memory allocators of bulk loads: Arrow's pool (pyarrow's reader, casts and encoding) and glibc's arenas."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

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


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers
M_ARENA_MAX = -8
MALLOC_ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def tune_malloc() -> bool:
    """Set glibc's malloc for loads: two arenas, and blocks of 1 MiB or more mapped on their own.

    By default each thread of a load (prefetching, pyarrow's reader, RocksDB's) gets an
    arena of its own, and the threshold above which a block is mapped on its own grows
    with the largest block freed (up to 32 MiB), so the memtables' 8 MiB blocks and the
    chunks' WriteBatch buffers end up in the heap, where freed memory stays held between
    blocks still in use (~110 MiB of a default-table load of 1M rows was free but
    held). ``bench/bulk.py``: the server's peak RSS ~60 MiB lower at the same speed.
    A variable the operator set (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``)
    wins. False where glibc is absent.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = True
    if not os.environ.get("MALLOC_ARENA_MAX"):
        done = bool(mallopt(M_ARENA_MAX, MALLOC_ARENAS)) and done
    if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and done
    return done
