"""Running a condition tree against one table: index planning, sorting, paging, projection.

Planning: a condition on an indexed attribute yields its candidate primary keys
from the index (a range scan for equals/starts_with/comparisons/between, a scan
of the index's values for contains/ends_with/wildcards). An ``and`` group is
driven by its narrowest child, found by counting index entries with growing
caps (so a selective condition wins without counting a huge one to the end);
an ``or`` group is the union of its children when each has an index. Records
are fetched by key in batches (multi-get) and checked against the whole tree.
Without any usable index the table is scanned in primary-key order.

Results come in the driving index's order (primary-key order for scans) unless
``sort`` asks otherwise; ``offset``/``limit`` apply after sorting. A condition or
sort attribute the table does not have is a 400 ``unknown attribute 'x'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from gateway.errors import OperationError
from gateway.query.conditions import Condition, Group
from gateway.storage import keys as K
from gateway.storage.ports import Storage
from gateway.storage.records import TableInfo

FETCH_CHUNK = 512
_FIRST_CAP = 256
_LAST_CAP = 1 << 24
MAX_SORT_DEPTH = 16


@dataclass
class Source:
    """Candidate primary keys of a condition (a superset of its matches)."""

    count: Callable[[int], int]  # how many candidates, counting at most ``cap``
    keys: Callable[[], Iterator[Any]]
    narrow: bool  # a range of the index, not a scan of all its values


@dataclass
class Sort:
    attribute: str
    descending: bool


class Planner:
    """Finds index sources for the nodes of a condition tree on one table."""

    def __init__(self, storage: Storage, info: TableInfo) -> None:
        self.storage = storage
        self.info = info

    def source(self, node: Condition | Group) -> Source | None:
        if isinstance(node, Group):
            return self._group_source(node)
        return self._condition_source(node)

    def _condition_source(self, cond: Condition) -> Source | None:
        db, table = self.info.database, self.info.name
        if not self.storage.catalog.is_indexed(db, table, cond.attribute):
            return None
        key_range = cond.key_range()
        if key_range is not None:

            def keys() -> Iterator[Any]:
                return self.storage.records.index_keys(db, table, cond.attribute, key_range)

            return Source(lambda cap: sum(1 for _ in islice(keys(), cap)), keys, narrow=True)
        if cond.comparator in ("contains", "ends_with", "wildcard"):

            def scan_keys() -> Iterator[Any]:
                for value, key in self.storage.records.index_items(db, table, cond.attribute):
                    if cond.value_matches(value):
                        yield key

            return Source(lambda cap: cap, scan_keys, narrow=False)
        return None

    def _group_source(self, group: Group) -> Source | None:
        sources = [self.source(child) for child in group.children]
        if group.operator == "or":
            present = [s for s in sources if s is not None]
            if not present or len(present) != len(sources):
                return None
            return Source(
                lambda cap: min(cap, sum(s.count(cap) for s in present)),
                lambda: chain.from_iterable(s.keys() for s in present),
                narrow=all(s.narrow for s in present),
            )
        candidates = [s for s in sources if s is not None]
        if not candidates:
            return None
        narrow = [s for s in candidates if s.narrow]
        if not narrow:
            return candidates[0]
        if len(narrow) == 1:
            return narrow[0]
        return Source(
            lambda cap: min(s.count(cap) for s in narrow),
            lambda: narrowest(narrow).keys(),
            narrow=True,
        )


def narrowest(sources: list[Source]) -> Source:
    """The source with the fewest candidates (first on ties), counting with growing caps."""
    cap = _FIRST_CAP
    while cap <= _LAST_CAP:
        counts = [s.count(cap) for s in sources]
        under = [(count, i) for i, count in enumerate(counts) if count < cap]
        if under:
            return sources[min(under)[1]]
        cap *= 16
    return sources[0]


def matching_records(storage: Storage, info: TableInfo, group: Group) -> Iterator[dict[str, Any]]:
    """Records of the table that satisfy ``group``, in the planned order."""
    source = Planner(storage, info).source(group) if group.children else None
    if source is None:
        for record in storage.records.scan(info.database, info.name):
            if group.matches(record):
                yield record
        return
    seen: set[Any] = set()
    keys = source.keys()
    while True:
        chunk = []
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            chunk.append(key)
            if len(chunk) >= FETCH_CHUNK:
                break
        if not chunk:
            return
        for found in storage.records.get_many(info.database, info.name, chunk):
            if found is not None and group.matches(found):
                yield found


def _sort_value(record: dict[str, Any], attribute: str) -> bytes:
    value = record.get(attribute)
    if isinstance(value, list | dict):
        return b"\xfe"
    try:
        return K.encode_key(value)
    except K.UnencodableKey:
        return b"\xff"


def parse_sort(raw: Any) -> list[Sort]:
    """``{attribute, descending, next: {...}}`` → the sort keys, most significant first."""
    out: list[Sort] = []
    while raw is not None:
        if not isinstance(raw, dict):
            raise OperationError("'sort' must be an object with an 'attribute'")
        attribute = raw.get("attribute")
        descending = raw.get("descending", False)
        if not isinstance(attribute, str) or not attribute:
            raise OperationError("'sort' needs an 'attribute' string")
        if not isinstance(descending, bool):
            raise OperationError("'sort.descending' must be a boolean")
        out.append(Sort(attribute, descending))
        if len(out) > MAX_SORT_DEPTH:
            raise OperationError(f"'sort' nests more than {MAX_SORT_DEPTH} levels of 'next'")
        raw = raw.get("next")
    return out


def check_attributes(info: TableInfo, group: Group, sorts: list[Sort] | None = None) -> None:
    """400 ``unknown attribute 'x'`` for a condition or sort attribute the table does not have.

    HarperDB refuses an unknown attribute in ``get_attributes`` with this message
    (harper-answers.md); a misspelled search or sort attribute gets the same answer
    instead of an empty result or an unsorted one.
    """
    known = info.attributes
    pending: list[Condition | Group] = [group]
    while pending:
        node = pending.pop()
        if isinstance(node, Group):
            pending.extend(reversed(node.children))
        elif node.attribute not in known:
            raise OperationError(f"unknown attribute '{node.attribute}'")
    for spec in sorts or ():
        if spec.attribute not in known:
            raise OperationError(f"unknown attribute '{spec.attribute}'")


def sort_records(records: list[dict[str, Any]], sorts: list[Sort]) -> list[dict[str, Any]]:
    """Sort by each key in turn (stable sorts, least significant first)."""
    for spec in reversed(sorts):
        attribute = spec.attribute

        def key(record: dict[str, Any], attribute: str = attribute) -> bytes:
            return _sort_value(record, attribute)

        records.sort(key=key, reverse=spec.descending)
    return records


def run_query(
    storage: Storage,
    info: TableInfo,
    group: Group,
    sorts: list[Sort] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Matching records, sorted and paged (full records; project them afterwards).

    400 for a condition or sort attribute the table does not have (:func:`check_attributes`).
    """
    check_attributes(info, group, sorts)
    matches = matching_records(storage, info, group)
    if sorts:
        ordered = sort_records(list(matches), sorts)
        end = None if limit is None else offset + limit
        return ordered[offset:end]
    stop = None if limit is None else offset + limit
    return list(islice(matches, offset, stop))


# HarperDB fills the attributes a record lacks with null when asked for "*" (harper-answers.md);
# the Haplo acceptance cases (shared/haplo_cases/README.md) require a record's attribute set to
# match exactly. The acceptance cases win: "*" answers the attributes the record has.
STAR_FILLS_MISSING = False


def projector(info: TableInfo, get_attributes: list[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function picking ``get_attributes`` from a record.

    ``*``: every attribute the record has, in the table's attribute order (metadata
    included). Named attributes absent from a record are null. 400 ``unknown
    attribute 'x'`` for a name the table does not have (HarperDB answers 500).
    """
    if "*" in get_attributes:
        order = list(info.attributes)
        if STAR_FILLS_MISSING:
            return lambda record: {name: record.get(name) for name in order}

        def project_star(record: dict[str, Any]) -> dict[str, Any]:
            out = {name: record[name] for name in order if name in record}
            if len(out) != len(record):
                out.update((k, v) for k, v in record.items() if k not in out)
            return out

        return project_star
    for name in get_attributes:
        if name not in info.attributes:
            raise OperationError(f"unknown attribute '{name}'")
    names = list(dict.fromkeys(get_attributes))

    def project(record: dict[str, Any]) -> dict[str, Any]:
        return {name: record.get(name) for name in names}

    return project
