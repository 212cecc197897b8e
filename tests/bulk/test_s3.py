"""import_from_s3 and export_to_s3 against moto's S3 server on 127.0.0.1 (the ``endpoint_url`` extension)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.server import ThreadedMotoServer

from tests.bulk.helpers import all_records, run_job
from tests.conftest import ADMIN_AUTH, Ops, make_client

BUCKET = "bulk-bucket"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(moto_url: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def s3op(tmp_path: Path) -> Iterator[Ops]:
    with make_client(tmp_path / "root", **{"bulk.url_allow_private": True}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        yield op


def _s3(moto_url: str, key: str, **extra: str) -> dict[str, str]:
    spec = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "bucket": BUCKET,
        "key": key,
        "region": "us-east-1",
        "endpoint_url": moto_url,
    }
    spec.update(extra)
    return spec


def _import(key: str, moto_url: str, **extra: str) -> dict[str, Any]:
    return {
        "operation": "import_from_s3",
        "action": "insert",
        "schema": "dev",
        "table": "dog",
        "s3": _s3(moto_url, key, **extra),
    }


def test_import_csv_and_json_objects(s3op: Ops, bucket: Any, moto_url: str) -> None:
    bucket.put_object(Bucket=BUCKET, Key="dogs.csv", Body=b"id,dog_name,age\n1,Penny,5\n2,Kato,9\n")
    bucket.put_object(
        Bucket=BUCKET, Key="more.json", Body=json.dumps([{"id": 3, "dog_name": "Rex", "tags": ["a"]}])
    )
    job = run_job(s3op, _import("dogs.csv", moto_url))
    assert (job["status"], job["message"], job["type"]) == (
        "COMPLETE",
        "successfully loaded 2 of 2 records",
        "import_from_s3",
    )
    assert job["job_body"]["s3"]["aws_secret_access_key"] == "<redacted>"
    job = run_job(s3op, _import("more.json", moto_url))
    assert (job["status"], job["message"]) == ("COMPLETE", "successfully loaded 1 of 1 records")
    rows = s3op({"operation": "sql", "sql": "SELECT id, dog_name, age, tags FROM dev.dog"})
    assert rows == [
        {"id": 1, "dog_name": "Penny", "age": 5, "tags": None},
        {"id": 2, "dog_name": "Kato", "age": 9, "tags": None},
        {"id": 3, "dog_name": "Rex", "age": None, "tags": ["a"]},
    ]


def test_key_without_csv_or_json_extension_is_refused(s3op: Ops, moto_url: str) -> None:
    assert s3op(_import("dogs.txt", moto_url), 400) == {
        "error": "S3 key must include one of the following valid file extensions - '.csv', '.json'"
    }


def test_missing_s3_fields_are_refused(s3op: Ops, moto_url: str) -> None:
    body = _import("dogs.csv", moto_url)
    del body["s3"]["bucket"]
    assert s3op(body, 400) == {"error": "'s3.bucket' is required and must be a string"}


def test_missing_object_ends_the_job_with_the_s3_error(s3op: Ops, bucket: Any, moto_url: str) -> None:
    job = run_job(s3op, _import("absent.csv", moto_url))
    assert job["status"] == "ERROR"
    assert job["message"].startswith(f"S3 download of s3://{BUCKET}/absent.csv failed: NoSuchKey")


def test_wrong_credentials_end_the_job_with_the_s3_error(s3op: Ops, bucket: Any, moto_url: str) -> None:
    bucket.put_object(Bucket=BUCKET, Key="dogs.csv", Body=b"id\n1\n")
    with enable_iam_authentication():
        job = run_job(s3op, _import("dogs.csv", moto_url, aws_access_key_id="AKIAWRONG"))
    assert job["status"] == "ERROR"
    assert job["message"].startswith(f"S3 download of s3://{BUCKET}/dogs.csv failed: InvalidAccessKeyId")
    assert all_records(s3op, "dev", "dog") == []


def test_endpoint_on_a_private_address_needs_the_allow_flag(op: Ops, moto_url: str) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    error = op(_import("dogs.csv", moto_url), 400)["error"]
    assert error == (
        "s3.endpoint_url host '127.0.0.1' resolves to 127.0.0.1, a private, loopback or link-local "
        "address: refused (set bulk.url_allow_private to allow it)"
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_to_s3(s3op: Ops, bucket: Any, moto_url: str, fmt: str) -> None:
    s3op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 1, "dog_name": "Penny"}],
        }
    )
    body = {
        "operation": "export_to_s3",
        "format": fmt,
        "s3": _s3(moto_url, "exports/dogs"),
        "search_operation": {"operation": "sql", "sql": "SELECT id, dog_name FROM dev.dog"},
    }
    job = run_job(s3op, body)
    assert (job["status"], job["message"]) == ("COMPLETE", f"Successfully completed job: {job['id']}")
    assert job["result"]["Key"] == f"exports/dogs.{fmt}" and job["result"]["ETag"]
    content = bucket.get_object(Bucket=BUCKET, Key=f"exports/dogs.{fmt}")["Body"].read().decode()
    expected = '[{"id":1,"dog_name":"Penny"}]' if fmt == "json" else '"id","dog_name"\n1,"Penny"'
    assert content == expected
