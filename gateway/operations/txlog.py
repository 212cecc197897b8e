"""The tables' transaction and audit logs: read_transaction_log, read_audit_log with a table,
delete_transaction_logs_before and delete_audit_logs_before.

Each gateway table has one log (``Storage.txlog``): an entry per committed write, written with it
(timestamp, operation, user, keys; the records an operation sent; the records an update or delete
replaced when ``logging.auditLog`` is on). ``read_transaction_log`` answers its entries in HarperDB's
transaction-log shape, ``read_audit_log`` in HarperDB's audit-log shape (``user_name``,
``hash_values``, ``original_records``). The two deletions are jobs, as HarperDB's are, over that one
log. ``read_audit_log`` without a ``table`` reads the gateway's own audit table (``system.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway import fields
from gateway.errors import OperationError
from gateway.jobs.table import Job
from gateway.operations.bulk import job_kind, submit_job
from gateway.operations.registry import OperationContext, operation
from gateway.storage import keys as K
from gateway.storage.txlog import LogEntry

AUDIT_DISABLED = (
    "The audit log is not enabled: set logging.auditLog to true (GATEWAY_LOGGING_AUDITLOG) and restart"
)
SEARCH_TYPES = ("hash_value", "timestamp", "username")


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OperationError(f"'{name}' must be a time in epoch milliseconds")
    return float(value)


def _table(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, str]:
    """``(database, table, primary key)`` of the body's existing table (404 when missing)."""
    database, table = fields.table_ref(body)
    info = fields.existing_table(ctx.gateway.storage.catalog, database, table)
    return database, table, info.primary_key


def _answer(entry: LogEntry, user_field: str, keys: bool = True, originals: bool = False) -> dict[str, Any]:
    """One entry as HarperDB answers it (the transaction log's ``user``, the audit log's ``user_name``)."""
    answer: dict[str, Any] = {
        "operation": entry.operation,
        user_field: entry.user,
        "timestamp": entry.timestamp,
    }
    if entry.source and entry.source != entry.operation:
        answer["source"] = entry.source
    if keys:
        answer["hash_values"] = entry.keys
    if entry.records is not None:
        answer["records"] = entry.records
    if originals and entry.originals is not None:
        answer["original_records"] = entry.originals
    return answer


def _transaction(entry: LogEntry) -> dict[str, Any]:
    return _answer(entry, "user")


@operation("read_transaction_log", super_user=True, internal_name="readTransactionLog")
def read_transaction_log(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The table's logged writes, oldest first: ``from``/``to`` (epoch ms, inclusive), ``limit``."""
    database, table, _ = _table(ctx, body)
    start, end = _number(body, "from"), _number(body, "to")
    limit = fields.integer(body, "limit", None)
    entries = ctx.gateway.storage.txlog.read(database, table, start, end, limit)
    return [_transaction(entry) for entry in entries]


def _audit(entry: LogEntry, keys: bool = True) -> dict[str, Any]:
    return _answer(entry, "user_name", keys, originals=True)


def _only(records: list[dict[str, Any]] | None, primary_key: str, ekey: bytes) -> list[dict[str, Any]] | None:
    """The records of ``records`` whose primary key encodes to ``ekey``."""
    if records is None:
        return None
    return [r for r in records if primary_key in r and K.encode_key_or_none(r[primary_key]) == ekey]


def _by_key(
    entries: Iterable[LogEntry], wanted: list[Any], primary_key: str
) -> dict[str, list[dict[str, Any]]]:
    """HarperDB's ``hash_value`` answer: per wanted key (as text), its entries, each narrowed to it."""
    answer: dict[str, list[dict[str, Any]]] = {str(key): [] for key in wanted}
    targets = {e: str(key) for key in wanted if (e := K.encode_key_or_none(key)) is not None}
    for entry in entries:
        for key in entry.keys:
            ekey = K.encode_key_or_none(key)
            name = targets.get(ekey) if ekey is not None else None
            if name is None or ekey is None:
                continue
            narrowed = LogEntry(
                entry.timestamp,
                entry.operation,
                entry.user,
                [key],
                entry.source,
                _only(entry.records, primary_key, ekey),
                _only(entry.originals, primary_key, ekey),
            )
            answer[name].append(_audit(narrowed, keys=False))
    return answer


def read_table_audit_log(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``read_audit_log`` with a ``table``: the table's log with original records (``logging.auditLog``).

    ``search_type`` ``timestamp`` ([] all, [from], [from, to]), ``username`` (an object of entries per
    user) or ``hash_value`` (an object of entries per primary key, each narrowed to that record).
    """
    database, table, primary_key = _table(ctx, body)
    storage = ctx.gateway.storage
    if not storage.txlog.settings.enabled or not storage.txlog.settings.audit:
        raise OperationError(AUDIT_DISABLED)
    search_type = body.get("search_type")
    values = body.get("search_values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        raise OperationError("'search_values' must be an array")
    limit = fields.integer(body, "limit", None)
    if search_type in (None, ""):
        return [_audit(e) for e in storage.txlog.read(database, table, limit=limit)]
    if search_type == "timestamp":
        if len(values) > 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise OperationError("'search_values' for timestamp must be [from, to] in epoch milliseconds")
        start = float(values[0]) if values else None
        end = float(values[1]) if len(values) > 1 else None
        return [_audit(e) for e in storage.txlog.read(database, table, start, end, limit)]
    if search_type == "username":
        if not all(isinstance(v, str) for v in values):
            raise OperationError("'search_values' for username must be strings")
        by_user: dict[str, list[dict[str, Any]]] = {name: [] for name in values}
        for entry in storage.txlog.read(database, table):
            if entry.user in by_user:
                by_user[entry.user].append(_audit(entry))
        return by_user
    if search_type == "hash_value":
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            raise OperationError("'search_values' for hash_value must be primary key values")
        return _by_key(storage.txlog.read(database, table), values, primary_key)
    raise OperationError(f"'search_type' must be one of {', '.join(SEARCH_TYPES)}")


def _deletion(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, float]:
    database, table, _ = _table(ctx, body)
    timestamp = _number(body, "timestamp")
    if timestamp is None:
        raise OperationError("'timestamp' is required (epoch milliseconds)")
    return database, table, timestamp


@operation("delete_transaction_logs_before", super_user=True, internal_name="deleteTransactionLogsBefore")
def delete_transaction_logs_before(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Start a job deleting the table's log entries older than ``timestamp`` (epoch ms)."""
    _deletion(ctx, body)
    return submit_job(ctx, "delete_transaction_logs_before", body)


@operation("delete_audit_logs_before", super_user=True, internal_name="deleteAuditLogsBefore")
def delete_audit_logs_before(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The same for the audit log (one log per table: the same entries); needs ``logging.auditLog``."""
    _deletion(ctx, body)
    if not ctx.gateway.storage.txlog.settings.audit:
        raise OperationError(AUDIT_DISABLED)
    return submit_job(ctx, "delete_audit_logs_before", body)


def _delete_entries(ctx: OperationContext, body: dict[str, Any], job: Job) -> tuple[str, None]:
    database, table, timestamp = _deletion(ctx, body)
    deleted = ctx.gateway.storage.txlog.delete_before(database, table, timestamp)
    job.progress.records_done = deleted
    job.progress.finished = True
    return f"deleted {deleted} log entries of '{database}.{table}' older than {timestamp:.0f}", None


job_kind("delete_transaction_logs_before")(_delete_entries)
job_kind("delete_audit_logs_before")(_delete_entries)
