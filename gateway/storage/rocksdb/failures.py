"""rocksdict's exceptions translated into the store's own errors, in one place.

rocksdict raises a bare ``Exception`` that carries RocksDB's status text. On a full
device (RocksDB 9.8, tmpfs and ext4 alike) the text is one of:

- ``IO error: No space left on device: While appending to file: <db>/000004.log: No
  space left on device``: a write-ahead-log append (a put or a WriteBatch). RocksDB then
  stops taking writes (a "hard" background error) and answers every later write with the
  same text, or with ``IO error: Writer has previous error.`` once a flush was tried, until
  it recovers by itself: its SstFileManager checks the free space every 5 seconds and
  resumes (a flush to a new log) once at least the memtable size (64 MiB here) is free;
- ``IO error: Unable to persist options.: IO error: No space left on device: While
  appending to file: <db>/OPTIONS-000010.dbtmp: …``: creating or dropping a column family.
  The change itself is in the MANIFEST already (the store opens with the MANIFEST's column
  families, see ``database.py``); later writes are not affected.

Both become :class:`~gateway.storage.errors.OutOfSpace` (``records`` store); every
other rocksdict failure of a write becomes a :class:`~gateway.storage.errors.StoreFailure`
naming what was being done. Only bare ``Exception`` instances are translated: the
store's own errors and ``rocksdict.DbClosedError`` (a dropped table) pass through.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from gateway.storage.errors import RECORDS_STORE, OutOfSpace, StoreFailure

log = logging.getLogger("gateway.storage")

NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded", "os error 28", "os error 122")
"""RocksDB's (strerror) and Rust's (``os error N``) words for ENOSPC and EDQUOT."""
PREVIOUS_ERROR = "Writer has previous error"
"""What RocksDB says about a write-ahead-log writer that failed before (here: for lack of space)."""


class FailureTranslator:
    """Translates one store's write failures; remembers whether the last one was for lack of space."""

    def __init__(self) -> None:
        self.out_of_space = False

    def translate(self, error: Exception, action: str) -> StoreFailure:
        """The store error for rocksdict's ``error`` raised while trying to ``action``."""
        text = str(error)
        if any(marker in text for marker in NO_SPACE_TEXTS) or (self.out_of_space and PREVIOUS_ERROR in text):
            self.out_of_space = True
            log.warning("records store: could not %s: %s", action, text)
            return OutOfSpace(RECORDS_STORE)
        return StoreFailure(f"the records store could not {action}: {text}")

    @contextlib.contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Run a rocksdict write; its bare ``Exception`` is raised as a StoreFailure (or OutOfSpace)."""
        try:
            yield
        except Exception as error:
            if type(error) is not Exception:
                raise
            raise self.translate(error, action) from error
        self.out_of_space = False
