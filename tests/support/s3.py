"""A real S3 server for one test run: moto's ``ThreadedMotoServer`` on loopback, started on first use.

The server runs in the test process (so ``gateway serve`` subprocesses reach it too) and
holds one bucket for the run (:func:`run_bucket`); each test's files live under a prefix
of their own, named after the test's root directory (:func:`prefix_for`). While it runs,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` are moto's ``testing`` pair in this
process's environment (boto3's standard chain, which the gateway uses, finds them; a
subprocess inherits them, see :func:`s3_env`). ``tests/conftest.py`` stops the server when
the session ends. Without moto's server extras the tests that need it are skipped with a
message (under ``CI=true`` they fail: :func:`tests.support.prerequisites.missing_prerequisite`).

:func:`blob_overrides` puts an app's uploaded files in the run's bucket;
:func:`stored_files` and :func:`snapshot` show what an app on a root has stored, on
either blob backend, so that the batch API tests assert the same things on both.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.prerequisites import missing_prerequisite

try:
    from moto.server import ThreadedMotoServer
except ImportError as missing:  # moto without its [server] extras
    ThreadedMotoServer = None  # type: ignore[assignment,misc]
    _IMPORT_PROBLEM: str | None = (
        f"moto's S3 server cannot be imported ({missing}); pip install 'moto[server]'"
    )
else:
    _IMPORT_PROBLEM = None

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class MotoS3:
    """moto's S3 server on 127.0.0.1 (a free port) and the run's bucket."""

    def __init__(self) -> None:
        assert ThreadedMotoServer is not None
        self._saved = {name: os.environ.get(name) for name in CREDENTIALS}
        os.environ.update(CREDENTIALS)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.bucket = f"gateway-test-{os.getpid()}"
        self.client().create_bucket(Bucket=self.bucket)

    def client(self, **settings: Any) -> Any:
        """A boto3 client of the server (moto's ``testing`` credentials unless given)."""
        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": REGION,
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        options.update(settings)
        return boto3.session.Session().client("s3", **options)

    def stop(self) -> None:
        self.server.stop()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_lock = threading.Lock()
_moto: MotoS3 | None = None


def moto_s3() -> MotoS3:
    """The run's S3 server, started on first use (skips, or fails under CI, without moto's server)."""
    global _moto
    if _IMPORT_PROBLEM is not None:
        missing_prerequisite(_IMPORT_PROBLEM)
    with _lock:
        if _moto is None:
            _moto = MotoS3()
        return _moto


def stop_moto_s3() -> None:
    """Stop the run's S3 server if one was started (at the end of the session)."""
    global _moto
    with _lock:
        moto, _moto = _moto, None
    if moto is not None:
        moto.stop()


@pytest.fixture(scope="session")
def s3_server() -> MotoS3:
    """The run's S3 server (moto on loopback) with its bucket."""
    return moto_s3()


def prefix_for(place: Path | str) -> str:
    """The key prefix of a test's files, named after the test's place (a directory path)."""
    return "t_" + hashlib.sha1(str(place).encode(), usedforsecurity=False).hexdigest()[:24] + "/"


def blob_overrides(root: Path) -> dict[str, Any]:
    """``load_config`` overrides that put an app's uploaded files in the run's bucket, under its own prefix."""
    moto = moto_s3()
    return {
        "blobs.backend": "s3",
        "blobs.s3.bucket": moto.bucket,
        "blobs.s3.prefix": prefix_for(root),
        "blobs.s3.endpoint_url": moto.url,
        "blobs.s3.region": REGION,
    }


def s3_env() -> dict[str, str]:
    """The credentials a ``gateway serve`` subprocess needs for the run's server."""
    moto_s3()
    return dict(CREDENTIALS)


def _objects(root: Path) -> dict[str, int]:
    """``{key: size}`` of the objects under the root's prefix (none if no S3 server was started)."""
    with _lock:
        moto = _moto
    if moto is None:
        return {}
    found: dict[str, int] = {}
    pages = (
        moto.client().get_paginator("list_objects_v2").paginate(Bucket=moto.bucket, Prefix=prefix_for(root))
    )
    for page in pages:
        for item in page.get("Contents", []):
            found[item["Key"]] = int(item["Size"])
    return found


def stored_files(root: Path) -> list[str]:
    """The digests of the files an app on ``root`` stored, on either blob backend, sorted."""
    on_disk = [p.name for p in (root / "blobs").glob("??/*") if p.is_file()]
    in_bucket = [key.rsplit("/", 1)[-1] for key in _objects(root)]
    return sorted(on_disk + in_bucket)


def stored_bytes(root: Path, digest: str) -> bytes | None:
    """The stored file with ``digest`` of an app on ``root`` (either backend), or None."""
    path = root / "blobs" / digest[:2] / digest
    if path.is_file():
        return path.read_bytes()
    key = f"{prefix_for(root)}{digest[:2]}/{digest}"
    if key not in _objects(root):
        return None
    moto = moto_s3()
    data: bytes = moto.client().get_object(Bucket=moto.bucket, Key=key)["Body"].read()
    return data


def unfinished_uploads(root: Path) -> list[str]:
    """Keys of multipart uploads under the root's prefix that were neither completed nor aborted."""
    with _lock:
        moto = _moto
    if moto is None:
        return []
    answer = moto.client().list_multipart_uploads(Bucket=moto.bucket, Prefix=prefix_for(root))
    return sorted(upload["Key"] for upload in answer.get("Uploads", []))


def snapshot(root: Path) -> list[str]:
    """Everything an app on ``root`` keeps of uploads: files under ``blobs/`` (stored and
    temporary), objects and unfinished multipart uploads under its prefix in the bucket."""
    files = sorted(str(p) for p in (root / "blobs").rglob("*") if p.is_file())
    objects = sorted(f"s3:{key}" for key in _objects(root))
    return files + objects + [f"s3-upload:{key}" for key in unfinished_uploads(root)]
