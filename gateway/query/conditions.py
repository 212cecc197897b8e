"""Search conditions: parsing of HarperDB's condition objects and matching of records.

A condition is ``{search_attribute, search_type, search_value}`` (or
``attribute``/``comparator``/``value``); a group is ``{operator, conditions}``
and groups nest. Values compare as the index orders them: typed (``5`` and
``"5"`` differ), numbers before strings, and a range bound only matches values
of its own type. An array attribute matches when one of its elements does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import OperationError
from gateway.storage import keys as K
from gateway.storage.records import KeyRange

MAX_DEPTH = 32
MAX_CONDITIONS = 1000

# accepted spellings → canonical comparator
COMPARATORS: dict[str, str] = {
    "equals": "equals",
    "eq": "equals",
    "not_equal": "not_equal",
    "ne": "not_equal",
    "contains": "contains",
    "starts_with": "starts_with",
    "ends_with": "ends_with",
    "greater_than": "greater_than",
    "gt": "greater_than",
    "greater_than_equal": "greater_than_equal",
    "ge": "greater_than_equal",
    "gte": "greater_than_equal",
    "less_than": "less_than",
    "lt": "less_than",
    "less_than_equal": "less_than_equal",
    "le": "less_than_equal",
    "lte": "less_than_equal",
    "between": "between",
}
_STRING_COMPARATORS = ("contains", "starts_with", "ends_with")


@dataclass
class Condition:
    """One comparison of an attribute's value. ``pattern``: a compiled wildcard (search_by_value)."""

    attribute: str
    comparator: str
    value: Any
    pattern: re.Pattern[str] | None = None
    _match: Callable[[Any], bool] | None = field(default=None, repr=False)

    def key_range(self) -> KeyRange | None:
        """The index range that holds every match, or None when the index cannot narrow it."""
        c, v = self.comparator, self.value
        if c == "equals":
            return KeyRange(equals=v, has_equals=True)
        if c == "starts_with":
            return KeyRange(prefix=v)
        if c == "greater_than":
            return KeyRange(lower=v, lower_inclusive=False)
        if c == "greater_than_equal":
            return KeyRange(lower=v)
        if c == "less_than":
            return KeyRange(upper=v, upper_inclusive=False)
        if c == "less_than_equal":
            return KeyRange(upper=v)
        if c == "between":
            return KeyRange(lower=v[0], upper=v[1])
        if c == "wildcard" and self.pattern is not None and isinstance(v, str) and v:
            return KeyRange(prefix=v)
        return None

    def value_matches(self, value: Any) -> bool:
        """Whether one scalar value satisfies the comparison (not_equal: see ``matches``)."""
        if self._match is None:
            self._match = _matcher(self)
        return self._match(value)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether the record satisfies the condition."""
        present = self.attribute in record
        values = K.index_values(record[self.attribute]) if present else []
        if self.comparator == "not_equal":
            return not any(self.value_matches(v) for v in values)
        if self.comparator == "exists":
            return present
        return any(self.value_matches(v) for v in values)


@dataclass
class Group:
    """Conditions joined by ``and`` / ``or``."""

    operator: str
    children: list[Condition | Group]

    def matches(self, record: dict[str, Any]) -> bool:
        if self.operator == "and":
            return all(child.matches(record) for child in self.children)
        return any(child.matches(record) for child in self.children)


def _matcher(condition: Condition) -> Callable[[Any], bool]:
    c, target = condition.comparator, condition.value
    if c in ("equals", "not_equal"):
        wanted = K.encode_key_or_none(target)
        return lambda v: K.encode_key_or_none(v) == wanted
    if c == "starts_with":
        return lambda v: isinstance(v, str) and v.startswith(target)
    if c == "ends_with":
        return lambda v: isinstance(v, str) and v.endswith(target)
    if c == "contains":
        return lambda v: isinstance(v, str) and target in v
    if c == "wildcard":
        pattern = condition.pattern
        assert pattern is not None
        return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None
    if c == "exists":
        return lambda v: True
    key_range = condition.key_range()
    assert key_range is not None
    lower = K.encode_key_or_none(key_range.lower) if key_range.lower is not None else None
    upper = K.encode_key_or_none(key_range.upper) if key_range.upper is not None else None
    bound = lower if lower is not None else upper
    tag = bound[0] if bound else None

    def in_range(value: Any) -> bool:
        encoded = K.encode_key_or_none(value)
        if encoded is None or (tag is not None and encoded[0] != tag):
            return False
        if lower is not None and (encoded < lower or (encoded == lower and not key_range.lower_inclusive)):
            return False
        return not (
            upper is not None and (encoded > upper or (encoded == upper and not key_range.upper_inclusive))
        )

    return in_range


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def parse_condition(raw: Any) -> Condition:
    """One condition object → Condition (400 naming what is wrong)."""
    attribute = raw.get("search_attribute", raw.get("attribute"))
    if not isinstance(attribute, str) or not attribute:
        raise OperationError("each condition needs a 'search_attribute' string")
    comparator_name = raw.get("search_type", raw.get("comparator", "equals"))
    comparator = COMPARATORS.get(comparator_name) if isinstance(comparator_name, str) else None
    if comparator is None:
        shown = comparator_name if isinstance(comparator_name, str) else repr(comparator_name)
        raise OperationError(f'Unknown query comparator "{shown}"')
    if "search_value" not in raw and "value" not in raw:
        raise OperationError(f"the condition on '{attribute}' needs a 'search_value'")
    value = raw.get("search_value", raw.get("value"))
    if comparator == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_scalar(v) for v in value)):
            raise OperationError("'between' needs a 'search_value' array of two values")
        if value[0] is None or value[1] is None:
            raise OperationError("'between' bounds cannot be null")
        if K.encode_key_or_none(value[0]) is None or K.encode_key_or_none(value[1]) is None:
            raise OperationError("'between' bounds must be strings or numbers")
    elif comparator in _STRING_COMPARATORS:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise OperationError(f"'{comparator_name}' needs a string 'search_value'")
        value = value if isinstance(value, str) else str(value)
    elif not _scalar(value) or (value is not None and K.encode_key_or_none(value) is None):
        raise OperationError(f"the condition on '{attribute}' needs a string, number, boolean or null value")
    elif value is None and comparator not in ("equals", "not_equal"):
        raise OperationError(f"'{comparator_name}' cannot compare with null")
    return Condition(attribute, comparator, value)


def parse_operator(raw: Any) -> str:
    if raw is None:
        return "and"
    if not isinstance(raw, str) or raw.lower() not in ("and", "or"):
        raise OperationError("'operator' must be 'and' or 'or'")
    return raw.lower()


def parse_group(conditions: Any, operator: Any, depth: int = 0, budget: list[int] | None = None) -> Group:
    """The ``conditions`` array (and its ``operator``) → Group, nested groups included."""
    budget = budget if budget is not None else [MAX_CONDITIONS]
    if depth > MAX_DEPTH:
        raise OperationError(f"condition groups nest deeper than {MAX_DEPTH} levels")
    if not isinstance(conditions, list):
        raise OperationError("'conditions' must be an array")
    children: list[Condition | Group] = []
    for raw in conditions:
        budget[0] -= 1
        if budget[0] < 0:
            raise OperationError(f"more than {MAX_CONDITIONS} conditions")
        if not isinstance(raw, dict):
            raise OperationError("each condition must be an object")
        if "conditions" in raw:
            children.append(parse_group(raw["conditions"], raw.get("operator"), depth + 1, budget))
        else:
            children.append(parse_condition(raw))
    return Group(parse_operator(operator), children)


def wildcard_condition(attribute: str, value: Any) -> Condition:
    """search_by_value's value: ``*`` (any value), ``Pe*``, ``*er``, ``P*y``; others are equals."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        if _scalar(value):
            return Condition(attribute, "equals", value)
        raise OperationError("'value' must be a string, number, boolean or null")
    if not isinstance(value, str) or "*" not in value:
        if K.encode_key_or_none(value) is None:
            raise OperationError("'value' must be a finite number")
        return Condition(attribute, "equals", value)
    if value.strip("*") == "":
        return Condition(attribute, "exists", None)
    parts = value.split("*")
    pattern = re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)
    return Condition(attribute, "wildcard", parts[0], pattern=pattern)
