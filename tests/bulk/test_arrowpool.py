"""Bulk loads allocate Arrow memory from jemalloc unless the environment chooses a pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from gateway.bulk.arrowpool import POOL_VARIABLE, release_free_memory, tune_malloc, use_jemalloc


@pytest.fixture
def restore_pool() -> Iterator[Any]:
    pool = pa.default_memory_pool()
    yield pool
    pa.set_memory_pool(pool)


def test_jemalloc_becomes_the_default_pool(monkeypatch: pytest.MonkeyPatch, restore_pool: Any) -> None:
    monkeypatch.delenv(POOL_VARIABLE, raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    assert use_jemalloc() == "jemalloc"
    assert pa.default_memory_pool().backend_name == "jemalloc"


def test_a_pool_named_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch, restore_pool: Any) -> None:
    monkeypatch.setenv(POOL_VARIABLE, "system")
    pa.set_memory_pool(pa.system_memory_pool())
    assert use_jemalloc() == "system"
    assert pa.default_memory_pool().backend_name == "system"


def test_malloc_arenas_are_capped_unless_the_environment_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert tune_malloc() is True  # glibc (the only platform the service runs on)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert tune_malloc() is False


def test_free_memory_is_given_back_only_above_the_threshold() -> None:
    held = [bytearray(4096) for _ in range(20_000)]  # ~80 MB in the heap, then freed
    del held[::2]
    assert release_free_memory(threshold=1 << 40) is False
    assert release_free_memory(threshold=0) is True
