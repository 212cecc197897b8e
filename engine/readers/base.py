"""The reader interface and the two-pass scheme every reader follows.

Spec §3 (Ours) requires every file of a batch to be decoded and parsed before the
first record is processed, so that a malformed file fails the batch before anything
is committed. Holding a large file's records in memory would break the memory budget
(1M small records are about 1.3 GB of Python objects), and a "compact form" saves no
parsing work, so each reader makes two passes over the file's stream instead:

1. :meth:`Reader.check` decodes and parses the whole file and keeps no records
   (only tiny positional hints, such as the JSON cut offsets). Any problem raises
   :class:`~engine.errors.BatchError`.
2. :meth:`Reader.records` re-opens the file and streams the records.

Memory stays flat (about 35 MB peak for a 1M-record, 190 MB JSON file); the price is
a second parse, about a sixth of the engine's time per record in the benchmark.
Files of at most :data:`KEEP_LIMIT` bytes keep the records of the first pass, so
small files are read and parsed once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any, Final, Protocol

from engine.ports import BatchFile

KEEP_LIMIT: Final = 1 << 20
CHUNK_SIZE: Final = 1 << 18
BATCH_SIZE: Final = 1000
"""Records per list for readers that produce records one at a time."""


class Reader(Protocol):
    """Turns one input file into records (JSON-compatible values)."""

    def check(self) -> None:
        """Decode and parse the whole file; raise BatchError if it is malformed."""
        ...

    def records(self) -> Iterator[Any]:
        """The file's records, in order (after :meth:`check`)."""
        ...


ReaderFactory = Callable[[BatchFile, Mapping[str, Any]], Reader]


class TwoPassReader:
    """Base class: subclasses implement :meth:`parse` (one full pass over the file).

    ``parse`` yields lists of records (e.g. one per chunk of input), so that the
    first pass does no per-record work in Python and the second is flattened in C.
    """

    def __init__(self, file: BatchFile, spec: Mapping[str, Any]) -> None:
        self.file = file
        self.spec = spec
        self._kept: list[list[Any]] | None = None

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        """Parse the whole file, yielding lists of records; ``first_pass`` is True during :meth:`check`."""
        raise NotImplementedError

    def check(self) -> None:
        if 0 <= self.file.size <= KEEP_LIMIT:
            self._kept = list(self.parse(True))
        else:
            for _ in self.parse(True):
                pass

    def records(self) -> Iterator[Any]:
        kept, self._kept = self._kept, None
        return chain.from_iterable(kept if kept is not None else self.parse(False))
