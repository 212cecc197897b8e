"""The S3 blob store beyond the port's contract: multipart uploads, no second upload of stored
bytes, ranged reads resumed after a dropped connection, failures named (a lost server, a missing
bucket, refused or missing credentials), and what a stopped process leaves. On moto's S3 server.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from moto.core.authorization import enable_iam_authentication

from gateway.config import load_config
from gateway.storage.backends import open_blobs
from gateway.storage.blobs.s3 import S3Blobs
from gateway.storage.errors import StoreUnavailable
from gateway.storage.ports import Blobs
from tests.support.s3 import REGION, MotoS3, blob_overrides, prefix_for, s3_server, snapshot
from tests.support.tcpproxy import TcpProxy

__all__ = ["s3_server"]  # the fixture the tests use

MIB = 1024 * 1024


def pattern(size: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    index = 0
    sent = 0
    while sent < size:
        seed = hashlib.sha256(index.to_bytes(8, "big")).digest()
        block = (seed * (piece // 32 + 1))[: min(piece, size - sent)]
        sent += len(block)
        index += 1
        yield block


async def stream(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def digest_of(size: int) -> str:
    digest = hashlib.sha256()
    for piece in pattern(size):
        digest.update(piece)
    return digest.hexdigest()


def open_s3(root: Path, **overrides: Any) -> Blobs:
    settings = {**blob_overrides(root), "storage.min_free_bytes": 0, **overrides}
    return open_blobs(load_config(root=root, environ={}, overrides=settings))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def blobs(root: Path, s3_server: MotoS3) -> Iterator[S3Blobs]:
    store = open_s3(root)
    assert isinstance(store, S3Blobs)
    yield store
    store.close()


def calls(store: S3Blobs) -> list[str]:
    """The S3 operations ``store`` makes from now on (appended as they are made)."""
    made: list[str] = []

    def record(model: Any, **_: Any) -> None:
        made.append(model.name)

    store.client.meta.events.register("before-call.s3", record)
    return made


def test_a_large_upload_goes_in_parts_to_a_content_addressed_key(
    blobs: S3Blobs, root: Path, s3_server: MotoS3
) -> None:
    size = 20 * MIB + 3
    digest, stored = asyncio.run(blobs.save_stream(stream(pattern(size))))
    assert (digest, stored) == (digest_of(size), size)
    key = f"{prefix_for(root)}{digest[:2]}/{digest}"
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-3")  # three parts of 8 MiB at most


def test_bytes_already_stored_are_not_sent_again(blobs: S3Blobs) -> None:
    data = b"".join(pattern(9 * MIB))
    digest, _ = blobs.save_bytes(data)
    made = calls(blobs)
    assert blobs.save_bytes(data) == (digest, len(data))
    assert asyncio.run(blobs.save_stream(stream(pattern(9 * MIB)))) == (digest, len(data))
    assert made == ["HeadObject", "HeadObject"]
    # Two uploads of new bytes in flight at once: sent once, the second relies on the first.
    fresh = b"fresh bytes"
    first = asyncio.run(blobs.stage_stream(stream(iter([fresh]))))
    second = asyncio.run(blobs.stage_stream(stream(iter([fresh]))))
    assert made.count("PutObject") == 1
    for pending in (first, second):
        with pending.kept():
            pass
    assert blobs.read_bytes(hashlib.sha256(fresh).hexdigest()) == fresh


def test_a_multipart_upload_failing_midway_leaves_nothing(blobs: S3Blobs, root: Path) -> None:
    parts: list[int] = []

    def fail_the_second_part(params: dict[str, Any], **_: Any) -> None:
        parts.append(int(params["PartNumber"]))
        if len(parts) == 2:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

    blobs.client.meta.events.register("provide-client-params.s3.UploadPart", fail_the_second_part)
    with pytest.raises(StoreUnavailable) as failed:
        asyncio.run(blobs.save_stream(stream(pattern(20 * MIB))))
    assert str(failed.value).startswith(f"{blobs.settings.where} is unavailable: upload failed: ")
    assert len(parts) >= 2
    assert snapshot(root) == []  # no object, no unfinished multipart upload, no spooled file


def test_each_open_is_one_streamed_get(blobs: S3Blobs) -> None:
    data = b"".join(pattern(3 * MIB + MIB // 2))
    digest, _ = blobs.save_bytes(data)
    made = calls(blobs)
    for _ in range(2):  # the engine's two passes
        with blobs.open(digest) as reader:
            assert reader.read(MIB) == data[:MIB]
            reader.seek(3 * MIB)  # a seek asks for the rest from there
            assert reader.read() == data[3 * MIB :]
    assert made == ["HeadObject", "GetObject", "GetObject"] * 2


def ranges(store: S3Blobs) -> list[str | None]:
    """The ``Range`` of each GET ``store`` makes from now on."""
    asked: list[str | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("Range"))

    store.client.meta.events.register("provide-client-params.s3.GetObject", record)
    return asked


def test_a_dropped_connection_is_resumed_where_it_stopped(root: Path, s3_server: MotoS3) -> None:
    proxy = TcpProxy("127.0.0.1", int(s3_server.url.rsplit(":", 1)[1]))
    blobs = open_s3(root, **{"blobs.s3.endpoint_url": f"http://127.0.0.1:{proxy.port}"})
    assert isinstance(blobs, S3Blobs)
    try:
        size = 48 * MIB  # far more than the sockets on the way can hold
        digest, _ = asyncio.run(blobs.save_stream(stream(pattern(size))))
        asked = ranges(blobs)
        again = hashlib.sha256()
        with blobs.open(digest) as reader:
            again.update(reader.read(MIB))
            proxy.drop()
            while piece := reader.read(MIB):
                again.update(piece)
        assert again.hexdigest() == digest
        assert len(asked) == 2 and asked[0] is None, asked
        resumed_at = int(str(asked[1]).removeprefix("bytes=").removesuffix("-"))
        assert MIB <= resumed_at < size, asked
    finally:
        blobs.close()
        proxy.cut()


def test_a_lost_server_is_store_unavailable_naming_the_bucket(root: Path, s3_server: MotoS3) -> None:
    proxy = TcpProxy("127.0.0.1", int(s3_server.url.rsplit(":", 1)[1]))
    endpoint = f"http://127.0.0.1:{proxy.port}"
    blobs = open_s3(root, **{"blobs.s3.endpoint_url": endpoint})
    try:
        digest, _ = blobs.save_bytes(b"before the loss")
        proxy.cut()
        where = f"S3 bucket '{s3_server.bucket}' at {endpoint} is unavailable: "
        for attempt in (lambda: blobs.exists(digest), blobs.check):
            with pytest.raises(StoreUnavailable) as lost:
                attempt()
            assert str(lost.value).startswith(where), str(lost.value)
        with pytest.raises(StoreUnavailable):
            asyncio.run(blobs.save_stream(stream(pattern(MIB))))
        assert list((root / "blobs" / "tmp").iterdir()) == []  # the spooled upload is gone
    finally:
        blobs.close()


def test_opening_names_a_missing_bucket(root: Path, s3_server: MotoS3) -> None:
    with pytest.raises(StoreUnavailable) as missing:
        open_s3(root, **{"blobs.s3.bucket": "no-such-bucket"})
    assert str(missing.value) == (
        f"S3 bucket 'no-such-bucket' at {s3_server.url} is unavailable: the bucket does not exist (404)"
    )


def test_opening_names_refused_credentials(root: Path, s3_server: MotoS3) -> None:
    with enable_iam_authentication(), pytest.raises(StoreUnavailable) as refused:
        open_s3(root)
    message = str(refused.value)
    assert message.startswith(f"S3 bucket '{s3_server.bucket}' at {s3_server.url} is unavailable: ")
    assert "the credentials were refused (403: Forbidden); check AWS_ACCESS_KEY_ID" in message
    assert "testing" not in message


def test_opening_names_missing_credentials(
    root: Path, s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreUnavailable) as missing:
        open_s3(root)
    assert str(missing.value) == (
        f"S3 bucket '{s3_server.bucket}' at {s3_server.url} is unavailable: no usable AWS credentials "
        "(Unable to locate credentials); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
        "or an instance role"
    )


def test_unfinished_uploads_of_a_stopped_process_are_aborted_later(
    blobs: S3Blobs, root: Path, s3_server: MotoS3
) -> None:
    client = s3_server.client()
    key = f"{prefix_for(root)}ab/{'ab' * 32}"
    client.create_multipart_upload(Bucket=s3_server.bucket, Key=key)
    # moto dates every upload 2010-11-10: younger than a century, it may be another gateway's, in progress
    assert blobs.clean_temporary(stale_after=100 * 365 * 86400) == 0
    assert [entry for entry in snapshot(root) if entry.startswith("s3-upload:")] == [f"s3-upload:{key}"]
    assert blobs.clean_temporary(stale_after=0) == 1
    assert snapshot(root) == []


def test_serve_exits_naming_the_bucket_it_cannot_use(tmp_path: Path, s3_server: MotoS3) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ROOT=str(tmp_path / "root"),
        GATEWAY_BLOBS_BACKEND="s3",
        GATEWAY_BLOBS_S3_BUCKET="missing-bucket",
        GATEWAY_BLOBS_S3_ENDPOINT_URL=s3_server.url,
        GATEWAY_BLOBS_S3_REGION=REGION,
    )
    for bucket, expected in (
        (
            "missing-bucket",
            f"S3 bucket 'missing-bucket' at {s3_server.url} is unavailable: the bucket does not exist",
        ),
        ("", "blobs.backend is s3 but blobs.s3.bucket is not set (GATEWAY_BLOBS_S3_BUCKET)"),
    ):
        env["GATEWAY_BLOBS_S3_BUCKET"] = bucket
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.startswith(f"gateway: {expected}"), done.stderr


def test_credentials_that_may_not_abort_uploads_only_earn_a_warning(
    blobs: S3Blobs, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (root / "blobs" / "tmp" / "dead.part").write_bytes(b"half an upload")
    with enable_iam_authentication():
        assert blobs.clean_temporary(stale_after=0) == 1  # the spooled leftover; the listing is refused
    assert "the credentials were refused" in caplog.text and "AbortIncompleteMultipartUpload" in caplog.text
