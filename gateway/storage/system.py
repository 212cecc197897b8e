"""The hidden ``system`` database that holds the gateway's own tables.

Users, roles, jobs, audit entries, import models, control files, batches and API
keys are records in ``system.<table>``; describe_all does not list it and
client data operations cannot name it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.storage.errors import TableExists
from gateway.storage.records import AttributeInfo, RecordStore, TableInfo

SYSTEM_DB = "system"


def ensure_table(
    store: RecordStore,
    table: str,
    primary_key: str = "id",
    attributes: Sequence[AttributeInfo] | None = None,
    database: str = SYSTEM_DB,
) -> TableInfo:
    """Create ``database.table`` unless it exists; its info either way."""
    try:
        return store.create_table(database, table, primary_key, attributes)
    except TableExists:
        return store.table(database, table)
