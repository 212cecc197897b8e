"""Record writes: insert, update, upsert, delete (HarperDB's answers word for word).

Deviations (operations.md): a generated key is a UUID string and is returned in
``inserted_hashes``/``upserted_hashes``; ``delete`` lists ids that did not exist
under ``skipped_hashes``. Each request is one atomic WriteBatch: a bad record
fails the whole request with 400 and nothing is written.
"""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.auth.permissions import require_table_permissions
from gateway.errors import OperationError
from gateway.operations.registry import OperationContext, operation
from gateway.storage.records import WriteMode


def _write_request(ctx: OperationContext, body: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """Validated ``(database, table, records)``; the table must exist (400 otherwise, as HarperDB)."""
    database, table = fields.table_ref(body)
    records = fields.array(body, "records")
    if not all(isinstance(r, dict) for r in records):
        raise OperationError("'records' must be an array of objects")
    fields.existing_table(ctx.gateway.storage.catalog, database, table, 400)
    return database, table, records


def write_records(
    ctx: OperationContext, body: dict[str, Any], mode: WriteMode
) -> tuple[list[Any], list[Any], int]:
    """Run one insert/update/upsert request: (written keys, skipped keys, records sent)."""
    database, table, records = _write_request(ctx, body)
    result = ctx.gateway.storage.records.write(database, table, records, mode)
    return result.written, result.skipped, len(records)


@operation("insert", permission="insert")
def insert(ctx: OperationContext, body: dict[str, Any]) -> Any:
    written, skipped, total = write_records(ctx, body, "insert")
    return {
        "message": f"inserted {len(written)} of {total} records",
        "inserted_hashes": written,
        "skipped_hashes": skipped,
    }


@operation("update", permission="update")
def update(ctx: OperationContext, body: dict[str, Any]) -> Any:
    written, skipped, total = write_records(ctx, body, "update")
    return {
        "message": f"updated {len(written)} of {total} records",
        "update_hashes": written,
        "skipped_hashes": skipped,
    }


@operation("upsert")
def upsert(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Insert or update; a non-super role needs both insert and update on the table."""
    database = body.get("database", fields.DEFAULT_DATABASE)
    table = body.get("table")
    if isinstance(database, str) and isinstance(table, str):
        require_table_permissions(ctx.user, database, table, ("insert", "update"))
    written, _, total = write_records(ctx, body, "upsert")
    return {"message": f"upserted {len(written)} of {total} records", "upserted_hashes": written}


def delete_message(deleted: int, total: int) -> str:
    """``2 of 2 records successfully deleted`` / ``1 of 1 record successfully deleted``."""
    noun = "record" if total == 1 else "records"
    return f"{deleted} of {total} {noun} successfully deleted"


@operation("delete", permission="delete")
def delete(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Delete by ``ids`` (alias ``hash_values``); ids that did not exist are skipped."""
    database, table = fields.table_ref(body)
    ids = fields.array(body, "ids")
    fields.existing_table(ctx.gateway.storage.catalog, database, table, 400)
    result = ctx.gateway.storage.records.delete(database, table, ids)
    return {
        "message": delete_message(len(result.written), len(ids)),
        "deleted_hashes": result.written,
        "skipped_hashes": result.skipped,
    }
