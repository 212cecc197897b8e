"""Streaming uploads: body-size cap (413), no temporary file left behind, digests, blob store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.storage.blobs.fs import FsBlobs
from gateway.storage.errors import BlobNotFound
from tests.batch.conftest import API, WITH_S3, BatchApi, backend_setups, minimal_control, snapshot, start_api
from tests.support.s3 import stored_bytes, stored_files

backend = backend_setups(*WITH_S3)


def multipart_chunks(
    boundary: str, fields: dict[str, str], name: str, size: int, block: int = 64 * 1024
) -> Iterator[bytes]:
    """A multipart body generated in blocks (the file part is ``size`` bytes of a pattern)."""
    for field, value in fields.items():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    pattern = bytes(range(256)) * (block // 256)
    sent = 0
    while sent < size:
        piece = pattern[: min(block, size - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def expected_digest(size: int, block: int = 64 * 1024) -> str:
    digest = hashlib.sha256()
    pattern = bytes(range(256)) * (block // 256)
    sent = 0
    while sent < size:
        piece = pattern[: min(block, size - sent)]
        sent += len(piece)
        digest.update(piece)
    return digest.hexdigest()


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "blobs" / "tmp").glob("*"))


def test_streamed_file_upload_digest(mapi: BatchApi, module_root: Path) -> None:
    api, client, root = mapi, mapi.client, module_root
    batch = api.create_batch(api.upload_control(minimal_control()))
    size = 6 * 1024 * 1024 + 123
    boundary = "b0undary"
    response = client.post(
        API + "file",
        content=multipart_chunks(boundary, {"batch": batch, "name": "big"}, "file", size),
        headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 200, response.text
    assert response.text == expected_digest(size)
    stored = stored_bytes(root, response.text)
    assert stored is not None and len(stored) == size
    assert temp_files(root) == []
    files = api.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert files == [
        {"name": "big", "file": {"digest": response.text, "fileSize": size, "filename": "big.bin"}}
    ]


def test_oversized_body_is_413_without_leftovers(small_limit_client: TestClient, root: Path) -> None:
    client = small_limit_client
    api = start_api(client)
    batch = api.create_batch(api.upload_control(minimal_control()))
    before = snapshot(root)
    # declared too large: refused on the first read
    big = b"x" * (80 * 1024)
    response = client.post(
        API + "file", data={"batch": batch, "name": "a"}, files={"file": ("a.bin", big)}, headers=api.headers
    )
    assert (response.status_code, response.text) == (413, "Content Too Large")
    # streamed without a length: refused once the limit is crossed, mid-file
    boundary = "zz"
    response = client.post(
        API + "file",
        content=multipart_chunks(boundary, {"batch": batch, "name": "b"}, "file", 200 * 1024, block=8 * 1024),
        headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert temp_files(root) == []
    assert snapshot(root) == before
    assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []


def test_truncated_upload_leaves_nothing(mapi: BatchApi, module_root: Path) -> None:
    api, client, root = mapi, mapi.client, module_root
    batch = api.create_batch(api.upload_control(minimal_control()))
    chunks = list(multipart_chunks("qq", {"batch": batch, "name": "t"}, "file", 300 * 1024))
    response = client.post(
        API + "file",
        content=b"".join(chunks[:-1]),  # no closing boundary
        headers={**api.headers, "Content-Type": "multipart/form-data; boundary=qq"},
    )
    assert (response.status_code, response.text) == (400, "Bad request (failed validation)")
    assert temp_files(root) == []
    assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []


def test_anonymous_upload_is_not_written(mapi: BatchApi, module_root: Path) -> None:
    api, client, root = mapi, mapi.client, module_root
    batch = api.create_batch(api.upload_control(minimal_control()))
    response = client.post(
        API + "file",
        content=multipart_chunks("aa", {"batch": batch, "name": "anon"}, "file", 2 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=aa"},
    )
    assert (response.status_code, response.text) == (403, "You are not permitted to perform this action.")
    assert expected_digest(2 * 1024 * 1024) not in stored_files(root)
    assert temp_files(root) == []


# -- the blob store itself -------------------------------------------------------------


def test_blob_store_roundtrip(tmp_path: Path) -> None:
    blobs = FsBlobs(tmp_path / "blobs")

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"hello ", b"", b"world"):
            yield part

    digest, size = asyncio.run(blobs.save_stream(chunks()))
    assert (digest, size) == (hashlib.sha256(b"hello world").hexdigest(), 11)
    assert blobs.save_bytes(b"hello world") == (digest, 11)
    assert blobs.exists(digest)
    with blobs.open(digest) as fh:
        assert fh.read() == b"hello world"
    assert blobs.path(digest) == tmp_path / "blobs" / digest[:2] / digest
    assert blobs.temporary_files() == []
    assert not blobs.exists("0" * 64)
    assert not blobs.exists("../etc/passwd")
    with pytest.raises(BlobNotFound):
        blobs.open("f" * 64)


def test_failed_stream_leaves_no_temporary_file(tmp_path: Path) -> None:
    blobs = FsBlobs(tmp_path / "blobs")

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (2 * 1024 * 1024)
        raise OSError("client went away")

    with pytest.raises(OSError):
        asyncio.run(blobs.save_stream(broken()))
    assert blobs.temporary_files() == []
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_leftover_temporary_files_are_cleaned_at_start(root: Path, backend: str) -> None:
    from tests.conftest import make_client
    from tests.support.postgres import store_overrides

    tmp = root / "blobs" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "dead.part").write_bytes(b"half an upload")
    (tmp / "recent.part").write_bytes(b"maybe another process's upload in progress")
    day_ago = time.time() - 86400 - 60
    os.utime(tmp / "dead.part", (day_ago, day_ago))
    with make_client(root, **store_overrides(backend, root)) as client:
        assert client.get("/health").status_code == 200
        assert not (tmp / "dead.part").exists()
        # The embedded store is this process's alone: all it finds is dead. A shared one
        # (PostgreSQL: other gateways and workers may use the root) keeps a recent upload.
        assert (tmp / "recent.part").exists() == backend.startswith("postgres")
    assert os.listdir(tmp) == ([] if backend.startswith("rocksdb") else ["recent.part"])
