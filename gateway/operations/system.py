"""System operations: read_log, read_audit_log, system_information, registration_info.

(get_configuration and set_configuration live in ``configuration.py``.)
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from gateway import fields
from gateway.errors import OperationError
from gateway.logs import LOG_FILE
from gateway.operations.registry import OperationContext, operation
from gateway.operations.sysinfo import SECTIONS
from gateway.operations.txlog import read_table_audit_log

DISTRIBUTION = "batch-import-gateway"
DEFAULT_LOG_LIMIT = 1000
# HarperDB's level names → the names the gateway's log uses (Python's, lower case)
_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical", "notify": "info", "trace": "debug"}


def gateway_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _timestamp(body: dict[str, Any], name: str) -> str | None:
    """A ``from``/``until`` bound as the log's timestamp format (ISO 8601 UTC, ms, ``Z``)."""
    value = body.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value / 1000.0, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        else:
            raise TypeError(name)
        utc = moment.astimezone(UTC)  # OverflowError beyond the years 1 to 9999 in UTC
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise OperationError(f"'{name}' must be an ISO 8601 date-time or epoch milliseconds") from exc
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _log_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry


@operation("read_log", super_user=True, internal_name="readLog")
def read_log(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Log entries: ``level``, ``from``/``until``, ``start``, ``limit``, ``order``. On a shared store
    (PostgreSQL) every process's, from ``system.hdb_log`` (tagged ``host:<name>``, ``pid:<n>``); else this
    process's ``<root>/log/gateway.log``."""
    limit = fields.integer(body, "limit", DEFAULT_LOG_LIMIT) or 0
    start = fields.integer(body, "start", 0) or 0
    level = fields.optional_string(body, "level")
    wanted = {level.lower(), _LEVEL_ALIASES.get(level.lower(), level.lower())} if level else None
    since, until = _timestamp(body, "from"), _timestamp(body, "until")
    order = body.get("order", "asc")
    if order not in ("asc", "desc"):
        raise OperationError("'order' must be 'asc' or 'desc'")

    shared = ctx.gateway.cluster.log_entries(since, until, descending=order == "desc")

    def matching() -> Iterator[dict[str, Any]]:
        entries = shared if shared is not None else _log_lines(ctx.gateway.config.log_dir / LOG_FILE)
        for entry in entries:
            stamp = str(entry.get("timestamp", ""))
            if wanted is not None and str(entry.get("level", "")).lower() not in wanted:
                continue
            if (since is not None and stamp < since) or (until is not None and stamp > until):
                continue
            yield entry

    if order == "asc" or shared is not None:  # the shared log comes in the order asked for
        return list(islice(matching(), start, start + limit))
    newest: collections.deque[dict[str, Any]] = collections.deque(matching(), maxlen=start + limit)
    return list(reversed(newest))[start:]


@operation("read_audit_log", super_user=True, internal_name="readAuditLog")
def read_audit_log(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The gateway's audit entries ``{id, time, type, data}``, oldest first; with a ``table``, that
    table's audit log instead (``txlog.read_table_audit_log``).

    ``search_type``: ``timestamp`` (``search_values`` = [from, until] epoch ms),
    ``type`` (entry types) or ``username`` (who acted or was acted on); ``limit``.
    """
    if "table" in body:
        return read_table_audit_log(ctx, body)
    if body.get("database") is not None:
        fields.database_field(body)  # a database alone is checked, and the gateway's audit table read
    search_type = body.get("search_type")
    values = body.get("search_values", [])
    if not isinstance(values, list):
        raise OperationError("'search_values' must be an array")
    limit = fields.integer(body, "limit", None)
    types: list[str] | None = None
    start = end = None
    usernames: set[str] | None = None
    if search_type in (None, ""):
        pass
    elif search_type == "timestamp":
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values) or len(values) > 2:
            raise OperationError("'search_values' for timestamp must be [from, until] in epoch milliseconds")
        start = values[0] if values else None
        end = values[1] if len(values) > 1 else None
    elif search_type == "type":
        if not all(isinstance(v, str) for v in values):
            raise OperationError("'search_values' for type must be strings")
        types = values
    elif search_type == "username":
        if not all(isinstance(v, str) for v in values):
            raise OperationError("'search_values' for username must be strings")
        usernames = set(values)
    else:
        raise OperationError("'search_type' must be one of timestamp, type, username")
    entries = ctx.gateway.audit.read(types, start, end)
    if usernames is not None:
        entries = (
            e
            for e in entries
            if isinstance(e.get("data"), dict)
            and (e["data"].get("by") in usernames or e["data"].get("username") in usernames)
        )
    return list(islice(entries, limit)) if limit is not None else list(entries)


@operation("system_information", super_user=True, internal_name="systemInformation")
def system_information(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Host and process facts; ``attributes`` picks sections (system, time, cpu, memory, disk, …)."""
    wanted = body.get("attributes")
    if wanted is None:
        names = list(SECTIONS)
    elif isinstance(wanted, list) and all(isinstance(a, str) for a in wanted):
        names = [a for a in wanted if a in SECTIONS]
    else:
        raise OperationError("'attributes' must be an array of section names")
    return {name: SECTIONS[name](ctx.gateway) for name in names}


@operation("registration_info", super_user=True, internal_name="getRegistrationInfo")
def registration_info(ctx: OperationContext, body: dict[str, Any]) -> Any:
    return {"name": DISTRIBUTION, "version": gateway_version()}
