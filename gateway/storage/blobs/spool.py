"""What every blob backend shares: the local temporary file an upload is received into.

An upload is written to ``<spool>/<uuid>.part`` in blocks of :data:`WRITE_BLOCK` bytes
while its SHA-256 is computed (:class:`Spool`), so memory stays flat whatever its size
and its digest is known when the last byte is in. A full device (ENOSPC, EDQUOT on a
write, the sync or the close) is :class:`~gateway.storage.errors.OutOfSpace` of the
``files`` store. :func:`check_room` applies the free-space floor
(``storage.min_free_bytes``) to the spool's device before a body is read.

:class:`SpooledBlobs` gives a backend the port's conveniences (``stage_stream``,
``save_stream``, ``save_bytes``) on top of its ``begin``/``stage_bytes``/``exists``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aiofiles

from gateway.storage.errors import FILES_STORE, OutOfSpace, is_no_space
from gateway.storage.ports import PendingBlob
from gateway.storage.records import BlobDownload

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
WRITE_BLOCK = 1024 * 1024
"""Bytes gathered in memory before they are written to the temporary file."""
DOWNLOAD_CHUNK = 1024 * 1024
"""Bytes per piece of a download."""
SUFFIX = ".part"


def is_digest(digest: str) -> bool:
    """Whether ``digest`` is a lowercase hex SHA-256 (anything else is never stored)."""
    return isinstance(digest, str) and _DIGEST.match(digest) is not None


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise a full device's OSError (ENOSPC, EDQUOT) as OutOfSpace of the files store."""
    try:
        yield
    except OSError as exc:
        if is_no_space(exc):
            raise OutOfSpace(FILES_STORE) from exc
        raise


def check_room(directory: Path, min_free_bytes: int, size: int) -> None:
    """OutOfSpace unless ``size`` more bytes fit under ``directory`` with ``min_free_bytes`` still free.

    ``size`` 0 (not declared) fits only while more than ``min_free_bytes`` are free.
    """
    free = shutil.disk_usage(directory).free
    room = max(0, free - min_free_bytes)
    if size > room or room == 0:
        kept = f"({free} free, {min_free_bytes} kept free)"
        if size:
            raise OutOfSpace(FILES_STORE, f"the upload needs {size} bytes and {room} are available {kept}")
        raise OutOfSpace(FILES_STORE, f"no upload fits, no bytes are available {kept}")


STALE_UPLOAD_SECONDS = 24 * 3600
"""An unfinished upload untouched for this long was left by a stopped process (on a store shared by
several processes, younger ones may be another process's, in progress)."""


def clean_spool(directory: Path, stale_after: float = STALE_UPLOAD_SECONDS) -> int:
    """Remove temporary files not written to for ``stale_after`` seconds; how many were removed."""
    cutoff = time.time() - stale_after
    removed = 0
    for leftover in directory.glob("*" + SUFFIX):
        try:
            if leftover.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue  # finished (or removed) meanwhile
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def spool_files(directory: Path) -> list[Path]:
    """Temporary files currently present (uploads in progress or leftovers)."""
    return sorted(directory.glob("*" + SUFFIX))


def download_of(reader: BinaryIO, size: int, chunk_size: int = DOWNLOAD_CHUNK) -> BlobDownload:
    """A download reading ``reader`` (already open: a missing file failed before) in pieces."""

    def chunks() -> Iterator[bytes]:
        with reader:
            while piece := reader.read(chunk_size):
                yield piece

    return BlobDownload(size, chunks())


class Spool:
    """An upload being written to a temporary file, plus the running SHA-256 of its bytes.

    ``sync``: the file is synced before it is closed (the filesystem store renames it into
    place, so a stored file is whole after a crash; a device that reports a full disk only
    when syncing, such as NFS or a quota, fails here).
    """

    def __init__(self, directory: Path, *, sync: bool) -> None:
        self.temp = directory / f"{uuid.uuid4().hex}{SUFFIX}"
        self.size = 0
        self.digest: str | None = None
        self._sync = sync
        self._hash = hashlib.sha256()
        self._file: Any = None
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        """Append bytes; they reach the temporary file in blocks of WRITE_BLOCK bytes (OutOfSpace)."""
        if data:
            self._hash.update(data)
            self.size += len(data)
            self._buffer += data
            if len(self._buffer) >= WRITE_BLOCK:
                await self._flush()

    async def _flush(self) -> None:
        with translated():
            if self._file is None:
                self._file = await aiofiles.open(self.temp, "wb")
            if self._buffer:
                await self._file.write(bytes(self._buffer))
                self._buffer.clear()

    async def finish_spool(self) -> str:
        """Write the rest, sync (if asked) and close the temporary file; the digest of everything written."""
        await self._flush()
        with translated():
            await self._file.flush()
            if self._sync:
                await asyncio.to_thread(os.fsync, self._file.fileno())
            await self._file.close()
        self.digest = self._hash.hexdigest()
        return self.digest

    def write_whole(self, data: bytes) -> None:
        """The upload is ``data``, held in memory: write, sync (if asked) and close (OutOfSpace)."""
        with translated():
            try:
                with self.temp.open("wb") as fh:
                    fh.write(data)
                    fh.flush()
                    if self._sync:
                        os.fsync(fh.fileno())
            except BaseException:
                self.temp.unlink(missing_ok=True)
                raise
        self.size = len(data)
        self.digest = hashlib.sha256(data).hexdigest()

    def read_bytes(self) -> bytes:
        """The finished upload's bytes, from the temporary file."""
        return self.temp.read_bytes()

    async def close_spool(self) -> None:
        """Close the temporary file if still open (never raises OSError: buffered bytes are dropped)."""
        self._buffer.clear()
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError):
                await self._file.close()

    def remove_spool(self) -> None:
        """Remove the temporary file (idempotent)."""
        self.temp.unlink(missing_ok=True)


class SpooledBlobs(ABC):
    """The port's conveniences, built on a backend's ``begin``, ``stage_bytes`` and ``exists``."""

    @abstractmethod
    def begin(self) -> PendingBlob:
        """Start an upload."""

    @abstractmethod
    def stage_bytes(self, data: bytes) -> PendingBlob:
        """Bytes held in memory as a finished upload."""

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a file with this digest is stored."""

    async def stage_stream(self, chunks: AsyncIterator[bytes]) -> PendingBlob:
        """Write a stream of bytes to a finished, unkept upload (nothing left behind on failure)."""
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
            with pending.kept() as stored:
                return stored
        finally:
            await pending.discard()

    def save_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes held in memory; (digest, size)."""
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest, len(data)
        with self.stage_bytes(data).kept() as stored:
            return stored
