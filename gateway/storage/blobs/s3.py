"""The S3 blob store (``blobs.backend: s3``): ``<prefix><ab>/<sha256>`` in a bucket.

**Uploads.** The digest of an upload is only known once its last byte is in, so an
upload is spooled to a local temporary file (``<root>/blobs/tmp``, as the filesystem store
does, hashing as it goes; memory stays flat) and sent when it is finished: a HEAD first,
so that bytes already stored are never sent again, then boto3's managed transfer, which
sends a large file as a multipart upload, parts in parallel, read from the file as they
go. Nothing is ever written to a temporary key (no copy, nothing in the bucket for a
crash to leave behind but an unfinished multipart upload, which s3transfer aborts when a
part fails and :meth:`S3Blobs.clean_temporary` aborts a day later if the process died).

The upload is sent at ``finish`` rather than when it is kept: callers keep an upload under
locks (a batch's row), which must not wait for a transfer. Until it is kept, the object
belongs to the upload: discarding the upload, or a ``kept`` block that raises, deletes it
again unless another upload of the same bytes in this process came to rely on it
meanwhile, or a kept one did (:class:`_Ledger`). Another process relying on the same bytes
at that moment is not seen (it would find them gone): uploads of identical bytes whose rows
fail at the same moment in two processes are rare enough to leave.

**Reads** stream from S3, one GET per ``open``, resumed where a connection drops
(:mod:`.s3reader`); nothing is kept locally.

Every failure is translated once (:mod:`.s3failures`): ``StoreUnavailable`` naming the
bucket (a bucket that does not exist, refused or missing credentials, an unreachable
server), ``OutOfSpace`` for a full local spool or a full S3-compatible server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config as BotoConfig

from gateway.storage.blobs.s3failures import S3_ERRORS, is_not_found, translate
from gateway.storage.blobs.s3reader import S3Reader
from gateway.storage.blobs.spool import (
    STALE_UPLOAD_SECONDS,
    Spool,
    SpooledBlobs,
    check_room,
    clean_spool,
    download_of,
    is_digest,
    spool_files,
)
from gateway.storage.errors import BlobNotFound, StoreFailure
from gateway.storage.records import BlobDownload

log = logging.getLogger("gateway.storage")

MULTIPART_THRESHOLD = 8 * 1024 * 1024
"""Uploads of at least this many bytes go as multipart uploads."""
PART_SIZE = 8 * 1024 * 1024
TRANSFER_THREADS = 4
"""Parts sent at once, over all uploads of the process."""
READ_BUFFER = 256 * 1024
"""Bytes a reader asks S3's answer for at a time."""


@dataclass(frozen=True)
class S3Settings:
    """Where the files live: ``blobs.s3.*``."""

    bucket: str
    prefix: str = "blobs/"
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def where(self) -> str:
        """The bucket as messages name it."""
        at = (
            f" at {self.endpoint_url}" if self.endpoint_url else (f" in {self.region}" if self.region else "")
        )
        return f"S3 bucket '{self.bucket}'{at}"

    def key(self, digest: str) -> str:
        return f"{self.prefix}{digest[:2]}/{digest}"


def normalized_prefix(prefix: str) -> str:
    """A prefix with one trailing ``/`` (none for the empty prefix)."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def make_client(settings: S3Settings) -> Any:
    """A client on boto3's standard credential chain (environment, profile, instance role)."""
    config = BotoConfig(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=2 * TRANSFER_THREADS + 8,
        # S3-compatible servers (MinIO, Ceph, moto) are reached by path: no bucket host names.
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


@dataclass
class _Held:
    """An object that uploads of this process rely on and whose rows are not all written."""

    holders: int = 0
    present: bool = False
    created: bool = False  # this process put it there (so it may take it away again)
    settled: bool = False  # a row names it: it stays
    mutex: threading.Lock = field(default_factory=threading.Lock)


class _Ledger:
    """Which uploads rely on which object, so that one is removed only when none does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}

    def acquire(self, digest: str, put: Callable[[], bool]) -> None:
        """Rely on the object: ``put()`` it (True: it was not there) unless this process knows it is there."""
        with self._lock:
            held = self._held.setdefault(digest, _Held())
            held.holders += 1
        try:
            with held.mutex:
                if not held.present:
                    held.created = put()
                    held.present = True
        except BaseException:
            self.release(digest, keep=False, delete=lambda: None)
            raise

    def release(self, digest: str, keep: bool, delete: Callable[[], None]) -> None:
        """No longer rely on the object (``keep``: a row names it now); ``delete()`` it if nothing else does."""
        with self._lock:
            held = self._held[digest]
            held.holders -= 1
            held.settled = held.settled or keep
            doomed = held.holders == 0 and held.created and not held.settled
            if held.holders == 0 and not doomed:
                del self._held[digest]
        if not doomed:
            return
        with held.mutex:  # an upload of the same bytes starting now waits, then finds it gone
            with self._lock:
                if held.holders or held.settled:
                    return  # relied on again meanwhile: the last one to let go decides
            try:
                delete()
            finally:
                with self._lock:
                    held.present = held.created = False
                    if held.holders == 0:
                        self._held.pop(digest, None)


class S3Pending(Spool):
    """An upload to the S3 store: spooled while hashed, sent at ``finish`` unless already stored."""

    def __init__(self, store: S3Blobs) -> None:
        super().__init__(store.spool_dir, sync=False)
        self.store = store
        self._holding = False

    async def finish(self) -> str:
        """Close the temporary file and send it (StoreUnavailable; ``discard`` removes the file)."""
        digest = await self.finish_spool()
        await asyncio.to_thread(self._hold)
        return digest

    def _hold(self) -> None:
        assert self.digest is not None
        self.store.hold(self.temp, self.digest)
        self._holding = True

    def _let_go(self, keep: bool) -> None:
        if self._holding:
            assert self.digest is not None
            self._holding = False
            self.store.let_go(self.digest, keep)

    @contextlib.contextmanager
    def kept(self) -> Iterator[tuple[str, int]]:
        """Yield ``(digest, size)``; the object stays if the block ends normally, else it is removed."""
        assert self._holding and self.digest is not None, "finish() before kept()"
        try:
            yield self.digest, self.size
        except BaseException:
            self._let_go(keep=False)
            raise
        else:
            self._let_go(keep=True)
        finally:
            self.remove_spool()

    async def discard(self) -> None:
        """Forget the upload: its temporary file, and the object if only this upload sent it."""
        await self.close_spool()
        if self._holding:
            await asyncio.to_thread(self._let_go, False)
        self.remove_spool()


class S3Blobs(SpooledBlobs):
    """Files stored by the lowercase hex SHA-256 of their bytes, in an S3 bucket."""

    backend = "s3"

    def __init__(
        self,
        client: Any,
        settings: S3Settings,
        spool_dir: Path,
        min_free_bytes: int = 0,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        self.client = client
        self.settings = settings
        self.spool_dir = spool_dir
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.min_free_bytes = max(0, int(min_free_bytes))
        self._transfers = create_transfer_manager(
            client,
            TransferConfig(
                multipart_threshold=multipart_threshold,
                multipart_chunksize=part_size,
                max_concurrency=TRANSFER_THREADS,
                use_threads=True,
            ),
        )
        self._ledger = _Ledger()

    # -- failures ---------------------------------------------------------------

    def _failure(self, exc: BaseException, action: str, *, bucket_call: bool = False) -> StoreFailure:
        failure = translate(exc, self.settings.where, action, bucket_call=bucket_call)
        log.warning("files store: %s", failure)
        return failure

    # -- uploads ----------------------------------------------------------------

    def begin(self) -> S3Pending:
        """Start an upload; write to it, finish() (which sends it), then kept() or discard()."""
        return S3Pending(self)

    def stage_bytes(self, data: bytes) -> S3Pending:
        """Bytes held in memory as a finished upload, sent (nothing left behind on failure)."""
        pending = self.begin()
        pending.write_whole(data)
        try:
            pending._hold()
        except BaseException:
            pending.remove_spool()
            raise
        return pending

    def hold(self, temp: Path, digest: str) -> None:
        """An upload of ``digest`` relies on its object: send ``temp`` unless the object is there."""
        self._ledger.acquire(digest, lambda: self._put_if_absent(temp, digest))

    def let_go(self, digest: str, keep: bool) -> None:
        """An upload no longer relies on its object (``keep``: its row is written)."""
        self._ledger.release(digest, keep, lambda: self._delete(digest))

    def _put_if_absent(self, temp: Path, digest: str) -> bool:
        key = self.settings.key(digest)
        if self._head(key) is not None:
            return False
        try:
            self._transfers.upload(str(temp), self.settings.bucket, key).result()
        except S3_ERRORS as exc:
            raise self._failure(exc, "upload") from exc
        return True

    def _delete(self, digest: str) -> None:
        try:
            self.client.delete_object(Bucket=self.settings.bucket, Key=self.settings.key(digest))
        except S3_ERRORS as exc:  # an object that no row names is left: harmless, and logged
            self._failure(exc, f"removing the unused upload {digest}")

    # -- reads ------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.settings.bucket, Key=key)
        except S3_ERRORS as exc:
            if is_not_found(exc):
                return None
            raise self._failure(exc, "HEAD") from exc
        return answer

    def exists(self, digest: str) -> bool:
        return is_digest(digest) and self._head(self.settings.key(digest)) is not None

    def size(self, digest: str) -> int:
        head = self._head(self.settings.key(digest)) if is_digest(digest) else None
        if head is None:
            raise BlobNotFound(digest)
        return int(head["ContentLength"])

    def _reader(self, digest: str) -> S3Reader:
        size = self.size(digest)
        key = self.settings.key(digest)
        return S3Reader(self.client, self.settings.bucket, key, size, self._failure)

    def open(self, digest: str) -> BinaryIO:
        return io.BufferedReader(self._reader(digest), buffer_size=READ_BUFFER)

    def read_bytes(self, digest: str) -> bytes:
        if not is_digest(digest):
            raise BlobNotFound(digest)
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=self.settings.key(digest))
            data: bytes = answer["Body"].read()
        except S3_ERRORS as exc:
            if is_not_found(exc):
                raise BlobNotFound(digest) from exc
            raise self._failure(exc, "GET") from exc
        return data

    def download(self, digest: str) -> BlobDownload:
        raw = self._reader(digest)
        return download_of(io.BufferedReader(raw, buffer_size=READ_BUFFER), raw.size)

    # -- the store --------------------------------------------------------------

    def check_room(self, size: int) -> None:
        """Uploads are spooled locally first: the floor applies to the spool's device."""
        check_room(self.spool_dir, self.min_free_bytes, size)

    def check(self) -> None:
        """StoreUnavailable unless the bucket answers to these credentials."""
        try:
            self.client.head_bucket(Bucket=self.settings.bucket)
        except S3_ERRORS as exc:
            raise self._failure(exc, "HEAD of the bucket", bucket_call=True) from exc

    def clean_temporary(self, stale_after: float = STALE_UPLOAD_SECONDS) -> int:
        """Remove spooled uploads a stopped process left, and abort its unfinished multipart uploads.

        Multipart uploads under the prefix started more than ``stale_after`` seconds ago are
        aborted (younger ones may be another gateway's, in progress). Credentials that may not
        list or abort them only earn a warning: a bucket lifecycle rule can do the same.
        """
        removed = clean_spool(self.spool_dir, stale_after)
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=stale_after)
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.settings.bucket, Prefix=self.settings.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] <= cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.settings.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        except S3_ERRORS as exc:
            failure = translate(exc, self.settings.where, "aborting unfinished multipart uploads")
            log.warning(
                "files store: %s (an AbortIncompleteMultipartUpload lifecycle rule does it too)", failure
            )
        return removed

    def temporary_files(self) -> list[Path]:
        """Spooled uploads currently present (in progress or leftovers)."""
        return spool_files(self.spool_dir)

    def close(self) -> None:
        self._transfers.shutdown()
        self.client.close()


def open_s3_blobs(settings: S3Settings, spool_dir: Path, min_free_bytes: int = 0) -> S3Blobs:
    """The S3 store on ``settings``, checked: StoreUnavailable naming the bucket if it cannot be used."""
    store = S3Blobs(make_client(settings), settings, spool_dir, min_free_bytes)
    try:
        store.check()
    except BaseException:
        store.close()
        raise
    return store
