"""Content-addressed file store under the root: ``blobs/ab/<sha256>``.

Uploads are written to a temporary file under ``blobs/tmp/`` while their SHA-256
is computed, synced, then renamed into place; the same bytes are stored once. A
pending upload can be discarded (nothing stored, no temporary file left) until it
is committed, so a request can be validated after its body has been streamed. A
committed upload whose row could not be written is reverted (:meth:`PendingBlob.kept`):
the file it put in place is removed again unless another upload of the same bytes
came to rely on it meanwhile.

A full device (ENOSPC, EDQUOT on a write, the sync, a directory or the rename) is
raised as :class:`~gateway.storage.errors.OutOfSpace` (``files`` store), with the
temporary file removed. :meth:`BlobStore.check_room` refuses an upload up front when its
declared size does not fit in the free space above ``min_free_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aiofiles

from gateway.storage.errors import FILES_STORE, OutOfSpace, is_no_space

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
WRITE_BLOCK = 1024 * 1024


class BlobNotFound(Exception):
    """No blob is stored under this digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"no stored file with digest {digest}")
        self.digest = digest


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Raise a full device's OSError (ENOSPC, EDQUOT) as OutOfSpace of the files store."""
    try:
        yield
    except OSError as exc:
        if is_no_space(exc):
            raise OutOfSpace(FILES_STORE) from exc
        raise


class PendingBlob:
    """An upload being written: a temporary file plus its running SHA-256."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.temp = store.tmp_dir / f"{uuid.uuid4().hex}.part"
        self.size = 0
        self._hash = hashlib.sha256()
        self._file: Any = None
        self._buffer = bytearray()
        self.digest: str | None = None
        self.committed = False
        self.created = False  # whether commit() put the file in place (it was not stored before)

    async def write(self, data: bytes) -> None:
        """Append bytes; they reach the temporary file in blocks of WRITE_BLOCK bytes (OutOfSpace)."""
        if data:
            self._hash.update(data)
            self.size += len(data)
            self._buffer += data
            if len(self._buffer) >= WRITE_BLOCK:
                await self._flush()

    async def _flush(self) -> None:
        with _translated():
            if self._file is None:
                self._file = await aiofiles.open(self.temp, "wb")
            if self._buffer:
                await self._file.write(bytes(self._buffer))
                self._buffer.clear()

    async def finish(self) -> str:
        """Write the rest, sync and close the temporary file; the digest of everything written.

        The sync comes before the rename, so a stored blob is whole after a crash, and a
        device that reports a full disk only when syncing (NFS, quotas) fails here (OutOfSpace).
        """
        await self._flush()
        with _translated():
            await self._file.flush()
            await asyncio.to_thread(os.fsync, self._file.fileno())
            await self._file.close()
        self.digest = self._hash.hexdigest()
        return self.digest

    def commit(self) -> tuple[str, int]:
        """Move the finished upload into place (or drop it if the bytes are already stored)."""
        assert self.digest is not None, "finish() before commit()"
        with _translated():
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
            self.temp.unlink(missing_ok=True)
            raise
        try:
            yield stored
        except BaseException:
            self.revert()
            raise
        self.settle()

    async def discard(self) -> None:
        """Forget the upload and remove its temporary file (idempotent; never raises OSError)."""
        self._buffer.clear()
        if self._file is not None and not self._file.closed:
            # Buffered bytes that cannot be written (a full device) are dropped with the file.
            with contextlib.suppress(OSError):
                await self._file.close()
        if not self.committed:
            self.temp.unlink(missing_ok=True)


class BlobStore:
    """Files stored by the lowercase hex SHA-256 of their bytes."""

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
        """OutOfSpace unless ``size`` more bytes fit with ``min_free_bytes`` still free afterwards.

        ``size`` 0 (not declared) fits only while more than ``min_free_bytes`` are free.
        """
        free = self.free_bytes()
        room = max(0, free - self.min_free_bytes)
        if size > room or room == 0:
            kept = f"({free} free, {self.min_free_bytes} kept free)"
            if size:
                raise OutOfSpace(
                    FILES_STORE, f"the upload needs {size} bytes and {room} are available {kept}"
                )
            raise OutOfSpace(FILES_STORE, f"no upload fits, no bytes are available {kept}")

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

    def clean_temporary(self) -> int:
        """Remove temporary files left by a crashed process; how many were removed."""
        removed = 0
        for leftover in self.tmp_dir.glob("*.part"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def temporary_files(self) -> list[Path]:
        """Temporary files currently present (uploads in progress or leftovers)."""
        return sorted(self.tmp_dir.glob("*.part"))

    def path(self, digest: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if not _DIGEST.match(digest):
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

    def begin(self) -> PendingBlob:
        """Start an upload; write to it, finish(), then commit() or discard()."""
        return PendingBlob(self)

    async def stage_stream(self, chunks: AsyncIterator[bytes]) -> PendingBlob:
        """Write a stream of bytes to a finished, uncommitted upload (nothing left behind on failure)."""
        pending = self.begin()
        try:
            async for chunk in chunks:
                await pending.write(chunk)
            await pending.finish()
        except BaseException:
            await pending.discard()
            raise
        return pending

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Store a stream of bytes; (digest, size). Nothing is left behind on failure."""
        pending = await self.stage_stream(chunks)
        try:
            stored = pending.commit()
        finally:
            await pending.discard()
        pending.settle()
        return stored

    def stage_bytes(self, data: bytes) -> PendingBlob:
        """Bytes held in memory as a finished, uncommitted upload (OutOfSpace, nothing left behind)."""
        pending = self.begin()
        with _translated():
            try:
                with pending.temp.open("wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                pending.temp.unlink(missing_ok=True)
                raise
        pending.size = len(data)
        pending.digest = hashlib.sha256(data).hexdigest()
        return pending

    def save_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes held in memory; (digest, size)."""
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest, len(data)
        pending = self.stage_bytes(data)
        with pending.kept() as stored:
            return stored
