"""Databases, tables and attributes: describe_*, create_*, drop_* (HarperDB shapes and messages)."""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.auth.permissions import can_see_table
from gateway.errors import OperationError, forbidden
from gateway.operations.registry import OperationContext, operation
from gateway.storage.errors import DatabaseNotFound, InvalidRecord
from gateway.storage.harper_types import KNOWN_TYPES, canonical_type
from gateway.storage.numbers import MAX_EXACT_INTEGER
from gateway.storage.ports import Catalog
from gateway.storage.records import AttributeInfo, TableInfo
from gateway.storage.system import SYSTEM_DB


def describe(catalog: Catalog, info: TableInfo, db_size: int | None = None) -> dict[str, Any]:
    """HarperDB's describe_table object for one table."""
    attributes: list[dict[str, Any]] = []
    for attr in info.attributes.values():
        if attr.name == info.primary_key:
            entry: dict[str, Any] = {"attribute": attr.name, "is_primary_key": True}
        else:
            entry = {"attribute": attr.name, "indexed": attr.indexed}
        if attr.type:
            entry["type"] = attr.type
        attributes.append(entry)
    attributes.sort(key=lambda a: 0 if a.get("is_primary_key") else 1)
    table_size = catalog.size_bytes(info.database, info.name)
    if db_size is None:
        db_size = database_size(catalog, info.database)
    out: dict[str, Any] = {
        "schema": info.database,
        "name": info.name,
        "hash_attribute": info.primary_key,
        "audit": False,
        "schema_defined": info.schema_defined,
        "attributes": attributes,
        "db_size": db_size,
        "sources": [],
        "record_count": catalog.count(info.database, info.name),
        "table_size": table_size,
        "db_audit_size": 0,
    }
    if info.expiration:
        out["expiration"] = info.expiration
    last_updated = catalog.last_updated(info.database, info.name)
    if last_updated is not None:
        out["last_updated_record"] = last_updated
    return out


def database_size(catalog: Catalog, database: str) -> int:
    """Bytes used by every table of a database (estimate, memtables included)."""
    return sum(catalog.size_bytes(database, t.name) for t in catalog.list_tables(database))


def describe_database_tables(ctx: OperationContext, database: str) -> dict[str, Any]:
    """``{table: describe}`` for the tables of ``database`` the user may see."""
    catalog = ctx.gateway.storage.catalog
    tables = [t for t in catalog.list_tables(database) if can_see_table(ctx.user, database, t.name)]
    tables.sort(key=lambda t: t.created)  # creation order, as HarperDB lists them
    size = database_size(catalog, database)
    return {t.name: describe(catalog, t, size) for t in tables}


@operation("describe_all")
def describe_all(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Every database (except ``system``) → its tables' descriptions."""
    out: dict[str, Any] = {}
    for database in ctx.gateway.storage.catalog.list_databases():
        if database == SYSTEM_DB:
            continue
        tables = describe_database_tables(ctx, database)
        if tables or ctx.user.is_super_user:
            out[database] = tables
    return out


@operation("describe_database", aliases=("describe_schema",))
def describe_database(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """``{table: describe}`` of one database (404 if it does not exist)."""
    database = fields.database_field(body)
    try:
        return describe_database_tables(ctx, database)
    except DatabaseNotFound as exc:
        raise OperationError(str(exc), 404) from exc


@operation("describe_table")
def describe_table(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """One table's description; 404 when it or its database does not exist."""
    database, table = fields.table_ref(body)
    if not ctx.user.is_super_user and not can_see_table(ctx.user, database, table):
        raise forbidden([], [f"Table '{database}.{table}' does not exist"])
    info = fields.existing_table(ctx.gateway.storage.catalog, database, table, 404)
    return describe(ctx.gateway.storage.catalog, info)


@operation("create_database", super_user=True, internal_name="createSchema", aliases=("create_schema",))
def create_database(ctx: OperationContext, body: dict[str, Any]) -> Any:
    database = fields.database_field(body)
    ctx.gateway.storage.catalog.create_database(database)
    return {"message": f"database '{database}' successfully created"}


@operation("drop_database", super_user=True, internal_name="dropSchema", aliases=("drop_schema",))
def drop_database(ctx: OperationContext, body: dict[str, Any]) -> Any:
    database = fields.database_field(body)
    ctx.gateway.storage.catalog.drop_database(database)
    return {"message": f"successfully deleted '{database}'"}


def _attributes(body: dict[str, Any]) -> tuple[list[AttributeInfo] | None, str | None]:
    """The ``attributes`` list of create_table as AttributeInfo, and a primary key it marks."""
    raw = body.get("attributes")
    if raw is None:
        return None, None
    if not isinstance(raw, list):
        raise OperationError("'attributes' must be an array")
    out: list[AttributeInfo] = []
    primary: str | None = None
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise OperationError("each entry of 'attributes' must be an object with a 'name'")
        name = item.get("name", item.get("attribute"))
        if not isinstance(name, str) or not name:
            raise OperationError("each entry of 'attributes' must have a 'name' string")
        fields.check_name(name, "attributes.name")
        if name in seen:
            raise OperationError(f"attribute '{name}' is listed twice in 'attributes'")
        seen.add(name)
        type_name = item.get("type")
        canonical = None
        if type_name is not None:
            canonical = canonical_type(type_name) if isinstance(type_name, str) else None
            if canonical is None:
                raise OperationError(
                    f"unknown type {type_name!r} for attribute '{name}'; known types: {', '.join(KNOWN_TYPES)}"
                )
        indexed = item.get("indexed", False)
        is_primary = item.get("isPrimaryKey", item.get("is_primary_key", False))
        if not isinstance(indexed, bool) or not isinstance(is_primary, bool):
            raise OperationError(f"'indexed' and 'isPrimaryKey' of attribute '{name}' must be booleans")
        if is_primary:
            if primary is not None:
                raise OperationError("only one attribute can be the primary key")
            primary = name
        out.append(AttributeInfo(name, indexed, canonical))
    return out, primary


@operation("create_table", super_user=True, internal_name="createTable")
def create_table(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Create a table (and its database if needed); ``attributes`` makes it schema-defined."""
    database, table = fields.table_ref(body)
    attributes, marked = _attributes(body)
    key = body.get("primary_key", body.get("hash_attribute")) or marked
    if key is None:
        raise OperationError("'primary_key' is required")
    if not isinstance(key, str):
        raise OperationError("'primary_key' must be a string")
    fields.check_name(key, "primary_key")
    if marked is not None and marked != key:
        raise OperationError(f"'primary_key' is '{key}' but attribute '{marked}' is marked as primary key")
    expiration = body.get("expiration")
    if expiration is not None and (
        isinstance(expiration, bool)
        or not isinstance(expiration, int | float)
        or not 0 < expiration <= MAX_EXACT_INTEGER
    ):
        raise OperationError(
            f"'expiration' must be a positive number of seconds (at most {MAX_EXACT_INTEGER})"
        )
    ctx.gateway.storage.catalog.create_table(
        database, table, key, attributes, int(expiration) if expiration is not None else None
    )
    return {"message": f"table '{database}.{table}' successfully created."}


@operation("drop_table", super_user=True, internal_name="dropTable")
def drop_table(ctx: OperationContext, body: dict[str, Any]) -> Any:
    database, table = fields.table_ref(body)
    ctx.gateway.storage.catalog.drop_table(database, table)
    return {"message": f"successfully deleted table '{database}.{table}'"}


@operation("create_attribute", super_user=True, internal_name="createAttribute")
def create_attribute(ctx: OperationContext, body: dict[str, Any]) -> Any:
    database, table = fields.table_ref(body)
    attribute = fields.name_field(body, "attribute")
    indexed = fields.boolean(body, "indexed", True)
    ctx.gateway.storage.catalog.add_attribute(database, table, attribute, indexed=indexed)
    return {"message": f"attribute '{database}.{table}.{attribute}' successfully created."}


@operation("drop_attribute", super_user=True, internal_name="dropAttribute")
def drop_attribute(ctx: OperationContext, body: dict[str, Any]) -> Any:
    database, table = fields.table_ref(body)
    attribute = fields.name_field(body, "attribute")
    info = fields.existing_table(ctx.gateway.storage.catalog, database, table, 404)
    if attribute == info.primary_key:
        raise OperationError(f"cannot drop the primary key attribute '{attribute}' of {database}.{table}")
    try:
        ctx.gateway.storage.catalog.drop_attribute(database, table, attribute)
    except InvalidRecord as exc:
        raise OperationError(str(exc)) from exc
    return {"message": f"successfully deleted attribute '{attribute}'"}
