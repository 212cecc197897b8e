"""Contract of the Blobs port (uploaded files), on every blob backend: the filesystem and S3 (moto).

Files are stored once by the SHA-256 of their bytes; an upload is streamed through a
temporary file and never held in memory; an upload that is discarded, fails, or whose
``kept`` block raises leaves nothing behind (no file, no object, no temporary file, no
unfinished multipart upload) unless another upload of the same bytes relies on it; reads
stream, as often as the engine opens a file; a missing digest is ``BlobNotFound``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest

from gateway.storage.errors import BlobNotFound, OutOfSpace
from gateway.storage.ports import Blobs, PendingBlob
from tests.storage.contract.conftest import BLOB_BACKENDS, BlobFactory
from tests.support.s3 import s3_env, snapshot, stored_files

DATA = b"hello world"
MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pattern(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """``size`` deterministic bytes in pieces of ``piece`` bytes (no two 32-byte runs alike)."""
    sent = 0
    index = 0
    while sent < size:
        seed = hashlib.sha256(index.to_bytes(8, "big")).digest()
        block = (seed * (piece // len(seed) + 1))[: min(piece, size - sent)]
        sent += len(block)
        index += 1
        yield block


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def stage(blobs: Blobs, data: bytes) -> PendingBlob:
    return asyncio.run(blobs.stage_stream(stream([data])))


def discard(pending: PendingBlob) -> None:
    asyncio.run(pending.discard())


def leftovers(factory: BlobFactory) -> list[str]:
    """Temporary files, stored files and unfinished multipart uploads of the test's store."""
    return snapshot(factory.root)


# -- storing and reading ----------------------------------------------------------


def test_a_stream_is_stored_by_its_digest_and_read_back(blobs: Blobs, blob_factory: BlobFactory) -> None:
    digest, size = asyncio.run(blobs.save_stream(stream([b"hello ", b"", b"world"])))
    assert (digest, size) == (sha(DATA), 11)
    assert blobs.exists(digest)
    assert blobs.size(digest) == 11
    assert blobs.read_bytes(digest) == DATA
    with blobs.open(digest) as reader:
        assert reader.read() == DATA
    download = blobs.download(digest)
    assert download.size == 11 and b"".join(download.chunks) == DATA
    assert stored_files(blob_factory.root) == [digest]
    assert [entry for entry in leftovers(blob_factory) if entry.endswith(".part")] == []


def test_bytes_in_memory_are_stored_too(blobs: Blobs) -> None:
    assert blobs.save_bytes(b"[]") == (sha(b"[]"), 2)
    assert blobs.read_bytes(sha(b"[]")) == b"[]"
    assert blobs.save_bytes(b"") == (sha(b""), 0)
    assert blobs.read_bytes(sha(b"")) == b"" and blobs.size(sha(b"")) == 0
    with blobs.open(sha(b"")) as reader:
        assert reader.read() == b""


def test_identical_bytes_are_stored_once(blobs: Blobs, blob_factory: BlobFactory) -> None:
    first = blobs.save_bytes(DATA)
    second = asyncio.run(blobs.save_stream(stream([b"hello", b" world"])))
    pending = stage(blobs, DATA)
    with pending.kept() as third:
        pass
    discard(pending)
    assert first == second == third == (sha(DATA), 11)
    assert stored_files(blob_factory.root) == [sha(DATA)]
    assert blobs.read_bytes(sha(DATA)) == DATA


def test_a_large_upload_streams_through_and_is_read_twice(blobs: Blobs, blob_factory: BlobFactory) -> None:
    size = 12 * MIB + 7  # several parts of a multipart upload on S3
    expected = hashlib.sha256()
    for piece in pattern(size):
        expected.update(piece)
    digest, stored = asyncio.run(blobs.save_stream(stream(pattern(size))))
    assert (digest, stored) == (expected.hexdigest(), size)
    assert blobs.size(digest) == size
    for _ in range(2):  # the engine's check pass, then its records pass
        again = hashlib.sha256()
        read = 0
        with blobs.open(digest) as reader:
            while piece := reader.read(256 * 1024):
                again.update(piece)
                read += len(piece)
        assert (read, again.hexdigest()) == (size, digest)
    streamed = blobs.download(digest)
    assert streamed.size == size
    assert hashlib.sha256(b"".join(streamed.chunks)).hexdigest() == digest
    assert stored_files(blob_factory.root) == [digest]


CHILD = """
import asyncio, hashlib, re, sys
from gateway.config import load_config
from gateway.storage.backends import open_blobs

def kib(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

size = int(sys.argv[2])
blobs = open_blobs(load_config(root=sys.argv[1]))

def pattern():
    block = hashlib.sha256(b"x").digest() * 2048
    for index in range(size // len(block)):
        yield index.to_bytes(8, "big") + block[8:]

async def chunks():
    for piece in pattern():
        yield piece

blobs.read_bytes(blobs.save_bytes(b"warm-up")[0])  # modules and connections in place first
open("/proc/self/clear_refs", "w").write("5")  # VmHWM from here on
before = kib("VmRSS")
digest, stored = asyncio.run(blobs.save_stream(chunks()))
for _ in range(2):
    with blobs.open(digest) as reader:
        while reader.read(256 * 1024):
            pass
print(stored, kib("VmHWM") - before)
"""


def test_memory_stays_flat_while_a_large_file_is_stored_and_read(blob_factory: BlobFactory) -> None:
    """Measured in a process of its own (the S3 server runs in this one): 64 MiB in, twice out."""
    size = 64 * MIB
    settings = {**BLOB_BACKENDS[blob_factory.backend](blob_factory.root), "storage.min_free_bytes": 0}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_" + k.upper().replace(".", "_"): str(v) for k, v in settings.items()})
    if blob_factory.backend == "s3":
        env.update(s3_env())
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(blob_factory.root), str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    stored, growth_kib = (int(word) for word in done.stdout.split())
    assert stored == size
    assert growth_kib < 24 * 1024, f"the process grew by {growth_kib} KiB for a {size >> 20} MiB file"


def test_a_reader_reads_lines_and_seeks(blobs: Blobs) -> None:
    data = b"".join(f"line {n}\n".encode() for n in range(20000))
    digest, _ = blobs.save_bytes(data)
    with blobs.open(digest) as reader:
        assert reader.readline() == b"line 0\n"
        assert list(reader)[-1] == b"line 19999\n"
        reader.seek(7)
        assert reader.read(7) == b"line 1\n"
        assert reader.seek(0, 2) == len(data) and reader.read(10) == b""


def test_a_reopened_store_finds_its_files(blob_factory: BlobFactory) -> None:
    first = blob_factory.open()
    digest, _ = first.save_bytes(DATA)
    first.close()
    again = blob_factory.open()
    assert again.exists(digest) and again.read_bytes(digest) == DATA


# -- nothing of a failed or discarded upload stays ------------------------------------


def test_a_discarded_upload_leaves_nothing(blobs: Blobs, blob_factory: BlobFactory) -> None:
    before = leftovers(blob_factory)
    for size in (11, 9 * MIB):
        pending = blobs.begin()

        async def upload(pending: PendingBlob = pending, size: int = size) -> None:
            for piece in pattern(size):
                await pending.write(piece)
            await pending.finish()
            await pending.discard()
            await pending.discard()  # idempotent

        asyncio.run(upload())
        assert pending.digest is not None and not blobs.exists(pending.digest)
        assert leftovers(blob_factory) == before


def test_an_upload_discarded_before_its_end_leaves_nothing(blobs: Blobs, blob_factory: BlobFactory) -> None:
    pending = blobs.begin()

    async def upload() -> None:
        for piece in pattern(3 * MIB):
            await pending.write(piece)
        await pending.discard()

    asyncio.run(upload())
    assert leftovers(blob_factory) == []


def test_a_failed_stream_leaves_nothing(blobs: Blobs, blob_factory: BlobFactory) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for piece in pattern(2 * MIB):
            yield piece
        raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        asyncio.run(blobs.save_stream(broken()))
    assert leftovers(blob_factory) == []


def test_kept_stores_only_if_its_block_ends_normally(blobs: Blobs, blob_factory: BlobFactory) -> None:
    pending = stage(blobs, DATA)
    assert pending.read_bytes() == DATA  # a control file is validated before it is kept
    with pytest.raises(RuntimeError, match="the row"), pending.kept() as stored:
        assert stored == (sha(DATA), 11)
        raise RuntimeError("the row could not be written")
    discard(pending)
    assert not blobs.exists(sha(DATA))
    assert leftovers(blob_factory) == []

    pending = stage(blobs, DATA)
    with pending.kept() as stored:
        assert stored == (sha(DATA), 11)
    discard(pending)  # after kept: changes nothing
    assert blobs.exists(sha(DATA))
    assert [entry for entry in leftovers(blob_factory) if entry.endswith(".part")] == []


def test_a_failed_kept_keeps_bytes_another_upload_relies_on(blobs: Blobs) -> None:
    # Another upload of the same bytes kept while this one's row was being written.
    first, second = stage(blobs, DATA), stage(blobs, DATA)
    with pytest.raises(RuntimeError), first.kept():
        with second.kept():
            pass
        raise RuntimeError("the first row could not be written")
    assert blobs.read_bytes(sha(DATA)) == DATA
    # The same bytes stored before: a failed kept does not take them away.
    third = stage(blobs, DATA)
    with pytest.raises(RuntimeError), third.kept():
        raise RuntimeError("no row")
    assert blobs.read_bytes(sha(DATA)) == DATA
    for pending in (first, second, third):
        discard(pending)


def test_discarding_one_of_two_identical_uploads_keeps_the_other(blobs: Blobs) -> None:
    for order in ("first", "second"):
        data = f"shared bytes, {order} discarded".encode()
        first, second = stage(blobs, data), stage(blobs, data)
        dropped, used = (first, second) if order == "first" else (second, first)
        discard(dropped)
        with used.kept():
            pass
        discard(used)
        assert blobs.read_bytes(sha(data)) == data, order


def test_a_failed_kept_of_shared_bytes_removes_them_once_nothing_relies(
    blobs: Blobs, blob_factory: BlobFactory
) -> None:
    first, second = stage(blobs, DATA), stage(blobs, DATA)
    for pending in (first, second):
        with pytest.raises(RuntimeError), pending.kept():
            raise RuntimeError("no row")
        discard(pending)
    assert not blobs.exists(sha(DATA))
    assert leftovers(blob_factory) == []


# -- missing files, room, leftovers ------------------------------------------------------


def test_missing_and_malformed_digests(blobs: Blobs) -> None:
    for digest in ("0" * 64, "../etc/passwd", "A" * 64, "", "ab/" + "0" * 61):
        assert not blobs.exists(digest)
        for read in (blobs.open, blobs.size, blobs.read_bytes, blobs.download):
            with pytest.raises(BlobNotFound) as missing:
                read(digest)
            assert missing.value.digest == digest


def test_the_free_space_floor_applies_to_uploads(blob_factory: BlobFactory) -> None:
    roomy = blob_factory.open()
    roomy.check_room(0)
    roomy.check_room(1024)
    cramped = blob_factory.open(**{"storage.min_free_bytes": 1 << 62})
    with pytest.raises(OutOfSpace) as full:
        cramped.check_room(1024)
    assert str(full.value).startswith(
        "no space left on the device (files store): the upload needs 1024 bytes"
    )
    with pytest.raises(OutOfSpace, match="no upload fits"):
        cramped.check_room(0)


def test_leftovers_of_a_stopped_process_are_removed_at_start(blob_factory: BlobFactory) -> None:
    blobs = blob_factory.open()
    spool = blob_factory.root / "blobs" / "tmp"
    (spool / "dead.part").write_bytes(b"half an upload")
    assert blobs.clean_temporary(stale_after=0) >= 1
    assert not (spool / "dead.part").exists()
    blobs.check()


def test_on_a_shared_store_only_old_leftovers_are_removed(blob_factory: BlobFactory) -> None:
    """Another process's upload in progress (written to a moment ago) is kept; a day-old one is not."""
    blobs = blob_factory.open()
    spool = blob_factory.root / "blobs" / "tmp"
    (spool / "in-progress.part").write_bytes(b"being written")
    (spool / "dead.part").write_bytes(b"half an upload")
    day_ago = time.time() - 86400 - 60
    os.utime(spool / "dead.part", (day_ago, day_ago))
    assert blobs.clean_temporary() == 1
    assert (spool / "in-progress.part").exists() and not (spool / "dead.part").exists()
