"""botocore's exceptions translated into the store's own errors, in one place.

Every failure of a call to S3 becomes :class:`~gateway.storage.errors.StoreUnavailable`
(503 on a request, naming the bucket and where it is), except a full bucket or quota on
an S3-compatible server, which is :class:`~gateway.storage.errors.OutOfSpace` of the
``files`` store (507). The message says what is wrong where it can tell: a bucket that
does not exist, credentials that were refused or not found, a server that cannot be
reached. Secrets never appear: botocore's messages do not carry them.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
)
from urllib3.exceptions import HTTPError

from gateway.storage.errors import FILES_STORE, OutOfSpace, StoreFailure, StoreUnavailable

S3_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError, HTTPError)
"""What a call to S3 (or reading an answer's body) may raise besides the store's own errors."""

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
"""An object that is not there (a HEAD answer has no body, only its status as the code)."""
BUCKET_CODES = frozenset({"NoSuchBucket"})
CREDENTIAL_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "Forbidden",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
NO_SPACE_CODES = frozenset(
    {
        "QuotaExceeded",  # Ceph RGW
        "XMinioStorageFull",  # MinIO: below its free-space threshold
        "XMinioAdminBucketQuotaExceeded",
        "StorageFull",
    }
)
CREDENTIALS_HINT = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role"


def error_code(exc: BaseException) -> str | None:
    """S3's error code of a ``ClientError`` (``"404"`` for a HEAD), else None."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether S3 answered that the object is not there."""
    return error_code(exc) in NOT_FOUND_CODES


def translate(exc: BaseException, where: str, action: str, *, bucket_call: bool = False) -> StoreFailure:
    """The store error for ``exc``, raised by S3 while trying to ``action`` on ``where`` (the bucket).

    ``bucket_call``: the call named only the bucket (a HEAD of the bucket), so a 404 means that
    the bucket does not exist.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error_code(exc) or "Unknown"
        message = str(error.get("Message") or code)
        if code in NO_SPACE_CODES:
            return OutOfSpace(FILES_STORE, f"{where}: {code}: {message}")
        if code in BUCKET_CODES or (bucket_call and code == "404"):
            return StoreUnavailable(f"{where} is unavailable: the bucket does not exist ({code})")
        if code in CREDENTIAL_CODES:
            return StoreUnavailable(
                f"{where} is unavailable: the credentials were refused ({code}: {message}); "
                f"check {CREDENTIALS_HINT}"
            )
        return StoreUnavailable(f"{where} is unavailable: {action} failed: {code}: {message}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return StoreUnavailable(
            f"{where} is unavailable: no usable AWS credentials ({exc}); set {CREDENTIALS_HINT}"
        )
    return StoreUnavailable(f"{where} is unavailable: {action} failed: {exc}")
