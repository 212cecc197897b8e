"""CSV cell casting as harper-answers.md records it, and the column fast paths agreeing with it."""

from __future__ import annotations

import random

import pytest

from gateway.bulk.casting import cast_cell, cast_column

RECORDED = [
    ("42", 42),
    ("3.14", 3.14),
    (" 5 ", 5),
    ("+3", 3),
    (".5", 0.5),
    ("1.0", 1),
    ("-0.5", -0.5),
    ("007", "007"),
    ("0x10", "0x10"),
    ("1e3", "1e3"),
    ("1.5E-2", "1.5E-2"),
    ("NaN", None),
    # Deviation: HarperDB rounds these to 12345678901234567000 and 9007199254740992; beyond ±2**53
    # a double cannot hold them exactly, so they stay the strings they are (gateway.storage.numbers).
    ("12345678901234567890", "12345678901234567890"),
    ("9007199254740993", "9007199254740993"),
    ("true", True),
    ("false", False),
    ("TRUE", True),
    ("null", None),
    ("NULL", None),
    ("undefined", None),
    ("", ""),
    (" ", " "),
    ("hello, world", "hello, world"),
    ('"quoted"', '"quoted"'),
    ("[1,2]", "[1,2]"),
    ('{"a":1}', '{"a":1}'),
    ("2024-01-15", "2024-01-15"),
    ("01/02/2024", "01/02/2024"),
    ("2024-01-15T10:20:30Z", "2024-01-15T10:20:30.000Z"),
    ("2024-01-15T10:20:30.5+02:00", "2024-01-15T08:20:30.500Z"),
    ("2024-13-15T10:20:30Z", "2024-13-15T10:20:30Z"),
    ("0", 0),
    ("-7", -7),
    ("1_000", "1_000"),
    ("5.", "5."),
    ("True", "True"),
]


@pytest.mark.parametrize(("cell", "expected"), RECORDED)
def test_cast_cell_matches_harperdb(cell: str, expected: object) -> None:
    value = cast_cell(cell)
    assert value == expected
    assert type(value) is type(expected)


CELLS = [c for c, _ in RECORDED] + ["12", "0.25", "abc", "City 7", "-3", "99.000", "x\ny"]


@pytest.mark.parametrize("seed", range(40))
def test_cast_column_equals_cell_by_cell(seed: int) -> None:
    rng = random.Random(seed)
    pools = [
        [str(rng.randint(0, 10**6)) for _ in range(50)],
        [f"{rng.random() * 100:.3f}" for _ in range(50)],
        [rng.choice(["true", "false"]) for _ in range(50)],
        [f"20{rng.randint(10, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" for _ in range(50)],
        [rng.choice(["Oslo", "Lima", "Nice"]) for _ in range(50)],
        [rng.choice(CELLS) for _ in range(50)],
    ]
    column = rng.choice(pools)
    if rng.random() < 0.3:
        column[rng.randrange(len(column))] = rng.choice(CELLS)
    fast = list(cast_column(column))
    slow = [cast_cell(c) for c in column]
    assert fast == slow
    assert [type(v) for v in fast] == [type(v) for v in slow]
