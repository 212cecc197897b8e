"""JavaScript value semantics (spec §5.1, §6.2, §6.4)."""

from __future__ import annotations

import pytest

from engine.jsvalues import (
    UNDEFINED,
    Ref,
    copy_json,
    is_present,
    js_number_str,
    js_string,
    js_stringify,
    js_truthy,
    strict_key,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (1.5, "1.5"),
        (453, "453"),
        (-0.0, "0"),
        (0, "0"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-2.5e-10, "-2.5e-10"),
        (1.2345e25, "1.2345e+25"),
        (123.456, "123.456"),
        (12345678901234567890, "12345678901234567000"),
        (2**53, "9007199254740992"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_js_number_str(value: float, text: str) -> None:
    assert js_number_str(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (2.0, "2"),
        ([1, "a", None, [2, 3]], "1,a,,2,3"),
        ({"a": 1}, "[object Object]"),
        (Ref("k1"), "k1"),
        (UNDEFINED, "undefined"),
    ],
)
def test_js_string(value: object, text: str) -> None:
    assert js_string(value) == text


@pytest.mark.parametrize(
    ("value", "truthy", "present"),
    [
        ("", False, False),
        ("x", True, True),
        (0, False, True),
        (0.0, False, True),
        (5, True, True),
        (False, False, False),
        (True, True, True),
        (None, False, False),
        ({}, True, True),
        ([], True, True),
        (UNDEFINED, False, False),
    ],
)
def test_truthiness_and_presence(value: object, truthy: bool, present: bool) -> None:
    assert js_truthy(value) is truthy
    assert is_present(value) is present


def test_strict_key_is_javascript_strict_equality() -> None:
    assert strict_key(1) == strict_key(1.0)
    assert strict_key(1) != strict_key("1")
    assert strict_key(True) != strict_key(1)
    assert strict_key(None) == ("null", None)
    assert strict_key({}) is None
    assert strict_key([]) is None


def test_js_stringify_is_compact_and_ordered() -> None:
    assert js_stringify({"b": 1, "a": [2.0, "x", None, True]}) == '{"b":1,"a":[2,"x",null,true]}'
    assert js_stringify({"é": "ü"}) == '{"é":"ü"}'
    assert js_stringify({}) == "{}"


def test_undefined_is_falsy_singleton() -> None:
    assert not UNDEFINED
    assert type(UNDEFINED)() is UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"


def test_ref_equality_and_copy_json() -> None:
    assert Ref("a") == Ref("a") != Ref("b")
    assert len({Ref("a"), Ref("a")}) == 1
    original = {"a": [1, {"b": [2]}]}
    copied = copy_json(original)
    assert copied == original
    copied["a"][1]["b"].append(3)
    assert original == {"a": [1, {"b": [2]}]}
