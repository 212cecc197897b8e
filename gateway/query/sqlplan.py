"""Translation of one SQL statement (parsed by sqlglot) into a plan the gateway can run.

Supported: ``SELECT`` (columns, ``*``, aliases, ``COUNT/SUM/AVG/MIN/MAX`` with an
optional ``GROUP BY``, ``DISTINCT``, ``WHERE`` with AND/OR/NOT, the comparators,
``BETWEEN``, ``IN``, ``LIKE``, ``IS [NOT] NULL``, ``ORDER BY``, ``LIMIT``/``OFFSET``),
``INSERT ... VALUES``, ``UPDATE ... SET col = literal``, ``DELETE``, each on one
``database.table``. A syntax error raises HarperDB's "Invalid SQL at: …" message;
anything else raises ``SqlError`` naming the unsupported part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.storage import keys as K
from gateway.storage.numbers import INTEGER_REASON, inexact_reason, shown_literal
from gateway.storage.records import KeyRange

INVALID_SQL = (
    "Invalid SQL at: {sql}. Please ensure your SQL is valid. "
    "Try adding backticks to reserved words and schema table references."
)
DEFAULT_DATABASE = "data"
_MISSING: Any = object()

Predicate = Callable[[dict[str, Any]], bool]


class SqlError(Exception):
    """A statement that cannot run: HarperDB's invalid-SQL message or an unsupported part (400)."""


def unsupported(what: str) -> SqlError:
    return SqlError(f"SQL {what} is not supported by this server")


@dataclass(frozen=True)
class TableRef:
    database: str
    table: str
    alias: str | None


@dataclass(frozen=True)
class Aggregate:
    function: str  # count, sum, avg, min, max
    attribute: str | None  # None: COUNT(*)


@dataclass(frozen=True)
class Output:
    """One column of a SELECT's answer: an attribute or an aggregate, under a name."""

    name: str
    attribute: str | None = None
    aggregate: Aggregate | None = None


@dataclass
class Filter:
    """A WHERE clause: its predicate, and the index ranges its top-level AND terms allow."""

    predicate: Predicate | None = None
    index_terms: list[tuple[str, list[KeyRange]]] = field(default_factory=list)


@dataclass
class SelectPlan:
    table: TableRef
    star: bool
    outputs: list[Output]
    where: Filter
    order: list[tuple[str, bool]]  # (attribute or output name, descending)
    limit: int | None
    offset: int
    group_by: list[str]
    distinct: bool

    @property
    def aggregated(self) -> bool:
        return bool(self.group_by) or any(o.aggregate for o in self.outputs)


@dataclass
class InsertPlan:
    table: TableRef
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class UpdatePlan:
    table: TableRef
    assignments: dict[str, Any]
    where: Filter


@dataclass
class DeletePlan:
    table: TableRef
    where: Filter


Plan = SelectPlan | InsertPlan | UpdatePlan | DeletePlan


def parse(sql: Any) -> Plan:
    """The plan of one SQL statement; SqlError for invalid or unsupported SQL."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError(INVALID_SQL.format(sql=sql if isinstance(sql, str) else ""))
    try:
        statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
    except SqlglotError as exc:
        raise SqlError(INVALID_SQL.format(sql=sql)) from exc
    if not statements:
        raise SqlError(INVALID_SQL.format(sql=sql))
    if len(statements) > 1:
        raise unsupported("with more than one statement")
    node = statements[0]
    if isinstance(node, exp.Select):
        return _select(node)
    if isinstance(node, exp.Insert):
        return _insert(node)
    if isinstance(node, exp.Update):
        return _update(node)
    if isinstance(node, exp.Delete):
        return _delete(node)
    if isinstance(node, exp.Column | exp.Identifier | exp.Literal):
        raise SqlError(INVALID_SQL.format(sql=sql))
    raise unsupported(f"statement {node.key.upper()}")


_CLAUSES = {"joins": "JOIN", "with_": "WITH", "order": "ORDER BY", "group": "GROUP BY", "laterals": "LATERAL"}


def _extra_args(node: exp.Expression, allowed: set[str]) -> None:
    for name, value in node.args.items():
        if value and name not in allowed:
            raise unsupported(_CLAUSES.get(name, name.rstrip("_").upper()))


def _table(node: Any) -> TableRef:
    if isinstance(node, exp.Schema):
        node = node.this
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        raise unsupported("FROM other than one database.table")
    if node.args.get("catalog"):
        raise unsupported("three-part table names")
    alias = node.alias or None
    return TableRef(node.db or DEFAULT_DATABASE, node.name, alias)


def _from(node: exp.Select) -> TableRef:
    source = node.args.get("from_") or node.args.get("from")
    if source is None:
        raise unsupported("SELECT without FROM")
    return _table(source.this)


def _attribute(node: Any, table: TableRef) -> str:
    if isinstance(node, exp.Paren):
        return _attribute(node.this, table)
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        raise unsupported(f"expression {_shown(node)}")
    qualifier = node.table
    if qualifier and qualifier not in (table.alias, table.table):
        raise unsupported(f"reference to another table ({qualifier})")
    return str(node.name)


def _shown(node: Any) -> str:
    return node.sql(dialect="mysql") if isinstance(node, exp.Expression) else str(node)


class InexactNumber(SqlError):
    """A number literal a double cannot carry exactly (:mod:`gateway.storage.numbers`)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"Value {shown_literal(text)} cannot be stored exactly: {reason}")
        self.text = text
        self.reason = reason

    def at(self, where: str) -> SqlError:
        """The same refusal naming where the value goes (``of column 'id' in row 2``)."""
        return SqlError(f"Value {shown_literal(self.text)} {where} cannot be stored exactly: {self.reason}")


def _number(text: str) -> int | float:
    """A number literal's value; InexactNumber beyond ±2**53 (integers), below the smallest or
    above the largest double."""
    value: int | float
    if len(text) > 20 and text.isdigit():  # beyond 2**64 (int() refuses over 4,300 digits)
        raise InexactNumber(text, INTEGER_REASON)
    try:
        value = int(text)
    except ValueError:
        value = float(text)
    reason = inexact_reason(text, value)
    if reason is not None:
        raise InexactNumber(text, reason)
    return value


def literal(node: Any) -> Any:
    """The Python value of a literal (numbers, strings, booleans, NULL, negatives)."""
    if isinstance(node, exp.Paren):
        return literal(node.this)
    if isinstance(node, exp.Neg):
        try:
            value = literal(node.this)
        except InexactNumber as exc:
            raise InexactNumber(f"-{exc.text}", exc.reason) from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    elif isinstance(node, exp.Literal):
        text = str(node.this)
        if node.is_string:
            return text
        return _number(text)
    elif isinstance(node, exp.Boolean):
        return bool(node.this)
    elif isinstance(node, exp.Null):
        return None
    raise SqlError(f"SQL {_shown(node)} is not supported by this server here: only literal values are")


# -- SELECT -------------------------------------------------------------------------

_AGGREGATES: dict[type, str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
}


def _select(node: exp.Select) -> SelectPlan:
    _extra_args(
        node, {"expressions", "from_", "from", "where", "group", "order", "limit", "offset", "distinct"}
    )
    table = _from(node)
    star = False
    outputs: list[Output] = []
    for item in node.expressions:
        name = item.alias if isinstance(item, exp.Alias) else None
        target = item.this if isinstance(item, exp.Alias) else item
        if isinstance(target, exp.Star) or (
            isinstance(target, exp.Column) and isinstance(target.this, exp.Star)
        ):
            star = True
            continue
        kind = _AGGREGATES.get(type(target))
        if kind is not None:
            argument = target.this
            if isinstance(argument, exp.Star) and kind == "count":
                aggregate = Aggregate("count", None)
            elif isinstance(argument, exp.Distinct):
                raise unsupported(f"{kind.upper()}(DISTINCT …)")
            else:
                aggregate = Aggregate(kind, _attribute(argument, table))
            outputs.append(Output(name or _shown(target), aggregate=aggregate))
            continue
        attribute = _attribute(target, table)
        outputs.append(Output(name or attribute, attribute=attribute))
    if star and outputs:
        raise unsupported("* together with other columns")
    group_by = [
        _attribute(g, table) for g in (node.args["group"].expressions if node.args.get("group") else [])
    ]
    if star and (group_by or any(o.aggregate for o in outputs)):
        raise unsupported("* with GROUP BY")
    order: list[tuple[str, bool]] = []
    if node.args.get("order"):
        names = {o.name for o in outputs}
        for term in node.args["order"].expressions:
            target = term.this
            if isinstance(target, exp.Column) and not target.table and target.name in names:
                order.append((str(target.name), bool(term.args.get("desc"))))
            else:
                order.append((_attribute(target, table), bool(term.args.get("desc"))))
    distinct = node.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        raise unsupported("DISTINCT ON")
    return SelectPlan(
        table=table,
        star=star,
        outputs=outputs,
        where=_where(node.args.get("where"), table),
        order=order,
        limit=_count(node.args.get("limit"), "LIMIT"),
        offset=_count(node.args.get("offset"), "OFFSET") or 0,
        group_by=group_by,
        distinct=distinct is not None,
    )


def _count(node: Any, clause: str) -> int | None:
    if node is None:
        return None
    value = literal(node.expression)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SqlError(f"{clause} must be a non-negative integer")
    return value


# -- INSERT / UPDATE / DELETE -------------------------------------------------------------


def _insert(node: exp.Insert) -> InsertPlan:
    _extra_args(node, {"this", "expression", "into"})
    target = node.this
    if not isinstance(target, exp.Schema) or not target.expressions:
        raise unsupported("INSERT without a column list")
    table = _table(target)
    columns = [str(c.name) for c in target.expressions]
    values = node.expression
    if not isinstance(values, exp.Values):
        raise unsupported("INSERT … SELECT")
    rows: list[list[Any]] = []
    for row in values.expressions:
        cells = row.expressions if isinstance(row, exp.Tuple) else [row]
        if len(cells) != len(columns):
            raise SqlError(f"INSERT has {len(columns)} columns but a row of {len(cells)} values")
        row_values: list[Any] = []
        for column, cell in zip(columns, cells, strict=True):
            try:
                row_values.append(literal(cell))
            except InexactNumber as exc:
                raise exc.at(f"of column '{column}' in row {len(rows) + 1}") from None
        rows.append(row_values)
    return InsertPlan(table, columns, rows)


def _update(node: exp.Update) -> UpdatePlan:
    _extra_args(node, {"this", "expressions", "where"})
    table = _table(node.this)
    assignments: dict[str, Any] = {}
    for item in node.expressions:
        if not isinstance(item, exp.EQ):
            raise unsupported(f"assignment {_shown(item)}")
        attribute = _attribute(item.this, table)
        try:
            assignments[attribute] = literal(item.expression)
        except InexactNumber as exc:
            raise exc.at(f"of column '{attribute}'") from None
    return UpdatePlan(table, assignments, _where(node.args.get("where"), table))


def _delete(node: exp.Delete) -> DeletePlan:
    _extra_args(node, {"this", "where"})
    table = _table(node.this)
    return DeletePlan(table, _where(node.args.get("where"), table))


# -- WHERE ----------------------------------------------------------------------------


def comparable(a: Any, b: Any) -> bool:
    """Whether two values compare (numbers with numbers, strings with strings, booleans with booleans)."""
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb
    if ta in (int, float):
        return tb in (int, float)
    return ta is str and tb is str


def _compare(op: str, attribute: str, value: Any) -> Predicate:
    if value is None:
        return lambda record: False  # comparisons with NULL are never true
    tests: dict[str, Callable[[Any], bool]] = {
        "eq": lambda v: v == value,
        "neq": lambda v: v != value,
        "gt": lambda v: v > value,
        "gte": lambda v: v >= value,
        "lt": lambda v: v < value,
        "lte": lambda v: v <= value,
    }
    test = tests[op]

    def predicate(record: dict[str, Any]) -> bool:
        current = record.get(attribute)
        return current is not None and comparable(current, value) and test(current)

    return predicate


_FLIP = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte", "eq": "eq", "neq": "neq"}
_OPS: dict[type, str] = {
    exp.EQ: "eq",
    exp.NEQ: "neq",
    exp.GT: "gt",
    exp.GTE: "gte",
    exp.LT: "lt",
    exp.LTE: "lte",
}


def _like(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise SqlError("LIKE needs a string pattern")
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _predicate(node: Any, table: TableRef) -> Predicate:
    if isinstance(node, exp.Paren):
        return _predicate(node.this, table)
    if isinstance(node, exp.And | exp.Or):
        left, right = _predicate(node.this, table), _predicate(node.expression, table)
        if isinstance(node, exp.And):
            return lambda r: left(r) and right(r)
        return lambda r: left(r) or right(r)
    if isinstance(node, exp.Not):
        inner = _predicate(node.this, table)
        return lambda r: not inner(r)
    op = _OPS.get(type(node))
    if op is not None:
        if isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Column):
            raise unsupported(f"condition {_shown(node)} (comparing two columns)")
        if isinstance(node.this, exp.Column):
            return _compare(op, _attribute(node.this, table), literal(node.expression))
        if isinstance(node.expression, exp.Column):
            return _compare(_FLIP[op], _attribute(node.expression, table), literal(node.this))
        raise unsupported(f"condition {_shown(node)}")
    positive = _positive(node, table)
    if node.args.get("negate"):
        return lambda r: not positive(r)
    return positive


def _positive(node: Any, table: TableRef) -> Predicate:
    if isinstance(node, exp.Between):
        attribute = _attribute(node.this, table)
        low, high = literal(node.args["low"]), literal(node.args["high"])
        above, below = _compare("gte", attribute, low), _compare("lte", attribute, high)
        return lambda r: above(r) and below(r)
    if isinstance(node, exp.In):
        if node.args.get("query") or not node.expressions:
            raise unsupported(f"condition {_shown(node)}")
        attribute = _attribute(node.this, table)
        tests = [_compare("eq", attribute, literal(v)) for v in node.expressions]
        return lambda r: any(t(r) for t in tests)
    if isinstance(node, exp.Like | exp.ILike):
        attribute = _attribute(node.this, table)
        regex = _like(literal(node.expression))
        return lambda r: isinstance(r.get(attribute), str) and regex.fullmatch(r[attribute]) is not None
    if isinstance(node, exp.Is):
        attribute = _attribute(node.this, table)
        if not isinstance(node.expression, exp.Null):
            raise unsupported(f"condition {_shown(node)}")
        return lambda r: r.get(attribute) is None
    raise unsupported(f"condition {_shown(node)}")


def _index_terms(node: Any, table: TableRef) -> list[tuple[str, list[KeyRange]]]:
    """Index ranges allowed by the top-level AND terms of a WHERE clause."""
    if isinstance(node, exp.Paren):
        return _index_terms(node.this, table)
    if isinstance(node, exp.And):
        return _index_terms(node.this, table) + _index_terms(node.expression, table)
    try:
        op = _OPS.get(type(node))
        if op is not None and op != "neq":
            if isinstance(node.this, exp.Column):
                attribute, value = _attribute(node.this, table), literal(node.expression)
            elif isinstance(node.expression, exp.Column):
                attribute, value, op = _attribute(node.expression, table), literal(node.this), _FLIP[op]
            else:
                return []
            return [(attribute, [_range(op, value)])] if _indexable(value) else []
        if isinstance(node, exp.Between) and not node.args.get("negate"):
            low, high = literal(node.args["low"]), literal(node.args["high"])
            if _indexable(low) and _indexable(high) and comparable(low, high):
                return [(_attribute(node.this, table), [KeyRange(lower=low, upper=high)])]
        if isinstance(node, exp.In) and not node.args.get("negate") and not node.args.get("query"):
            values = [literal(v) for v in node.expressions]
            if values and all(_indexable(v) for v in values):
                return [(_attribute(node.this, table), [KeyRange(equals=v, has_equals=True) for v in values])]
    except SqlError:
        return []
    return []


def _indexable(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        K.encode_key(value)
    except K.UnencodableKey:
        return False
    return True


def _range(op: str, value: Any) -> KeyRange:
    if op == "eq":
        return KeyRange(equals=value, has_equals=True)
    if op in ("gt", "gte"):
        return KeyRange(lower=value, lower_inclusive=op == "gte")
    return KeyRange(upper=value, upper_inclusive=op == "lte")


def _where(node: Any, table: TableRef) -> Filter:
    if node is None:
        return Filter()
    return Filter(_predicate(node.this, table), _index_terms(node.this, table))
