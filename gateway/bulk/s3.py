"""S3 access for import_from_s3 and export_to_s3 (boto3; ``endpoint_url`` for S3-compatible servers).

The ``s3`` object of a request is HarperDB's: ``aws_access_key_id``,
``aws_secret_access_key``, ``bucket``, ``key``, ``region``, plus the gateway's
``endpoint_url``. boto3 and botocore errors become ``S3Error`` with a message
naming the failing call and AWS's error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.bulk.errors import SourceError

REQUIRED = ("aws_access_key_id", "aws_secret_access_key", "bucket", "key", "region")
LOAD_EXTENSIONS = (".csv", ".json")


class S3SpecError(Exception):
    """The request's ``s3`` object is incomplete (answered with 400)."""


class S3Error(SourceError):
    """An S3 call failed (the job ends with ERROR and this message)."""


@dataclass(frozen=True)
class S3Spec:
    """Where and as whom to reach S3."""

    access_key: str
    secret_key: str
    bucket: str
    key: str
    region: str
    endpoint_url: str | None = None


def parse_spec(raw: Any) -> S3Spec:
    """The ``s3`` object of a request, checked for HarperDB's required fields."""
    if not isinstance(raw, dict) or not raw:
        raise S3SpecError("'s3' is required")
    for name in REQUIRED:
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise S3SpecError(f"'s3.{name}' is required and must be a string")
    endpoint = raw.get("endpoint_url")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
        raise S3SpecError("'s3.endpoint_url' must be a url")
    return S3Spec(
        raw["aws_access_key_id"],
        raw["aws_secret_access_key"],
        raw["bucket"],
        raw["key"],
        raw["region"],
        endpoint,
    )


def redacted(raw: dict[str, Any]) -> dict[str, Any]:
    """The ``s3`` object without its secret (for the stored job body)."""
    return {k: ("<redacted>" if k == "aws_secret_access_key" else v) for k, v in raw.items()}


def _client(spec: S3Spec) -> Any:
    import boto3  # imported on first use: boto3 is heavy
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        aws_access_key_id=spec.access_key,
        aws_secret_access_key=spec.secret_key,
        region_name=spec.region,
        endpoint_url=spec.endpoint_url,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def _error(action: str, spec: S3Spec, key: str, exc: Exception) -> S3Error:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message") or code
        return S3Error(f"S3 {action} of s3://{spec.bucket}/{key} failed: {code}: {message}")
    return S3Error(f"S3 {action} of s3://{spec.bucket}/{key} failed: {exc}")


class S3Download:
    """A streaming S3 object body (``read(n)``) and its size."""

    def __init__(self, spec: S3Spec) -> None:
        self.spec = spec
        try:
            response = _client(spec).get_object(Bucket=spec.bucket, Key=spec.key)
        except Exception as exc:  # botocore raises many unrelated types
            raise _error("download", spec, spec.key, exc) from exc
        self.body = response["Body"]
        self.length: int | None = response.get("ContentLength")

    def read(self, size: int) -> bytes:
        try:
            data: bytes = self.body.read(size)
        except Exception as exc:
            raise _error("download", self.spec, self.spec.key, exc) from exc
        return data

    def close(self) -> None:
        self.body.close()


def upload(spec: S3Spec, key: str, path: Path) -> dict[str, Any]:
    """Upload a local file to ``spec.bucket``/``key``; the job result (Bucket, Key, ETag, Location)."""
    client = _client(spec)
    try:
        client.upload_file(str(path), spec.bucket, key)
        head = client.head_object(Bucket=spec.bucket, Key=key)
    except Exception as exc:
        raise _error("upload", spec, key, exc) from exc
    endpoint = spec.endpoint_url or f"https://{spec.bucket}.s3.{spec.region}.amazonaws.com"
    location = f"{endpoint.rstrip('/')}/{spec.bucket}/{key}" if spec.endpoint_url else f"{endpoint}/{key}"
    return {"ETag": head.get("ETag"), "Bucket": spec.bucket, "Key": key, "Location": location}
