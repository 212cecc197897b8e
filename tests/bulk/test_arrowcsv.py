"""The pyarrow fast path of CSV file loads gives exactly what the Python path gives."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from gateway.bulk.arrowcsv import _checked_blocks, agrees, arrow_parts, cast_typed, lines_agree
from gateway.bulk.arrowencode import python_columns
from gateway.bulk.casting import cast_column
from gateway.bulk.csvsource import text_blocks
from gateway.bulk.loader import LoadFailed, load_csv, load_parts
from gateway.bulk.prepare import Part, prepare
from gateway.jobs.progress import Progress
from gateway.storage.records import AttributeInfo
from gateway.storage.rocksdb import open_rocksdb
from tests.bulk.test_casting import RECORDED

TRICKY = [cell for cell, _ in RECORDED] + [
    "-0",
    "-12",
    "0.0",
    "2.50",
    "-3.000",
    "1.0000000000000001",
    "123456789012345",
    "1234567890123456",
    "2024-01-15T10:20:30+02:00",
    "2024-13-45T10:20:30Z",
    "\u00a05",
    "\u00e9t\u00e9",
    'say "hi"',
    "a,b",
    "False",
    "undefined",
    "",
]


def cast_array(array: Any) -> Any:
    """``cast_typed`` as the Python values the per-value path would hold."""
    return python_columns([cast_typed(array)])[0]


def _same(a: Any, b: Any) -> bool:
    return orjson.dumps(a) == orjson.dumps(b)


@pytest.mark.parametrize(
    "cells",
    [
        [str(i) for i in range(-50, 50)],
        [f"{i / 7:.3f}" for i in range(100)],
        ["1.0", "2.5", "3.00", "-0.0"],
        ["true", "false", "true"],
        ["true", "TRUE", "null", "x"],
        ["2024-01-15", "1999-12-31"],
        ["2024-01-15", "2024-01-15T10:20:30Z"],
        ["Ada", "Alan", "", "Grace"],
        ["007", "7"],
        ["1", ""],
        ["12", "+3", " 5 "],
        TRICKY,
    ],
)
def test_cast_array_matches_cast_column(cells: list[str]) -> None:
    assert _same(cast_array(pa.array(cells, pa.string())), cast_column(cells))


def test_cast_array_matches_cast_column_on_random_columns() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pool = rng.sample(TRICKY, rng.randint(1, 6))
        cells = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        assert _same(cast_array(pa.array(cells, pa.string())), cast_column(cells)), cells


def _quote(cell: str) -> str:
    if any(c in cell for c in ',"\r\n') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _write(path: Path, rows: int, tail: str = "", seed: int = 3) -> Path:
    """A CSV of ``rows`` rows mixing uniform columns and columns of tricky cells."""
    rng = random.Random(seed)
    lines = ["id,name,city,age,score,flag,tricky,note"]
    for i in range(1, rows + 1):
        tricky = rng.choice(TRICKY) if i % 500 < 5 else f"t{i % 13}"
        cells = [
            str(i),
            f"Ada {i}",
            f"City {i % 7}",
            str(18 + i % 50),
            f"{rng.random() * 100:.3f}",
            "true" if i % 3 else "false",
            tricky,
            f"note {i}, with a comma",
        ]
        lines.append(",".join(map(_quote, cells)))
    path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8", newline="")
    return path


def _python_parts(path: Path) -> list[Part]:
    with open(path, "rb") as handle:
        return list(prepare(text_blocks(handle.read)))


def _arrow_parts(path: Path) -> list[Part]:
    with open(path, "rb") as handle:
        parts = arrow_parts(handle, Progress(), min_bytes=0)
        assert parts is not None
        return list(parts)


def _records(parts: list[Part]) -> Iterator[tuple[Any, ...]]:
    for part in parts:
        if part.typed is not None:
            yield from zip(*python_columns(part.typed), strict=True)
        elif part.columns is not None:
            yield from zip(*part.columns, strict=True)
        elif part.rows:
            yield from map(tuple, part.rows)


def test_arrow_parts_give_the_python_records(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", 30_000)
    with open(path, "rb") as handle:
        assert agrees(handle)
    fast, slow = _arrow_parts(path), _python_parts(path)
    assert sum(1 for _ in _records(fast)) == 30_000
    assert _same(list(_records(fast)), list(_records(slow)))
    assert [p.error for p in fast if p.error] == []


@pytest.mark.parametrize(
    "text",
    [
        'a,b\n1,"x"y\n',  # character after a closing quote
        'a,b\n1,"x\n',  # unterminated quote
        "a,b\n1,2\n\n3,4\n",  # blank line
        'a,b\n1,"x\ny"\n',  # line end in a quoted cell
        'a,b\n1,x"y\n',  # quote inside an unquoted cell
        "a,b\n1,\x00\n",
        "\na,b\n1,2\n",
        "a,b\r\n1,2\r\n\r\n3,4\r\n",  # blank line between CRLF lines
        "a,b\n1,2\n\r\n3,4\n",
    ],
)
def test_files_the_readers_may_disagree_on_go_to_the_python_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode())
    with open(path, "rb") as handle:
        assert not agrees(handle)
        assert arrow_parts(handle, Progress(), min_bytes=0) is None


@pytest.mark.parametrize(
    ("tail", "raw"),
    [
        ("1,2,3\n", b""),  # short row: the Python path keeps it
        ("1,2,3,4,5,6,7,8,9\n", b""),  # too many cells: an error naming the row
        ("", b"9999999,x,y,1,2,true,t,\xff\xfe\n"),  # invalid UTF-8
    ],
)
def test_errors_late_in_the_file_hand_over_to_the_python_path(tmp_path: Path, tail: str, raw: bytes) -> None:
    path = _write(tmp_path / "e.csv", 25_000, tail + "25002,a,b,1,2,true,t,n\n")
    if raw:
        path.write_bytes(path.read_bytes() + raw)
    fast, slow = _arrow_parts(path), _python_parts(path)
    assert _same(list(_records(fast)), list(_records(slow)))
    assert [p.error for p in fast if p.error] == [p.error for p in slow if p.error]


@pytest.mark.parametrize("text", ['a,b\r\n1,"x, ""y"""\r\n2,\r\n', 'a,b\n1,2\n,\n"",3', "a\n1\n2\n"])
def test_well_formed_files_agree_and_give_the_python_records(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(text.encode())
    with open(path, "rb") as handle:
        assert agrees(handle)
    assert _same(list(_records(_arrow_parts(path))), list(_records(_python_parts(path))))


def _stored(path: Path, store_dir: Path, fast: bool, indexed: bool = True) -> tuple[Any, list[Any]]:
    store = open_rocksdb(store_dir)
    try:
        attributes = [AttributeInfo("city", indexed)] if indexed else None
        store.catalog.create_table("d", "t", "id", attributes)
        with open(path, "rb") as handle:
            try:
                if fast:
                    parts = arrow_parts(handle, Progress(), min_bytes=0)
                    assert parts is not None
                    outcome: Any = load_parts(store, "d", "t", parts, "insert", Progress())
                else:
                    blocks = text_blocks(handle.read)
                    outcome = load_csv(store, "d", "t", blocks, "insert", Progress())
            except LoadFailed as exc:
                outcome = str(exc)
        records = [
            {k: v for k, v in r.items() if k not in ("__createdtime__", "__updatedtime__")}
            for r in store.records.scan("d", "t")
        ]
        cities = list(store.records.index_items("d", "t", "city")) if indexed else []
        return outcome, [records, cities]
    finally:
        store.close()


@pytest.mark.parametrize("tail", ["", "1,2,3\n", "7,x,y,1,2,true,t,n\n"])
def test_the_store_holds_the_same_records_either_way(tmp_path: Path, tail: str) -> None:
    path = _write(tmp_path / "s.csv", 12_000, tail)
    fast = _stored(path, tmp_path / "fast", fast=True)
    slow = _stored(path, tmp_path / "slow", fast=False)
    assert fast[0] == slow[0]
    assert _same(fast[1], slow[1])


@pytest.mark.parametrize("tail", ["\n", '99999,"x"y,c,1,2,true,t,n\n', "99999,x,y\n"])
def test_files_that_disagree_after_the_first_block_hand_over_to_the_python_path(
    tmp_path: Path, tail: str
) -> None:
    """The background check finds the odd line while pyarrow reads: the rest comes from the Python path."""
    path = _write(tmp_path / "late.csv", 45_000, tail + "99998,a,b,1,2,true,t,n\n")
    assert path.stat().st_size > (2 << 20)  # more than the first block checked before reading
    with open(path, "rb") as handle:
        assert agrees(handle) == (tail == "99999,x,y\n")  # a short row: pyarrow itself stops
    fast, slow = _arrow_parts(path), _python_parts(path)
    assert _same(list(_records(fast)), list(_records(slow)))
    assert [p.error for p in fast if p.error] == [p.error for p in slow if p.error]


@pytest.mark.parametrize(
    ("block", "agree"),
    [
        (b'a,"b ""c"" d",e\n', True),
        (b'"",""""\n', True),
        (b'"""a",b\r\n', True),
        (b'a,"x"\r', True),
        (b'x\n"a,b\n', False),  # a quoted cell running over a line end
        (b'a""\n', False),  # quotes inside an unquoted cell
        (b'"a"b\n', False),  # a character after the closing quote
        (b"a\r\n\r\nb\n", False),  # a blank line
    ],
)
def test_lines_agree_on_hand_picked_blocks(block: bytes, agree: bool) -> None:
    assert lines_agree(block) == agree


@pytest.mark.parametrize(
    ("text", "agree", "plain"),
    [
        (b'a,b\n1,"x, y"\n2,""\n', True, True),  # quotes only around cells: still plain
        (b"a,b\n1,back\\slash\n", True, False),
        (b"a,b\n1,tab\there\n", True, False),
        (b'a,b\n1,"say ""hi"""\n', True, False),
        (b"a,b\r\n1,2\r\n3,4", True, True),  # no line end after the last line
        (b"a,b\n1,2\r", True, True),
        (b"a,b\n1,\x00\n", False, False),
        (b"a,b\n1,2\n\n", False, False),
    ],
)
def test_checked_blocks_say_whether_the_lines_agree_and_are_plain(
    tmp_path: Path, text: bytes, agree: bool, plain: bool
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(text)
    with open(path, "rb") as handle:
        blocks = list(_checked_blocks(handle.fileno()))
    assert all(ok for _, ok, _ in blocks) == agree
    assert all(clean for _, _, clean in blocks) == plain
    if agree:
        assert blocks[-1][0] == len(text)


def test_checked_blocks_cover_the_file_in_whole_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.csv", 60_000)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        blocks = list(_checked_blocks(handle.fileno()))
    ends = [end for end, _, _ in blocks]
    assert len(blocks) > 1 and ends == sorted(ends) and ends[-1] == size
    data = path.read_bytes()
    assert all(data[end - 1 : end] == b"\n" for end in ends)
    assert all(ok for _, ok, _ in blocks)
