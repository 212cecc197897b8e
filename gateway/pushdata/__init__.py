"""The push-data family: Haplo's REST "push data" APIs (haplo-import.md §1.8).

``install`` builds :class:`PushData`: the API definitions with their keys
(:mod:`gateway.pushdata.definitions`) and the runner that runs a definition's control file
over a request body (:mod:`gateway.pushdata.push`). The HTTP route is
``gateway/http/push_data.py``; the operations ``gateway/operations/push_data.py``; the admin
page ``gateway/admin/push_apis.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.audit import AuditLog
from gateway.auth import Auth
from gateway.config import Config
from gateway.imports import Imports
from gateway.imports.service import ControlTooDeep, json_problem, parse_control_bytes
from gateway.pushdata.definitions import INVALID_JSON, DefinitionError, PushApis
from gateway.pushdata.lease import PushLeases
from gateway.pushdata.push import PushAnswer, PushRunner
from gateway.storage.errors import BlobNotFound
from gateway.storage.ports import Blobs, Storage
from gateway.storage.queue import TaskQueue

DIGEST = re.compile(r"^[0-9a-f]{64}$")

__all__ = ["DefinitionError", "PushAnswer", "PushApis", "PushData", "install"]


@dataclass
class PushData:
    """Everything the push-data route, operations and admin page use."""

    apis: PushApis
    runner: PushRunner
    max_body: int
    """The largest request body a push accepts (bytes); larger is 413."""


def control_reader(blobs: Blobs) -> Any:
    """``(control, control_digest)`` → the parsed control file: an object or JSON text, else the
    digest of an uploaded control file (``control`` wins when both are given; null is not given)."""

    def read(control: Any, digest: Any) -> Any:
        if digest is not None and (not isinstance(digest, str) or not DIGEST.match(digest)):
            raise DefinitionError(
                "'control_digest' must be the SHA-256 digest (64 hex digits) of an uploaded control file"
            )
        if control is None and digest is None:
            raise DefinitionError("'control' (the control file) or 'control_digest' is required")
        if control is None:
            try:
                data = blobs.read_bytes(str(digest))
            except BlobNotFound as exc:
                raise DefinitionError(f"Control file not found: {digest}") from exc
        elif isinstance(control, str):
            data = control.encode("utf-8")
        else:
            return control
        try:
            return parse_control_bytes(data)
        except ControlTooDeep as exc:
            raise DefinitionError(str(exc)) from exc
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise DefinitionError(f"{INVALID_JSON} ({json_problem(exc)})") from exc

    return read


def install(
    config: Config, storage: Storage, audit: AuditLog, auth: Auth, imports: Imports, queue: TaskQueue
) -> PushData:
    """The push-data family on this process's storage, keys, import models and task queue (whose
    atomic changes hold the push leases where processes share the store)."""
    apis = PushApis(storage, audit, auth.api_keys, imports.models.names, control_reader(imports.blobs))
    leases = PushLeases(storage, queue)
    runner = PushRunner(storage, imports.models.all, int(config.get("import.max_errors") or 0), leases)
    return PushData(apis, runner, int(config.get("push_data.max_body_size")))
