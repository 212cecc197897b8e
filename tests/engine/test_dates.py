"""SimpleDateFormat subset, strict and whole-string (spec §6.4.1, §11 #10–11)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.dates import compile_date_format
from engine.errors import SetupError


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("yyyy-MM-dd", "2018-02-10", "2018-02-10T00:00:00.000Z"),
        ("dd/MM/yyyy HH:mm", "25/12/2019 13:45", "2019-12-25T13:45:00.000Z"),
        ("d/M/yyyy", "5/2/2018", "2018-02-05T00:00:00.000Z"),
        ("yyyyMMdd", "20180210", "2018-02-10T00:00:00.000Z"),
        ("yyyyMMddHHmmssSSS", "20180210123456789", "2018-02-10T12:34:56.789Z"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2001-07-04T12:08:56.235-07:00", "2001-07-04T19:08:56.235Z"),
        ("yyyy-MM-dd'T'HH:mm:ssX", "2001-07-04T12:08:56Z", "2001-07-04T12:08:56.000Z"),
        ("EEE, d MMM yyyy HH:mm:ss Z", "Wed, 4 Jul 2001 12:08:56 -0700", "2001-07-04T19:08:56.000Z"),
        ("EEEE d MMMM yyyy", "wednesday 4 JULY 2001", "2001-07-04T00:00:00.000Z"),
        ("hh:mm a", "12:30 PM", "1970-01-01T12:30:00.000Z"),
        ("hh:mm a", "12:30 am", "1970-01-01T00:30:00.000Z"),
        ("h 'o''clock' a, z", "3 o'clock PM, GMT+01:00", "1970-01-01T14:00:00.000Z"),
        ("yyyy-MM-dd HH:mm z", "2020-06-01 10:00 UTC", "2020-06-01T10:00:00.000Z"),
        ("''yyyy", "'0999", "0999-01-01T00:00:00.000Z"),
    ],
)
def test_parses(pattern: str, value: str, expected: str) -> None:
    assert compile_date_format(pattern)(value) == expected


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("yyyy-MM-dd", "2018-02-10T12:00"),
        ("yyyy-MM-dd", "2018-02-30"),
        ("yyyy-MM-dd", "2019-02-29"),
        ("yyyy-MM-dd", "2018-13-01"),
        ("yyyy-MM-dd", " 2018-02-10"),
        ("yyyy-MM-dd", "not a date"),
        ("dd/MM/yyyy HH:mm", "2019-12-25"),
        ("HH:mm", "24:00"),
        ("HH:mm:ss", "10:60:00"),
        ("hh a", "13 PM"),
        ("EEE d MMM yyyy", "Thu 4 Jul 2001"),
        ("MMM", "Smarch"),
        ("yyyy-MM-dd", "0000-01-01"),
    ],
)
def test_strict_whole_string(pattern: str, value: str) -> None:
    assert compile_date_format(pattern)(value) is None


def test_two_digit_years_use_the_sliding_window() -> None:
    now = dt.datetime.now(dt.UTC).year
    parse = compile_date_format("yy-MM-dd")
    soon = (now + 5) % 100
    past = (now - 50) % 100
    assert parse(f"{soon:02d}-01-01") == f"{now + 5}-01-01T00:00:00.000Z"
    assert parse(f"{past:02d}-01-01") == f"{now - 50}-01-01T00:00:00.000Z"
    assert parse("2018-01-01") == "2018-01-01T00:00:00.000Z"


@pytest.mark.parametrize("pattern", ["yyyy-MM-dd k", "D", "'open"])
def test_unsupported_patterns_are_setup_errors(pattern: str) -> None:
    with pytest.raises(SetupError):
        compile_date_format(pattern)
