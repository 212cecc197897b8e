"""Readers (spec §3): json, jsonl, tsv-with-name-row, csv, xml-text-of-children, xml-attributes."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pytest

from engine import READERS, BatchError, BatchFile
from engine.readers import base
from tests.engine.fakes import memory_file
from tests.engine.helpers import use_small_chunks


def read(reader: str, data: bytes | str, spec: Mapping[str, Any] | None = None, name: str = "f") -> list[Any]:
    """Both passes: check, then records."""
    instance = READERS[reader](memory_file(name, data), {"read": reader, **(spec or {})})
    instance.check()
    return list(instance.records())


def fails(reader: str, data: bytes | str, spec: Mapping[str, Any] | None = None, name: str = "f") -> str:
    instance = READERS[reader](memory_file(name, data), {"read": reader, **(spec or {})})
    with pytest.raises(BatchError) as info:
        instance.check()
    return info.value.message


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pieces and no keeping, so both passes and every cut path run on small data."""
    use_small_chunks(monkeypatch)


# -- json ---------------------------------------------------------------------------


def test_json_array_of_records_any_values() -> None:
    assert read("json", '[{"a":1},{"b":[2.0,null]},"x",3]') == [{"a": 1}, {"b": [2.0, None]}, "x", 3]
    assert read("json", " \n[ ] ") == []


def test_json_bom_is_ignored() -> None:
    assert read("json", b'\xef\xbb\xbf[{"a":"\xc3\xa9"}]') == [{"a": "é"}]


def test_json_single_record() -> None:
    assert read("json", '{"abc":453,"n":{"a":1}}', {"singleRecord": True}) == [{"abc": 453, "n": {"a": 1}}]
    assert read("json", "[1,2]", {"singleRecord": True}) == [[1, 2]]


def test_json_top_level_must_be_an_array() -> None:
    message = "JSON file people must contain an array of records (or use singleRecord)"
    assert fails("json", '{"a":{"b":1}}', name="people") == message
    assert fails("json", '"abc"', name="people") == message
    assert fails("json", "12", name="people") == message


def test_json_malformed_fails_in_check() -> None:
    assert fails("json", '[{"a":1},{"b":}]', name="p").startswith("JSON file p is not valid JSON: ")
    assert fails("json", "").startswith("JSON file f is not valid JSON")
    assert fails("json", '{"a":').startswith("JSON file f is not valid JSON")
    assert fails("json", "[1,2,]").startswith("JSON file f is not valid JSON")
    assert fails("json", "[NaN]").startswith("JSON file f is not valid JSON")
    assert fails("json", b'["\xff"]').startswith("JSON file f is not valid JSON")
    assert fails("json", "[1] x").startswith("JSON file f is not valid JSON")


def test_json_errors_name_line_column_and_record() -> None:
    prefix = "JSON file p is not valid JSON: "
    text = '[{"a": 1},\n {"a": "ééé" x},\n {"a": 3}]'
    assert (
        fails("json", text, name="p")
        == prefix + "line 2, column 14, record 2: unexpected character, expected ',' or '}'"
    )
    assert (
        fails("json", "[1,\n2,\n]", name="p")
        == prefix + "line 2, column 2, record 2: trailing comma is not allowed"
    )
    assert (
        fails("json", '\ufeff[{"a":1},{"b":}]', name="p")
        == prefix + "line 1, column 15, record 2: unexpected character, expected a JSON value"
    )
    assert (
        fails("json", '{"a":\n  }', {"singleRecord": True}, name="p")
        == prefix + "line 2, column 3: unexpected character, expected a JSON value"
    )


@pytest.mark.usefixtures("small_chunks")
def test_json_errors_in_a_later_piece_count_lines_and_records_of_the_whole_file() -> None:
    good = json.dumps([{"a": i, "t": "é"} for i in range(40)], indent=1, ensure_ascii=False)
    lines = good.count("\n") + 1
    message = fails("json", good[:-1] + ', {"bad": ]\n]', name="p")
    assert (
        message
        == f"JSON file p is not valid JSON: line {lines}, column 11, record 41: unexpected character, expected a JSON value"
    )
    message = fails("json", good[:-1] + ",\n]", name="p")
    assert (
        message
        == f"JSON file p is not valid JSON: line {lines}, column 1, record 40: trailing comma is not allowed"
    )


def test_json_integers_beyond_64_bits_are_numbers() -> None:
    assert read("json", "[123456789012345678901234567890, 5]") == [1.2345678901234568e29, 5]


@pytest.mark.usefixtures("small_chunks")
def test_json_pieces_with_awkward_content() -> None:
    records: list[Any] = [
        {"text": "a },{ b", "n": i, "nested": {"list": [{"x": 1}, {"y": "},{"}]}} for i in range(30)
    ]
    records += ["plain string, with comma", 5, [1, [2, {"z": ","}]], {"é": "ü€"}, None, True]
    for separators in ((",", ":"), (", ", ": ")):
        data = json.dumps(records, separators=separators, ensure_ascii=False)
        assert read("json", data) == records
    assert read("json", json.dumps(records, indent=2, ensure_ascii=False)) == records


@pytest.mark.usefixtures("small_chunks")
def test_json_pieces_arrays_of_scalars_and_one_huge_element() -> None:
    numbers = list(range(200))
    assert read("json", json.dumps(numbers)) == numbers
    huge = [{"big": "x" * 1000}, {"a": 1}]
    assert read("json", json.dumps(huge)) == huge


@pytest.mark.usefixtures("small_chunks")
def test_json_error_in_a_later_piece_fails_the_check() -> None:
    good = json.dumps([{"a": i} for i in range(40)])
    assert fails("json", good[:-1] + ',{"bad":]').startswith("JSON file f is not valid JSON")
    assert fails("json", good[:-1] + ",]").startswith("JSON file f is not valid JSON")
    assert fails("json", good[:-1] + ',{"b":"\\x"}]').startswith("JSON file f is not valid JSON")


@pytest.mark.usefixtures("small_chunks")
def test_json_element_far_longer_than_a_piece_is_searched_a_logarithmic_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An element of 40,000 bytes read 64 bytes at a time: cut searches double the buffer each time."""
    from engine.readers import json_array

    searches: list[int] = []
    find_cut = json_array.ArrayPieces._find_cut  # noqa: SLF001

    def counted(self: Any, buf: bytes, offset: int) -> Any:
        searches.append(len(buf))
        return find_cut(self, buf, offset)

    monkeypatch.setattr(json_array.ArrayPieces, "_find_cut", counted)
    big = {"items": [{"k": i, "tags": ["a", {"n": i}]} for i in range(1500)]}
    records = [big, {"a": 1}, big]
    assert read("json", json.dumps(records, indent=1)) == records
    assert len(json.dumps(big, indent=1)) > 40_000
    assert len(searches) < 40  # one search per 64-byte read would be over 1,000


def test_json_large_file_is_not_kept_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "KEEP_LIMIT", 10)
    opened = []
    data = json.dumps([{"a": i} for i in range(10)]).encode()

    def counting_open() -> Any:
        opened.append(1)
        return io.BytesIO(data)

    reader = READERS["json"](BatchFile("f", counting_open, len(data)), {"read": "json"})
    reader.check()
    assert len(opened) == 1
    assert [r["a"] for r in reader.records()] == list(range(10))
    assert len(opened) == 2


# -- jsonl --------------------------------------------------------------------------


def test_jsonl() -> None:
    assert read("jsonl", b'\xef\xbb\xbf{"a":1}\r\n\n  \n[2]\n"x"') == [{"a": 1}, [2], "x"]
    assert fails("jsonl", '{"a":1}\n{"a":\n', name="lines").startswith(
        "JSONL file lines line 2 is not valid JSON: "
    )


# -- tsv ----------------------------------------------------------------------------


def test_tsv_header_cells_and_line_breaks() -> None:
    data = "ID\tVALUE\tX\r\n1234\tPING\r\n\r\n654\tPONG\tY\r\n77\t\tZ\textra\n"
    assert read("tsv-with-name-row", data) == [
        {"ID": "1234", "VALUE": "PING"},
        {"ID": "654", "VALUE": "PONG", "X": "Y"},
        {"ID": "77", "X": "Z"},
    ]


def test_tsv_cr_only_bom_and_untrimmed_values() -> None:
    data = '\ufeffa\tb \r x \t"q"\r'
    assert read("tsv-with-name-row", data) == [{"a": " x ", "b ": '"q"'}]


def test_tsv_literal_multi_character_separator_and_charset() -> None:
    data = b"a, b|c\r\n1, 2|3, x\n"
    assert read("tsv-with-name-row", data, {"separator": ", "}) == [{"a": "1", "b|c": "2|3"}]
    assert read("tsv-with-name-row", "a.*b\n1.*2\n", {"separator": ".*"}) == [{"a": "1", "b": "2"}]
    latin = "name\ncaf\xe9 \u20ac\n".encode("windows-1252")
    assert read("tsv-with-name-row", latin, {"charset": "windows-1252"}) == [{"name": "café €"}]


def test_tsv_errors() -> None:
    assert (
        fails("tsv-with-name-row", b"a\n\xff\n", name="t")
        == "File t could not be decoded as utf-8: invalid start byte"
    )
    assert (
        fails("tsv-with-name-row", "a\n", {"charset": "klingon"}, name="t")
        == "Unknown charset for file t: klingon"
    )
    assert fails("tsv-with-name-row", "a\n", {"separator": ""}, name="t") == "Invalid separator for file t"


@pytest.mark.usefixtures("small_chunks")
def test_tsv_streaming_across_chunks() -> None:
    rows = "".join(f"v{i}\tw{i}\r\n" for i in range(50))
    data = ("é\tb\r\n" + rows).encode("utf-8")
    records = read("tsv-with-name-row", data)
    assert len(records) == 50
    assert records[49] == {"é": "v49", "b": "w49"}


# -- csv ----------------------------------------------------------------------------


def test_csv_rfc_4180() -> None:
    data = '\ufeffname,quote,n\r\n"Smith, J","say ""hi""\nthere",1\r\n\r\nx,,\r\n'
    assert read("csv", data) == [{"name": "Smith, J", "quote": 'say "hi"\nthere', "n": "1"}, {"name": "x"}]
    assert read("csv", "a;b\n1;2\n", {"separator": ";"}) == [{"a": "1", "b": "2"}]


def test_csv_errors() -> None:
    assert fails("csv", 'a,b\n"x"y,1\n', name="c").startswith("CSV file c could not be read: ")
    assert (
        fails("csv", "a\n", {"separator": "::"}, name="c")
        == "CSV separator for file c must be a single character"
    )
    assert fails("csv", b"a\n\xff\n", name="c") == "File c could not be decoded as utf-8: invalid start byte"


# -- xml ----------------------------------------------------------------------------


def test_xml_text_of_children() -> None:
    data = (
        "<root> <v/> <v> <x>PING</x> <y>PONG</y> </v> <v> <hello>world</hello> </v> text <!-- c --> </root>"
    )
    assert read("xml-text-of-children", data) == [{}, {"x": "PING", "y": "PONG"}, {"hello": "world"}]


def test_xml_text_is_all_descendant_text_untrimmed_last_child_wins() -> None:
    data = (
        '<r><rec a="ignored">direct text<p:x xmlns:p="u"> A <b>B</b><![CDATA[<C>]]></p:x>'
        "<y>1</y><y>2</y><z/></rec><rec>just text</rec></r>"
    )
    assert read("xml-text-of-children", data) == [{"x": " A B<C>", "y": "2", "z": ""}, {}]


def test_xml_single_record_and_root_element() -> None:
    data = "<?xml version='1.0'?><!-- comment first --><?pi x?><root><a>1</a><b>2</b></root>"
    assert read("xml-text-of-children", data, {"singleRecord": True}) == [{"a": "1", "b": "2"}]
    assert read("xml-text-of-children", "<root/>") == []


def test_xml_charset_from_declaration() -> None:
    data = '<?xml version="1.0" encoding="windows-1252"?><r><v><n>caf\xe9 \u20ac</n></v></r>'.encode(
        "windows-1252"
    )
    assert read("xml-text-of-children", data) == [{"n": "café €"}]


def test_xml_attributes() -> None:
    data = '<root> <v/> <something a="b" def="abc"/> <else hello="world"><x q="1"/></else> </root>'
    assert read("xml-attributes", data) == [{}, {"a": "b", "def": "abc"}, {"hello": "world"}]
    single = '<root xmlns:p="urn:x" p:a="b2" def="abc2"><c d="e"/></root>'
    assert read("xml-attributes", single, {"singleRecord": True}) == [
        {"xmlns:p": "urn:x", "p:a": "b2", "def": "abc2"}
    ]


def test_xml_entities_and_malformed_documents_fail() -> None:
    bomb = '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r><v><x>&b;</x></v></r>'
    assert fails("xml-text-of-children", bomb, name="x").startswith(
        "XML file x could not be parsed: EntitiesForbidden"
    )
    external = '<!DOCTYPE r SYSTEM "http://example.org/x.dtd"><r/>'
    assert fails("xml-attributes", external, name="x").startswith(
        "XML file x could not be parsed: ExternalReferenceForbidden"
    )
    assert fails("xml-attributes", "<r><v></r>", name="x").startswith("XML file x could not be parsed: ")
    assert fails("xml-attributes", "", name="x").startswith("XML file x could not be parsed: ")


@pytest.mark.usefixtures("small_chunks")
def test_xml_streaming_across_chunks() -> None:
    data = "<root>" + "".join(f'<v n="{i}"><t>text {i}</t></v>' for i in range(40)) + "</root>"
    assert read("xml-attributes", data)[39] == {"n": "39"}
    assert read("xml-text-of-children", data)[39] == {"t": "text 39"}
