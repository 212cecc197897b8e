"""API keys for the Haplo batch endpoints (haplo-import.md §1.1).

A key is 44 characters in Haplo's format. Its first 16 characters are stored in
clear as the lookup id; the rest is stored as HMAC-SHA256 under a server secret
shared by every process on the store (``gateway.auth.secret_store``). A key has
a name and a path rule: a prefix, or ``=/exact/path``. Keys belong to the
service user ``haplo`` and are presented as HTTP Basic ``haplo:<key>``.

Throttling (ours; Haplo throttles per address only, and refuses even the right key
there). Failures are counted per client address and, for a wrong secret of a key id
that exists, per key id too (from every address), within ``failure_window`` seconds:

* an address with ``max_failures`` failures is throttled: a key from it that does not
  check out is answered ``THROTTLE``, "too many failed attempts from this address;
  retry in N s" (with Retry-After), and not counted again; the *right* key is still
  accepted, so a shared address (NAT, a proxy) does not lock a key's owner out
  because of someone else's failures;
* a key id with ``max_failures`` wrong secrets is throttled from every address, the
  right key included ("too many failed attempts with this key; retry in N s").

So the secret of a known key id cannot be tested more than ``max_failures`` times per
window however many addresses try, and a key's owner is locked out only by failures
made with that key's own id. A guess of a whole key (an unknown id) can succeed only
by guessing 264 random bits at once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.audit import AuditLog
from gateway.auth.throttle import FailureCounter
from gateway.storage.errors import OutOfSpace
from gateway.storage.ports import Storage
from gateway.storage.system import SystemTable
from gateway.timestamps import iso_now

API_KEY_TABLE = "hdb_api_key"
SERVICE_USER = "haplo"
DEFAULT_PATH = "/api/haplo-data-import-batch/"
LOOKUP_LENGTH = 16
INVALID = "INVALID-API-KEY"
THROTTLE = "THROTTLE"
UNAUTHORISED = "UNAUTHORISED"
_LAST_USED_RESOLUTION = 60.0  # seconds between two last_used writes of one key (not one per request)


def haplo_random_identifier() -> str:
    """33 random bytes as 44 base64 characters, ``+``→``_``, ``/``→``-``, alphanumeric ends."""
    text = base64.b64encode(secrets.token_bytes(33)).decode("ascii")
    text = text.replace("+", "_").replace("/", "-")
    if not text[0].isalnum():
        text = "0" + text[1:]
    if not text[-1].isalnum():
        text = text[:-1] + "0"
    return text


class ApiKeyRejected(Exception):
    """A key was refused; ``kind`` is INVALID-API-KEY, THROTTLE or UNAUTHORISED.

    ``retry_after``: for THROTTLE, whole seconds until the address may try again.
    """

    def __init__(self, kind: str, retry_after: int | None = None, message: str = "Invalid API Key") -> None:
        super().__init__(kind)
        self.kind = kind
        self.retry_after = retry_after
        self.message = message

    def body(self) -> bytes:
        """The 403 JSON body in Haplo's shape (``Invalid API Key`` is Haplo's own message)."""
        return orjson.dumps({"success": False, "kind": self.kind, "error": {"message": self.message}})


def throttled(retry_after: int, what: str) -> ApiKeyRejected:
    """THROTTLE for ``what`` ("this address", "this key"), saying how long to wait."""
    return ApiKeyRejected(THROTTLE, retry_after, f"too many failed attempts {what}; retry in {retry_after} s")


class ApiKeyRequestError(ValueError):
    """A create_api_key request is invalid (message for a 400)."""


def parse_expires(value: Any) -> str | None:
    """``expires`` as an ISO-8601 UTC string (accepts ISO text or epoch milliseconds, years 1 to 9999)."""
    if value is None or value == "":
        return None
    wrong = "'expires' must be an ISO-8601 date or epoch milliseconds"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ApiKeyRequestError(f"{wrong}: {value}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiKeyRequestError(wrong)
    try:
        if not isinstance(value, str):
            moment = datetime.fromtimestamp(float(value) / 1000.0, UTC)
        utc = moment.astimezone(UTC)
    except (OverflowError, OSError, ValueError) as exc:  # beyond the years 1 to 9999 in UTC
        raise ApiKeyRequestError(f"{wrong} within the years 1 to 9999") from exc
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def path_allows(rule: str, request_path: str) -> bool:
    """A plain rule is a prefix of the request path; ``=/p`` allows exactly ``/p``."""
    if rule.startswith("="):
        return request_path == rule[1:]
    return request_path.startswith(rule)


class ApiKeyService:
    """Create, list, revoke and check API keys."""

    def __init__(
        self,
        storage: Storage,
        audit: AuditLog,
        secret: bytes,
        max_failures: int = 10,
        failure_window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = SystemTable(storage, API_KEY_TABLE, "id")
        self._audit = audit
        self._secret = secret
        self.max_failures = max_failures
        self.failure_window = failure_window
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = FailureCounter(failure_window, max(1, max_failures), clock)
        self._key_failures = FailureCounter(failure_window, max(1, max_failures), clock)
        self._last_used_written: dict[str, float] = {}

    def _hash(self, rest: str) -> str:
        return hmac.new(self._secret, rest.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- management -----------------------------------------------------------

    def create(self, name: str, path: str = DEFAULT_PATH, expires: Any = None) -> dict[str, Any]:
        """A new key for the ``haplo`` service user: {id, name, path, key}; the key is shown once."""
        if not isinstance(name, str) or not name.strip():
            raise ApiKeyRequestError("'name' is required")
        if not isinstance(path, str) or not (path.startswith("/") or path.startswith("=/")):
            raise ApiKeyRequestError("'path' must start with '/' (a prefix) or '=/' (an exact path)")
        expires_at = parse_expires(expires)
        while True:
            key = haplo_random_identifier()
            key_id = key[:LOOKUP_LENGTH]
            if self._table.get(key_id) is None:
                break
        record = {
            "id": key_id,
            "name": name,
            "path": path,
            "user": SERVICE_USER,
            "secret_hash": self._hash(key[LOOKUP_LENGTH:]),
            "created": iso_now(),
            "expires": expires_at,
            "last_used": None,
        }
        self._table.write([record], "insert")
        self._audit.record_quietly("api_key:create", {"key_id": key_id, "path": path, "name": name})
        return {"id": key_id, "name": name, "path": path, "key": key}

    def list(self) -> list[dict[str, Any]]:
        """Every key without its secret, oldest first."""
        out = [
            {
                "id": r["id"],
                "name": r.get("name"),
                "path": r.get("path"),
                "user": r.get("user", SERVICE_USER),
                "created": r.get("created"),
                "expires": r.get("expires"),
                "last_used": r.get("last_used"),
            }
            for r in self._table.scan()
        ]
        out.sort(key=lambda k: (str(k["created"]), str(k["id"])))
        return out

    def revoke(self, key_id: str) -> bool:
        """Delete a key (effective at once); False if there was no such key."""
        record = self._table.get(key_id) if isinstance(key_id, str) else None
        if record is None:
            return False
        self._table.delete([key_id])
        self._audit.record_quietly(
            "api_key:destroy",
            {"key_id": key_id, "path": record.get("path"), "name": record.get("name")},
        )
        return True

    # -- checking ---------------------------------------------------------------

    def throttled(self, client_ip: str) -> int:
        """Seconds this client must wait after using up its failed attempts; 0 if it need not."""
        return self._failures.wait(client_ip, self.max_failures)

    def _check(self, key: str) -> tuple[dict[str, Any] | None, bool]:
        """The key's record if the key exists and its secret matches; and whether its id exists."""
        record = self._table.get(key[:LOOKUP_LENGTH])
        if record is None:
            return None, False
        if not hmac.compare_digest(str(record.get("secret_hash", "")), self._hash(key[LOOKUP_LENGTH:])):
            return None, True
        return record, True

    def authenticate(self, key: str, request_path: str, client_ip: str) -> dict[str, Any]:
        """The key's record if it may call ``request_path``; raise ApiKeyRejected otherwise.

        Checks, in Haplo's order: length, existence and secret (see the module's
        throttling rule), path, then (ours) expiry.
        """
        if len(key) < LOOKUP_LENGTH:
            raise ApiKeyRejected(INVALID)
        key_id = key[:LOOKUP_LENGTH]
        key_wait = self._key_failures.wait(key_id, self.max_failures)
        if key_wait:
            raise throttled(key_wait, "with this key")
        record, known_id = self._check(key)
        if record is None:
            if known_id:  # counted from a throttled address too: the key's bound holds everywhere
                self._key_failures.add(key_id)
            wait = self.throttled(client_ip)
            if wait:
                raise throttled(wait, "from this address")
            self._failures.add(client_ip)
            raise ApiKeyRejected(INVALID)
        if not path_allows(str(record.get("path", "")), request_path):
            raise ApiKeyRejected(INVALID)
        expires = record.get("expires")
        if expires and str(expires) <= iso_now():
            raise ApiKeyRejected(INVALID)
        self._touch(record)
        return record

    def _touch(self, record: dict[str, Any]) -> None:
        now = self._clock()
        key_id = str(record["id"])
        with self._lock:
            if now - self._last_used_written.get(key_id, float("-inf")) < _LAST_USED_RESOLUTION:
                return
            self._last_used_written[key_id] = now
        # last_used is informative: a full device must not turn away a valid key (reads still work).
        with contextlib.suppress(OutOfSpace):
            self._table.write([{"id": key_id, "last_used": iso_now()}], "update")
