"""The whole-column key encoding and HarperDB type checks of the bulk write paths agree with the per-value ones."""

from __future__ import annotations

import random

import pytest

from gateway.storage import keys as K
from gateway.storage.harper_types import HARPER_TYPES, check_records, columns_types_ok, type_errors, types_ok


@pytest.mark.parametrize(
    "values",
    [
        list(range(1000)),
        [random.Random(1).randint(0, 2**60) for _ in range(500)],
        [-5, 3, 0, -0.0, 2.5],
        [0.0, -0.0, 1e300, 2**53 + 1],
        ["a", "City 001", "é", ""],
        ["nul\x00inside", "b"],
        [1, "1", True, None],
    ],
)
def test_encode_keys_matches_encode_key(values: list[object]) -> None:
    assert K.encode_keys(values) == [K.encode_key(v) for v in values]


def test_encode_keys_refuses_what_encode_key_refuses() -> None:
    with pytest.raises(K.UnencodableKey):
        K.encode_keys([1, float("nan")])


TYPES = {"a": "Int", "s": "String", "f": "Float", "b": "Boolean", "d": "Date", "l": "Long", "i": "ID"}


@pytest.mark.parametrize(
    "records",
    [
        [{"a": 1, "s": "x", "f": 1.5, "b": True, "d": "2024-01-01", "l": 2**40, "i": "k"}, {"a": None}],
        [{"a": 1.5}],
        [{"a": 2**31}],
        [{"a": True}],
        [{"s": 5}],
        [{"f": "1"}],
        [{"b": 1}],
        [{"d": "yesterday"}],
        [{"d": 1700000000000}],
        [{"i": 3}, {"i": "x"}],
        [{"i": 2.5}],
        [{"i": 3.0}, {"i": 2**53 + 2}],
        [{"a": 2.0}, {"a": 3}],
        [{"a": float("nan")}],
        [{"a": 2**63}],
        [{"l": -(2**53)}, {"l": 2**53}],
        [{"d": 5}, {"d": "2024-01-01T10:00:00Z"}],
        [{"d": 5}, {"d": "nope"}],
        [{"d": "2024-01-01\n2024-01-02"}],
        [{"s": "x"}, {"s": None}, {"s": ["x"]}],
    ],
)
def test_types_ok_never_accepts_what_check_records_refuses(records: list[dict[str, object]]) -> None:
    strict = check_records(records, TYPES) is None
    assert types_ok(records, TYPES) in ((strict,) if not strict else (True,))


@pytest.mark.parametrize("type_name", sorted(HARPER_TYPES))
def test_one_entry_per_type_serves_value_and_column_checks(type_name: str) -> None:
    samples = [0, 1, 2.5, -(2**40), 2**31, True, "x", "2024-05-06", {"k": 1}, [1], 2**63]
    for value in samples:
        accepted = not type_errors({"v": value}, {"v": type_name})
        assert HARPER_TYPES[type_name].accepts(value) is accepted
        column_ok = columns_types_ok(["v"], [[value, None]], {"v": type_name})
        assert column_ok is accepted or (column_ok is False), (type_name, value)


def test_messages_name_the_type() -> None:
    assert type_errors({"age": "x"}, {"age": "Int"}) == [
        'Value "x" in property age must be an integer (from -2147483648 to 2147483647)'
    ]
    assert type_errors({"when": True}, {"when": "Date"}) == [
        "Value true in property when must be a Date (an ISO 8601 string or epoch milliseconds)"
    ]
    assert type_errors({"anything": {"k": 1}}, {"anything": "Unknown"}) == []
