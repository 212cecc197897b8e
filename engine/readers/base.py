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

**Checked files.** A reader that sets :attr:`TwoPassReader.hint_kind` reports, after a
successful check, what the check found (:meth:`~TwoPassReader.checked`: a small
JSON value, e.g. the JSON cut offsets). A later run over the *same bytes* under the
*same spec* may hand it back (:attr:`engine.ports.BatchFile.checked`);
:meth:`~TwoPassReader.skip_check` validates its form and then the first pass is not
made. The records pass still runs every per-record check of the first pass (the
nesting depth) and validates every positional hint as it uses it, so a wrong hint
ends in the same records or a clean :class:`~engine.errors.BatchError`, never in
different records; what it gives up is only "the whole file parsed before the first
record". A reader without a ``hint_kind`` always checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any, ClassVar, Final, Protocol

from engine.ports import BatchFile

KEEP_LIMIT: Final = 1 << 20
CHUNK_SIZE: Final = 1 << 18
BATCH_SIZE: Final = 1000
"""Records per list for readers that produce records one at a time."""
HINTS_VERSION: Final = 1
"""The version of what :meth:`TwoPassReader.checked` reports. Bump it whenever a reader's check
starts refusing something it accepted before, or its hints change meaning: callers that keep
hints include it in their key, and hints of another version are not used."""


class Reader(Protocol):
    """Turns one input file into records (JSON-compatible values)."""

    def check(self) -> None:
        """Decode and parse the whole file; raise BatchError if it is malformed."""
        ...

    def records(self) -> Iterator[Any]:
        """The file's records, in order (after :meth:`check`, or an accepted :meth:`skip_check`)."""
        ...

    def checked(self) -> object | None:
        """After :meth:`check` succeeded: what a later run over the same bytes and spec may hand to
        :meth:`skip_check` (JSON-serialisable), or None if this reader always checks."""
        ...

    def skip_check(self, hints: object) -> bool:
        """Take an earlier check's :meth:`checked` instead of checking; False (nothing changed) if
        they do not fit this reader and file, and the caller must call :meth:`check`."""
        ...


ReaderFactory = Callable[[BatchFile, Mapping[str, Any]], Reader]


class TwoPassReader:
    """Base class: subclasses implement :meth:`parse` (one full pass over the file).

    ``parse`` yields lists of records (e.g. one per chunk of input), so that the
    first pass does no per-record work in Python and the second is flattened in C.
    """

    hint_kind: ClassVar[str | None] = None
    """The kind of hints this reader reports and takes (None: it always checks)."""

    def __init__(self, file: BatchFile, spec: Mapping[str, Any]) -> None:
        self.file = file
        self.spec = spec
        self._kept: list[list[Any]] | None = None
        self.hinted = False
        """Whether :meth:`check` was skipped on an earlier check's hints."""

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        """Parse the whole file, yielding lists of records; ``first_pass`` is True during :meth:`check`."""
        raise NotImplementedError

    def check(self) -> None:
        if 0 <= self.file.size <= KEEP_LIMIT:
            self._kept = list(self.parse(True))
        else:
            for _ in self.parse(True):
                pass

    def checked(self) -> object | None:
        if self.hint_kind is None:
            return None
        return {"version": HINTS_VERSION, "kind": self.hint_kind, "size": self.file.size, **self.hints()}

    def hints(self) -> dict[str, Any]:
        """This reader's own part of :meth:`checked` (after a successful check)."""
        return {}

    def skip_check(self, hints: object) -> bool:
        if (
            self.hint_kind is None
            or not isinstance(hints, dict)
            or hints.get("version") != HINTS_VERSION
            or hints.get("kind") != self.hint_kind
            or hints.get("size") != self.file.size
            or not self.take_hints(hints)
        ):
            return False
        self.hinted = True
        return True

    def take_hints(self, hints: Mapping[str, Any]) -> bool:
        """Validate and keep this reader's own part of ``hints``; False if it does not fit."""
        return True

    def records(self) -> Iterator[Any]:
        kept, self._kept = self._kept, None
        return chain.from_iterable(kept if kept is not None else self.parse(False))
