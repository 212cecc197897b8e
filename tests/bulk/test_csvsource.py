"""Streaming CSV input: blocks cut at line ends, strict UTF-8, errors naming the row and line."""

from __future__ import annotations

import io

import pytest

from gateway.bulk.csvsource import CsvFormatError, CsvRows, text_blocks


def _rows(data: bytes, block: int = 7, chunk: int = 3) -> list[list[str]]:
    blocks = text_blocks(io.BytesIO(data).read, None, block)
    return [row for c in CsvRows(blocks, chunk).chunks() for row in c.rows]


def test_blocks_end_at_line_ends_and_keep_multibyte_characters() -> None:
    data = 'id,name\n1,Zoë\n2,"a\nb"\n3,ünï\n'.encode()
    blocks = list(text_blocks(io.BytesIO(data).read, None, 5))
    assert "".join(blocks) == data.decode()
    assert all(b.endswith("\n") for b in blocks)
    assert _rows(data) == [["id", "name"], ["1", "Zoë"], ["2", "a\nb"], ["3", "ünï"]]


def test_bom_is_dropped_and_crlf_accepted() -> None:
    assert _rows("\ufeffid,x\r\n1,2\r\n".encode()) == [["id", "x"], ["1", "2"]]


def test_invalid_utf8_names_the_row_after_the_good_ones() -> None:
    data = b"id,x\n1,a\n2,b\n3,\xff\n4,d\n"
    got: list[list[str]] = []
    with pytest.raises(CsvFormatError) as caught:
        for chunk in CsvRows(text_blocks(io.BytesIO(data).read, None, 4), 2).chunks():
            got.extend(chunk.rows)
    assert got == [["id", "x"], ["1", "a"], ["2", "b"]]
    assert caught.value.row == 3
    assert "invalid UTF-8 (byte 0xff at byte offset 15)" in str(caught.value)


def test_unterminated_quote_names_the_row_where_it_starts() -> None:
    data = b'id,a,b\n1,x,y\n10,"unterminated,1\n11,2,3\n'
    with pytest.raises(CsvFormatError) as caught:
        _rows(data, block=1 << 20, chunk=100)
    assert str(caught.value) == "unterminated quoted field at CSV row 2 (line 3)"


def test_text_after_a_closing_quote_is_an_error() -> None:
    with pytest.raises(CsvFormatError) as caught:
        _rows(b'a,b\n1,"x"y\n')
    assert str(caught.value) == "unexpected character after a closing quote at CSV row 1 (line 2)"


def test_byte_counts_are_reported() -> None:
    seen: list[int] = []
    data = b"a\n" * 100
    assert "".join(text_blocks(io.BytesIO(data).read, seen.append, 16)) == data.decode()
    assert sum(seen) == len(data)
