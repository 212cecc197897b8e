"""Content-addressed file store under the root: ``blobs/ab/<sha256>``.

Uploads are written to a temporary file under ``blobs/tmp/`` while their SHA-256
is computed, then renamed into place; the same bytes are stored once. A pending
upload can be discarded (nothing stored, no temporary file left) until it is
committed, so a request can be validated after its body has been streamed.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import aiofiles

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
WRITE_BLOCK = 1024 * 1024


class BlobNotFound(Exception):
    """No blob is stored under this digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"no stored file with digest {digest}")
        self.digest = digest


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

    async def write(self, data: bytes) -> None:
        """Append bytes; they reach the temporary file in blocks of WRITE_BLOCK bytes."""
        if data:
            self._hash.update(data)
            self.size += len(data)
            self._buffer += data
            if len(self._buffer) >= WRITE_BLOCK:
                await self._flush()

    async def _flush(self) -> None:
        if self._file is None:
            self._file = await aiofiles.open(self.temp, "wb")
        if self._buffer:
            await self._file.write(bytes(self._buffer))
            self._buffer.clear()

    async def finish(self) -> str:
        """Close the temporary file; the digest of everything written."""
        await self._flush()
        await self._file.close()
        self.digest = self._hash.hexdigest()
        return self.digest

    def commit(self) -> tuple[str, int]:
        """Move the finished upload into place (or drop it if the bytes are already stored)."""
        assert self.digest is not None, "finish() before commit()"
        target = self.store.path(self.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self.temp.unlink(missing_ok=True)
        else:
            os.replace(self.temp, target)
        self.committed = True
        return self.digest, self.size

    async def discard(self) -> None:
        """Forget the upload and remove its temporary file (idempotent)."""
        self._buffer.clear()
        if self._file is not None and not self._file.closed:
            await self._file.close()
        if not self.committed:
            self.temp.unlink(missing_ok=True)


class BlobStore:
    """Files stored by the lowercase hex SHA-256 of their bytes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tmp_dir = directory / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

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

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Store a stream of bytes; (digest, size). Nothing is left behind on failure."""
        pending = self.begin()
        try:
            async for chunk in chunks:
                await pending.write(chunk)
            await pending.finish()
            return pending.commit()
        finally:
            await pending.discard()

    def save_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes held in memory; (digest, size)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = self.tmp_dir / f"{uuid.uuid4().hex}.part"
            try:
                temp.write_bytes(data)
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        return digest, len(data)
