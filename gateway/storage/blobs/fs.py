"""The filesystem blob store (``blobs.backend: fs``): ``<root>/blobs/ab/<sha256>``.

Uploads are written to a temporary file under ``blobs/tmp/`` while their SHA-256
is computed, synced, then renamed into place; the same bytes are stored once. A
pending upload can be discarded (nothing stored, no temporary file left) until it
is kept, so a request can be validated after its body has been streamed. A kept
upload whose row could not be written is reverted (:meth:`FsPending.kept`): the file
it put in place is removed again unless another upload of the same bytes came to
rely on it meanwhile.

A full device (ENOSPC, EDQUOT on a write, the sync, a directory or the rename) is
raised as :class:`~gateway.storage.errors.OutOfSpace` (``files`` store), with the
temporary file removed. :meth:`FsBlobs.check_room` refuses an upload up front when its
declared size does not fit in the free space above ``min_free_bytes``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gateway.storage.blobs.spool import (
    STALE_UPLOAD_SECONDS,
    Spool,
    SpooledBlobs,
    check_room,
    clean_spool,
    download_of,
    is_digest,
    spool_files,
    translated,
)
from gateway.storage.errors import BlobNotFound
from gateway.storage.records import BlobDownload


class FsPending(Spool):
    """An upload to the filesystem store: a synced temporary file renamed into place when kept."""

    def __init__(self, store: FsBlobs) -> None:
        super().__init__(store.tmp_dir, sync=True)
        self.store = store
        self.committed = False
        self.created = False  # whether commit() put the file in place (it was not stored before)

    async def finish(self) -> str:
        """Write the rest, sync and close the temporary file; the digest of everything written.

        The sync comes before the rename, so a stored blob is whole after a crash, and a
        device that reports a full disk only when syncing (NFS, quotas) fails here (OutOfSpace).
        """
        return await self.finish_spool()

    def commit(self) -> tuple[str, int]:
        """Move the finished upload into place (or drop it if the bytes are already stored)."""
        assert self.digest is not None, "finish() before commit()"
        with translated():
            self.created = self.store.place(self.temp, self.digest)
        self.committed = True
        return self.digest, self.size

    def revert(self) -> None:
        """Undo a commit whose use failed: remove the file it put in place, unless shared since."""
        if self.committed and self.digest is not None:
            self.store.unplace(self.digest, self.created)
            self.committed = self.created = False

    def settle(self) -> None:
        """The commit is in use (its row is written): it will not be reverted."""
        if self.committed and self.digest is not None:
            self.store.settled(self.digest, self.created)

    @contextlib.contextmanager
    def kept(self) -> Iterator[tuple[str, int]]:
        """Commit and yield ``(digest, size)``; if the block raises, the commit is reverted.

        For "store the file, then write the row that names it": a row that cannot be
        written (a full device) leaves no blob behind that nothing names.
        """
        try:
            stored = self.commit()
        except BaseException:
            self.remove_spool()
            raise
        try:
            yield stored
        except BaseException:
            self.revert()
            raise
        self.settle()

    async def discard(self) -> None:
        """Forget the upload and remove its temporary file (idempotent; never raises OSError)."""
        await self.close_spool()
        if not self.committed:
            self.remove_spool()


class FsBlobs(SpooledBlobs):
    """Files stored by the lowercase hex SHA-256 of their bytes, under ``directory``."""

    backend = "fs"

    def __init__(self, directory: Path, min_free_bytes: int = 0) -> None:
        self.directory = directory
        self.tmp_dir = directory / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.min_free_bytes = max(0, int(min_free_bytes))
        self._lock = threading.Lock()
        # Blobs that a commit put in place and whose row is not written yet: digest -> whether
        # another commit of the same bytes found it there meanwhile (then it is never reverted).
        self._unsettled: dict[str, bool] = {}

    def free_bytes(self) -> int:
        """Free bytes on the device that holds the blobs."""
        return shutil.disk_usage(self.directory).free

    def check_room(self, size: int) -> None:
        """OutOfSpace unless ``size`` more bytes fit with ``min_free_bytes`` still free afterwards."""
        check_room(self.directory, self.min_free_bytes, size)

    def check(self) -> None:
        """Nothing to check: the directory is there (a full device answers OutOfSpace when written)."""

    def place(self, temp: Path, digest: str) -> bool:
        """Rename a finished temporary file to the blob's path; whether it was not stored before."""
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if target.exists():
                temp.unlink(missing_ok=True)
                if digest in self._unsettled:
                    self._unsettled[digest] = True
                return False
            os.replace(temp, target)
            self._unsettled[digest] = False
            return True

    def unplace(self, digest: str, created: bool) -> None:
        """Revert a commit: remove the blob it created, unless another commit came to rely on it."""
        if not created:
            return
        with self._lock:
            shared = self._unsettled.pop(digest, False)
            if not shared:
                self.path(digest).unlink(missing_ok=True)

    def settled(self, digest: str, created: bool) -> None:
        """A commit that created its blob is in use now: forget that it could be reverted."""
        if created:
            with self._lock:
                self._unsettled.pop(digest, None)

    def clean_temporary(self, stale_after: float = STALE_UPLOAD_SECONDS) -> int:
        """Remove temporary files a stopped process left (untouched for ``stale_after`` s); how many."""
        return clean_spool(self.tmp_dir, stale_after)

    def temporary_files(self) -> list[Path]:
        """Temporary files currently present (uploads in progress or leftovers)."""
        return spool_files(self.tmp_dir)

    def path(self, digest: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if not is_digest(digest):
            raise BlobNotFound(digest)
        return self.directory / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        try:
            return self.path(digest).is_file()
        except BlobNotFound:
            return False

    def open(self, digest: str) -> BinaryIO:
        """The stored bytes for reading; BlobNotFound if absent."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(digest) from exc

    def read_bytes(self, digest: str) -> bytes:
        """The whole blob (for small files such as control files)."""
        with self.open(digest) as fh:
            return fh.read()

    def size(self, digest: str) -> int:
        """The stored blob's size in bytes."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(digest) from exc

    def download(self, digest: str) -> BlobDownload:
        """The stored file in pieces, read as they are sent."""
        reader = self.open(digest)
        return download_of(reader, os.fstat(reader.fileno()).st_size)

    def begin(self) -> FsPending:
        """Start an upload; write to it, finish(), then kept() or discard()."""
        return FsPending(self)

    def stage_bytes(self, data: bytes) -> FsPending:
        """Bytes held in memory as a finished, uncommitted upload (OutOfSpace, nothing left behind)."""
        pending = self.begin()
        pending.write_whole(data)
        return pending

    def close(self) -> None:
        """Nothing to release."""
