"""Store look-ups shared by filters, mappings and loads: codes, titles, display names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.models import PERSON_NAME_PARTS
from engine.ports import TargetStore

CODE_ATTRIBUTE = "code"
TITLE_ATTRIBUTE = "title"
_CREATED = "__createdtime__"


class KeyedTable(Protocol):
    """A table records are looked up in: a stored destination, or any table of the model database."""

    @property
    def table(self) -> str | None: ...

    @property
    def primary_key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DatabaseTable:
    """A table of the model database that is not one of the model's destinations."""

    table: str
    primary_key: str


def find_by_code(store: TargetStore, destinations: Iterable[KeyedTable], code: Any) -> Any | None:
    """Primary key of the oldest record, across the tables, whose ``code`` matches.

    "Oldest" compares the store's ``__createdtime__`` metadata when present; without
    it the first table (in model order) with a match wins.
    """
    best: tuple[float, Any] | None = None
    for dest in destinations:
        if dest.table is None:
            continue
        found = store.find(dest.table, CODE_ATTRIBUTE, code)
        if not found:
            continue
        record = found[0]
        key = record.get(dest.primary_key)
        created = record.get(_CREATED)
        if not isinstance(created, int | float):
            if best is None:
                return key
            continue
        if best is None or created < best[0]:
            best = (created, key)
    return best[1] if best is not None else None


def display_name(value: Any) -> str | None:
    """The display form of a person name: its set parts joined by single spaces (§6.5)."""
    if not isinstance(value, dict):
        return None
    parts = [str(value[p]) for p in PERSON_NAME_PARTS if value.get(p)]
    return " ".join(parts) if parts else None


def title_keys(title: Any) -> list[str]:
    """The lookup keys of a record's ``title``: the string, each array element, or a person's display name."""
    if isinstance(title, str):
        return [title]
    if isinstance(title, list):
        keys: list[str] = []
        for element in title:
            keys.extend(title_keys(element))
        return keys
    name = display_name(title)
    return [name] if name is not None else []


def strip_metadata(record: dict[str, Any]) -> dict[str, Any]:
    """The record without store metadata attributes (names starting with ``__``)."""
    return {k: v for k, v in record.items() if not k.startswith("__")}
