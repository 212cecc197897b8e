"""Reading a stored object as a file: one streamed GET, resumed with a ranged GET where it drops.

:class:`S3Reader` is a raw, seekable reader over one object of known size. It asks for the
rest of the object from its position with one GET (``Range: bytes=<pos>-`` after a seek or a
drop) and streams the answer's body into the caller's buffer, so memory holds no more than
the caller asks for and the engine reads at its own pace (TCP holds the sender back). A
connection that drops, or an answer cut short, is resumed with a new ranged GET from the byte
where it stopped (up to :data:`READ_ATTEMPTS` times in a row without progress, then
``StoreUnavailable``); an error S3 answers with is not retried here (botocore retries each
request itself). Each ``open`` of a blob reads it again: the engine's two passes over a
large file (engine/readers/base.py) are two streamed downloads, and no local copy is kept.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from gateway.storage.blobs.s3failures import S3_ERRORS
from gateway.storage.errors import StoreFailure

READ_ATTEMPTS = 3
"""GETs in a row without progress before a failure is the store's."""
READALL_PIECE = 1024 * 1024

Translate = Callable[[BaseException, str], StoreFailure]


class _Truncated(Exception):
    """An answer's body ended before the bytes it promised."""


_READ_ERRORS: tuple[type[Exception], ...] = (*S3_ERRORS, OSError, _Truncated)


class S3Reader(io.RawIOBase):
    """``size`` bytes of ``bucket``/``key``, streamed from S3 (see the module)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        size: int,
        translate: Translate,
        *,
        attempts: int = READ_ATTEMPTS,
    ) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self.size = size
        self._translate = translate
        self._attempts = max(1, attempts)
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._drop()
            self._pos = target
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.size - self._pos)
        if want <= 0:
            return 0
        for attempt in range(1, self._attempts + 1):
            try:
                if self._body is None:
                    self._open_body()
                data = self._body.read(want)
                if not data:
                    raise _Truncated(f"the answer ended at byte {self._pos} of {self.size}")
            except _READ_ERRORS as exc:
                self._drop()
                if attempt == self._attempts or isinstance(exc, ClientError):
                    raise self._translate(exc, "reading") from exc
                continue
            count = len(data)
            view[:count] = data
            self._pos += count
            if self._pos >= self.size:
                self._drop()
            return count
        raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)

    def readall(self) -> bytes:
        pieces = []
        while piece := self.read(READALL_PIECE):
            pieces.append(piece)
        return b"".join(pieces)

    def _open_body(self) -> None:
        ranged = {"Range": f"bytes={self._pos}-"} if self._pos else {}
        answer = self._client.get_object(Bucket=self._bucket, Key=self._key, **ranged)
        self._body = answer["Body"]

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._drop()
        super().close()
