"""Filters (spec §6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import FILTERS, UNDEFINED, BatchError, Ref
from engine.filters import FilterContext, FilterSet, describe_filters
from tests.engine.fakes import MemoryStore
from tests.engine.helpers import person_model


def make(name: str, store: MemoryStore | None = None) -> Any:
    return FilterSet(FilterContext(person_model(), store or MemoryStore())).get(name)


def test_registry_has_exactly_our_six_filters() -> None:
    assert sorted(FILTERS) == sorted(
        [
            "haplo:string-to-ref",
            "haplo:code-to-ref",
            "haplo:fix-up-url",
            "haplo:to-lower-case",
            "haplo:to-upper-case",
            "haplo:to-string",
        ]
    )
    assert all(entry["description"] for entry in describe_filters())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://haplo.org", "https://haplo.org"),
        ("ftp://example.org", "ftp://example.org"),
        ("eg+x:example.org", "eg+x:example.org"),
        ("//example.org", "//example.org"),
        ("/example.org", "/example.org"),
        ("completely:random-", "completely:random-"),
        ("example.org", "https://example.org"),
        ("example.org/ping", "https://example.org/ping"),
        ("x", "x"),
        ("", ""),
        (5, UNDEFINED),
        (None, UNDEFINED),
    ],
)
def test_fix_up_url(value: Any, expected: Any) -> None:
    assert make("haplo:fix-up-url")(value) == expected


def test_case_filters_pass_non_strings_through() -> None:
    assert make("haplo:to-lower-case")("MiXeD") == "mixed"
    assert make("haplo:to-upper-case")("MiXeD") == "MIXED"
    assert make("haplo:to-lower-case")(5) == 5
    assert make("haplo:to-upper-case")(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, "2"),
        (True, "true"),
        ([1, "a"], "1,a"),
        ({"a": 1}, "[object Object]"),
        ("s", "s"),
        (Ref("k"), "k"),
    ],
)
def test_to_string(value: Any, expected: str) -> None:
    assert make("haplo:to-string")(value) == expected


def test_to_string_of_null_fails_the_batch() -> None:
    with pytest.raises(BatchError, match="^Cannot convert undefined or null to string$"):
        make("haplo:to-string")(None)


def test_string_to_ref() -> None:
    convert = make("haplo:string-to-ref")
    assert convert("p-one") == Ref("p-one")
    assert convert("has space") is UNDEFINED
    assert convert("") is UNDEFINED
    assert convert(5) is UNDEFINED
    assert convert(Ref("x")) == Ref("x")


def test_code_to_ref_finds_oldest_record_in_any_table() -> None:
    store = MemoryStore()
    store.insert("book", {"id": "b1", "code": ["x:one", "x:two"]})
    store.insert("profile", {"id": "p1", "code": "x:two"})
    store.insert("profile", {"id": "p0", "code": "x:one"})
    convert = make("haplo:code-to-ref", store)
    assert convert("x:one") == Ref("b1")
    assert convert("x:two") == Ref("b1")
    assert convert("x:three") is UNDEFINED
    assert convert(3) is UNDEFINED
    assert convert(Ref("r")) == Ref("r")


def test_unknown_filter_fails_the_batch() -> None:
    with pytest.raises(BatchError, match="^no filter defined for name: haplo:username-to-ref$"):
        make("haplo:username-to-ref")


def test_filters_are_created_once_per_batch() -> None:
    filters = FilterSet(FilterContext(person_model(), MemoryStore()))
    assert filters.get("haplo:code-to-ref") is filters.get("haplo:code-to-ref")
