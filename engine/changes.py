"""What a batch run did, or in a dry run would do: counts per table and samples of updates.

The engine fills a :class:`RunCounts` while it runs: the records read and the
complete ones (committed in a real run, skipped in a dry run) at every progress
report and at the end, and per table the writes' outcomes as the
:class:`~engine.ports.TargetStore` answered them (:data:`~engine.ports.NEW`,
:data:`~engine.ports.UPDATED`, :data:`~engine.ports.UNCHANGED`; a loaded target the
record left as it was is counted unchanged without asking the store). In a dry
run the first :data:`SAMPLE_SIZE` updated records of each table are kept with the
Names that would change, from what to what (values longer than
:data:`MAX_VALUE_CHARS` in JSON are cut), so the report stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from engine.models import Destination
from engine.ports import OUTCOMES, UPDATED, TargetStore, TargetWrite

SAMPLE_SIZE: Final = 20
"""Updated records kept per table in a dry run's change report."""
MAX_NAMES: Final = 50
"""Changed Names kept per sampled record."""
MAX_VALUE_CHARS: Final = 200
"""A sampled value longer than this in JSON is cut to this many characters (and marked)."""


class RunCounts:
    """Counts of one run (see the module docstring); ``tables`` maps a table to [new, updated, unchanged]."""

    __slots__ = ("read", "complete", "dry_run", "tables", "destinations", "samples", "more", "_store")

    def __init__(self) -> None:
        self.read = 0
        self.complete = 0
        self.dry_run = False
        self.tables: dict[str, list[int]] = {}
        self.destinations: dict[str, list[str]] = {}
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.more: dict[str, bool] = {}
        self._store: TargetStore | None = None

    def start(self, destinations: Sequence[Destination], store: TargetStore, dry_run: bool) -> None:
        """A row per table of the model's stored destinations (the store is read for samples)."""
        self.dry_run = dry_run
        self._store = store if dry_run else None
        for dest in destinations:
            if dest.table is None:
                continue
            self.tables.setdefault(dest.table, [0, 0, 0])
            self.destinations.setdefault(dest.table, []).append(dest.name)

    def row(self, table: str) -> list[int]:
        """The [new, updated, unchanged] counters of a table (the generated code counts into them)."""
        return self.tables.setdefault(table, [0, 0, 0])

    def sample(self, writes: Sequence[TargetWrite], outcomes: Sequence[int]) -> None:
        """Keep the first updated records of each table with their changed Names (dry runs only)."""
        store = self._store
        if store is None:
            return
        for write, outcome in zip(writes, outcomes, strict=False):
            if outcome != UPDATED:
                continue
            kept = self.samples.setdefault(write.table, [])
            if len(kept) >= SAMPLE_SIZE:
                self.more[write.table] = True
                continue
            stored = store.get(write.table, write.primary_key)
            kept.append({"key": write.primary_key, "changes": changed_names(stored or {}, write.record)})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunCounts):
            return NotImplemented
        return (self.read, self.complete, self.as_dict()) == (other.read, other.complete, other.as_dict())

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        """Per table: its destinations, new/updated/unchanged and (dry run) the sampled updates."""
        rows = []
        for table, counts in self.tables.items():
            row: dict[str, Any] = {"table": table, "destinations": self.destinations.get(table, [])}
            row.update(zip(OUTCOMES, counts, strict=True))
            if self.dry_run:
                row["sample"] = self.samples.get(table, [])
                row["sample_complete"] = not self.more.get(table, False)
            rows.append(row)
        return {"destinations": rows}


def changed_names(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The Names whose values differ, ``{"name", "from", "to"}`` (None: no value), store metadata aside."""
    changes = []
    for name in dict.fromkeys([*before, *after]):
        if name.startswith("__"):
            continue
        old, new = before.get(name), after.get(name)
        if not same_json(old, new):
            changes.append({"name": name, "from": _bounded(old), "to": _bounded(new)})
            if len(changes) >= MAX_NAMES:
                break
    return changes


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers (``1 == 1.0``, ``1 != true``)."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_json(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(same_json(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(b, dict | list):
        return False
    return bool(a == b)


def _bounded(value: Any) -> Any:
    """The value, or if its JSON is longer than :data:`MAX_VALUE_CHARS`, that JSON (or the string) cut and marked ``…``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= MAX_VALUE_CHARS:
        return value
    return text[:MAX_VALUE_CHARS] + "…"
