"""Push-data API definitions (haplo-import.md §1.8): ``system.hdb_push_data_api``, keyed by url.

A definition is ``{url, description, control, enabled, response, key_id, created, updated}``.
``url`` matches ``^[a-z0-9-]+$`` and never changes; ``control`` is the parsed control file
(given inline, as JSON text, or by the digest of an uploaded control file), checked by the
engine's validation against the registered models; ``response`` is ``JSON`` or ``XML``.
Each definition owns one API key (``REST API: <description>``) whose path rule is exactly
``=/api/push-data/<url>``: created with the definition (shown once), replaced on request,
revoked with it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Container
from typing import Any, Final

from engine import validate_control
from gateway.audit import AuditLog
from gateway.auth.api_keys import ApiKeyService
from gateway.storage.ports import Storage
from gateway.storage.system import SystemTable
from gateway.timestamps import iso_now

TABLE: Final = "hdb_push_data_api"
PATH_PREFIX: Final = "/api/push-data/"
URL_PATTERN: Final = re.compile(r"^[a-z0-9-]+$")
RESPONSES: Final = ("JSON", "XML")
URL_IN_USE: Final = "URL is already in use."
INVALID_JSON: Final = "Invalid JSON, check syntax"
MAX_URL: Final = 200


class DefinitionError(ValueError):
    """A definition request is invalid (``status``: 400, or 404 for an unknown url)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def key_path(url: str) -> str:
    """The exact path rule of a definition's key."""
    return f"={PATH_PREFIX}{url}"


def key_name(description: str) -> str:
    """The name of a definition's key, as Haplo names it."""
    return f"REST API: {description}"


def check_url(url: Any) -> str:
    """``url`` if it is a valid push-data url; DefinitionError naming the rule otherwise."""
    if not isinstance(url, str) or not url:
        raise DefinitionError("'url' is required")
    if len(url) > MAX_URL or not URL_PATTERN.match(url):
        raise DefinitionError(
            f"'url' must be 1 to {MAX_URL} characters of a-z, 0-9 and '-' (^[a-z0-9-]+$): {url[:MAX_URL]!r}"
        )
    return url


def check_response(value: Any) -> str:
    """``JSON`` or ``XML`` (any case); DefinitionError otherwise."""
    if isinstance(value, str) and value.upper() in RESPONSES:
        return value.upper()
    raise DefinitionError("'response' must be JSON or XML")


def view(row: dict[str, Any]) -> dict[str, Any]:
    """A definition as operations and pages show it (the key's id, never its secret)."""
    return {
        "url": row["url"],
        "path": PATH_PREFIX + str(row["url"]),
        "description": row.get("description", ""),
        "enabled": bool(row.get("enabled")),
        "response": row.get("response", "JSON"),
        "control": row.get("control"),
        "key_id": row.get("key_id"),
        "created": row.get("created"),
        "updated": row.get("updated"),
    }


ControlSource = Callable[[Any, Any], Any]
"""``(control, control_digest)`` → the parsed control file (DefinitionError if neither or both)."""


class PushApis:
    """Create, change, list and drop push-data API definitions and their keys."""

    def __init__(
        self,
        storage: Storage,
        audit: AuditLog,
        keys: ApiKeyService,
        model_names: Callable[[], Container[str]],
        control_source: ControlSource,
    ) -> None:
        self._table = SystemTable(storage, TABLE, "url")
        self._audit = audit
        self._keys = keys
        self._model_names = model_names
        self._control_source = control_source
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, Any] | None:
        """The stored definition of ``url``, or None."""
        if not isinstance(url, str) or not URL_PATTERN.match(url) or len(url) > MAX_URL:
            return None
        return self._table.get(url)

    def list(self) -> list[dict[str, Any]]:
        """Every definition, by url."""
        return [view(row) for row in self._table.scan()]

    def _control(self, control: Any, digest: Any) -> dict[str, Any]:
        parsed = self._control_source(control, digest)
        errors = validate_control(parsed, self._model_names())
        if errors:
            raise DefinitionError("Not a valid control file: " + ", ".join(errors))
        assert isinstance(parsed, dict)  # validation refuses anything else
        return parsed

    def add(
        self,
        url: Any,
        description: str,
        control: Any,
        control_digest: Any,
        enabled: bool,
        response: Any,
    ) -> dict[str, Any]:
        """A new definition and its key; its view with ``key`` (shown only now)."""
        url = check_url(url)
        response = check_response(response if response is not None else "JSON")
        parsed = self._control(control, control_digest)
        with self._lock:
            if self._table.get(url) is not None:
                raise DefinitionError(URL_IN_USE)
            key = self._keys.create(key_name(description or url), key_path(url))
            now = iso_now()
            row = {
                "url": url,
                "description": description,
                "control": parsed,
                "enabled": enabled,
                "response": response,
                "key_id": key["id"],
                "created": now,
                "updated": now,
            }
            if self._table.write([row], "insert").skipped:  # another process took it meanwhile
                self._keys.revoke(key["id"])
                raise DefinitionError(URL_IN_USE)
        self._audit.record_quietly("haplo_data_import_api:create", {"url": url, "enabled": enabled})
        return {**view(row), "key": key["key"]}

    def alter(self, url: Any, changes: dict[str, Any], new_key: bool = False) -> dict[str, Any]:
        """Change description, control, enabled or response (``url`` cannot change); with
        ``new_key`` the key is replaced (the old one stops working at once). The view, with
        ``key`` when a new one was made."""
        url = check_url(url)
        with self._lock:
            row = self._table.get(url)
            if row is None:
                raise DefinitionError(f"API not defined: {url}", 404)
            update: dict[str, Any] = {"url": url}
            if "description" in changes:
                update["description"] = changes["description"]
            if "enabled" in changes:
                update["enabled"] = changes["enabled"]
            if "response" in changes:
                update["response"] = check_response(changes["response"])
            if "control" in changes or "control_digest" in changes:
                update["control"] = self._control(changes.get("control"), changes.get("control_digest"))
            key: dict[str, Any] | None = None
            if new_key:
                description = str(update.get("description", row.get("description")) or url)
                key = self._keys.create(key_name(description), key_path(url))
                update["key_id"] = key["id"]
            update["updated"] = iso_now()
            self._table.write([update], "update")
            if key is not None and row.get("key_id"):
                self._keys.revoke(str(row["key_id"]))
        merged = {**row, **update}
        self._audit.record_quietly("haplo_data_import_api:update", {"url": url, "enabled": merged["enabled"]})
        return {**view(merged), **({"key": key["key"]} if key is not None else {})}

    def drop(self, url: Any) -> bool:
        """Delete a definition and revoke its key; False if there was none."""
        url = check_url(url)
        with self._lock:
            row = self._table.get(url)
            if row is None:
                return False
            self._table.delete([url])
            if row.get("key_id"):
                self._keys.revoke(str(row["key_id"]))
        self._audit.record_quietly("haplo_data_import_api:delete", {"url": url})
        return True
