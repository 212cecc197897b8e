"""Request bodies of the Operations API: HarperDB's field aliases and the checks of single fields.

Every check raises ``OperationError`` (400 unless stated) with HarperDB's
wording (``'table' is required``), so handlers validate a whole body before
they touch the store. Shared by the operation handlers and by the searches an
export runs (``gateway.query.searches``).
"""

from __future__ import annotations

from typing import Any

from gateway.errors import OperationError
from gateway.storage.errors import DatabaseNotFound, TableNotFound
from gateway.storage.names import FORBIDDEN_IN_NAMES, MAX_NAME_LENGTH, control_character
from gateway.storage.numbers import MAX_EXACT_INTEGER
from gateway.storage.ports import Catalog
from gateway.storage.records import TableInfo
from gateway.storage.system import SYSTEM_DB

FIELD_ALIASES = {
    "schema": "database",
    "hash_values": "ids",
    "search_attribute": "attribute",
    "search_value": "value",
}
"""HarperDB's deprecated spellings, accepted everywhere: old name → current name."""
DEFAULT_DATABASE = "data"


def with_aliases(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` where each deprecated field also stands under its current name (if unset)."""
    out = dict(body)
    for old, new in FIELD_ALIASES.items():
        if old in out and new not in out:
            out[new] = out[old]
    return out


def required(body: dict[str, Any], name: str) -> Any:
    """The field's value; 400 ``'<name>' is required`` when absent or null."""
    value = body.get(name)
    if value is None:
        raise OperationError(f"'{name}' is required")
    return value


def string(body: dict[str, Any], name: str, default: str | None = None) -> str:
    """A required (or defaulted) non-empty string field."""
    value = body.get(name)
    if value is None:
        value = default
    if value is None:
        raise OperationError(f"'{name}' is required")
    if not isinstance(value, str):
        raise OperationError(f"'{name}' must be a string")
    if not value:
        raise OperationError(f"'{name}' is required")
    return value


def optional_string(body: dict[str, Any], name: str) -> str | None:
    """A string field that may be absent (or null)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise OperationError(f"'{name}' must be a string")
    return value


def boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean field with a default."""
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise OperationError(f"'{name}' must be a boolean")
    return value


def integer(body: dict[str, Any], name: str, default: int | None, minimum: int = 0) -> int | None:
    """A non-negative (by default) integer field with a default (``5.0`` is the integer 5, as in JSON)."""
    value = body.get(name, default)
    if value is None:
        return default
    number = json_integer(value)
    if number is None and isinstance(value, float) and value.is_integer():
        raise OperationError(f"'{name}' must be an integer of at most {MAX_EXACT_INTEGER}")
    if number is None or number < minimum:
        raise OperationError(f"'{name}' must be an integer of at least {minimum}")
    return number


def json_integer(value: Any) -> int | None:
    """``value`` as an int if it is a JSON integer the store keeps exactly, else None.

    JSON does not tell ``5`` from ``5.0`` (HarperDB reads both as the number 5), so an
    integral float counts, up to ±2**53 like integer literals (:mod:`gateway.storage.numbers`).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (value.is_integer() and abs(value) <= MAX_EXACT_INTEGER):
        return None
    return int(value)


def array(body: dict[str, Any], name: str) -> list[Any]:
    """A required array field (``'<name>' must be an array``)."""
    value = required(body, name)
    if not isinstance(value, list):
        raise OperationError(f"'{name}' must be an array")
    return value


def name_field(body: dict[str, Any], name: str, default: str | None = None) -> str:
    """A database, table or attribute name: a string without ``/``, backticks or control characters."""
    value = string(body, name, default)
    check_name(value, name)
    return value


def check_name(value: str, what: str) -> None:
    """400 unless ``value`` can name a database, table or attribute (no ``/``, backtick, NUL,
    C0 or C1 control character or DEL; :mod:`gateway.storage.names`)."""
    if len(value) > MAX_NAME_LENGTH:
        raise OperationError(f"'{what}' must be at most {MAX_NAME_LENGTH} characters")
    if control_character(value) is not None or not FORBIDDEN_IN_NAMES.isdisjoint(value):
        raise OperationError(f"'{what}' cannot include backticks, forward slashes or control characters")


def database_field(body: dict[str, Any]) -> str:
    """The body's ``database`` (alias ``schema``), default ``data``; the system database is refused."""
    database = name_field(body, "database", DEFAULT_DATABASE)
    refuse_system(database)
    return database


def refuse_system(database: str) -> None:
    """403 for the gateway's own ``system`` database."""
    if database == SYSTEM_DB:
        raise OperationError(
            f"database '{SYSTEM_DB}' is reserved for the gateway's own tables and cannot be used by operations",
            403,
        )


def table_ref(body: dict[str, Any]) -> tuple[str, str]:
    """``(database, table)`` from the body, validated but not looked up."""
    database = database_field(body)
    table = name_field(body, "table")
    return database, table


def existing_table(catalog: Catalog, database: str, table: str, missing_status: int = 404) -> TableInfo:
    """The table's info; ``missing_status`` (400 for writes, 404 for reads) when it or its database is missing."""
    try:
        return catalog.table(database, table)
    except (DatabaseNotFound, TableNotFound) as exc:
        raise OperationError(str(exc), missing_status) from exc


def attribute_names(body: dict[str, Any], name: str = "get_attributes") -> list[str]:
    """A required list of attribute names (``["*"]`` allowed)."""
    value = array(body, name)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise OperationError(f"'{name}' must be a non-empty array of attribute names")
    return value
