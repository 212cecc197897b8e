"""A file wrapper that counts the bytes read from it, for a run's percent done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO


class CountingReader:
    """A read-only file wrapper that reports bytes consumed (for percent done).

    A chunk counts as consumed when the next read is asked for (or at the end):
    the engine processes a chunk's records before it reads on.
    """

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read
        self._last = 0

    def _credit(self, count: int) -> None:
        if self._last:
            self._on_read(self._last)
        self._last = count

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._credit(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._credit(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        raw: Any = self._raw
        count = int(raw.readinto(buffer) or 0)
        self._credit(count)
        return count

    def __iter__(self) -> CountingReader:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def close(self) -> None:
        self._credit(0)
        self._raw.close()

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
