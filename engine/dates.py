"""Date parsing with a strict subset of Java's ``SimpleDateFormat`` patterns (spec §6.4.1).

Supported letters: ``y M d H h m s S a E z Z X`` and quoted literals ``'…'``
(``''`` is a literal quote). Any other ASCII letter is rejected when the pattern is
compiled. Unlike Haplo, the whole value must match and the calendar is strict
(``2018-02-30`` is invalid). Without a zone in the pattern times are UTC. The
result is the ISO-8601 UTC form JavaScript produces: ``2018-02-10T00:00:00.000Z``.

Numeric fields take any number of digits, except when a numeric field is directly
followed by another one (``yyyyMMdd``): then it takes exactly as many digits as
pattern letters, as SimpleDateFormat does. ``yy`` with exactly two digits uses
SimpleDateFormat's window (80 years before to 20 years after now).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import SetupError

DateParser = Callable[[str], "str | None"]

_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {n: i for i, name in enumerate(_MONTH_NAMES, 1) for n in (name, name[:3])}
_DAYS = {n: i for i, name in enumerate(_DAY_NAMES) for n in (name, name[:3])}
_NUMERIC = frozenset("yMdHhmsS")
_SUPPORTED = frozenset("yMdHhmsSaEzZX")
_ZONE = r"(Z|[+-]\d{2}(?::?\d{2})?|(?:GMT|UTC)(?:[+-]\d{1,2}(?::?\d{2})?)?)"
_ZONE_PARTS = re.compile(r"(?:GMT|UTC)?(?:([+-])(\d{1,2})(?::?(\d{2}))?)?\Z")


@dataclass(frozen=True, slots=True)
class _Field:
    letter: str
    count: int

    @property
    def numeric(self) -> bool:
        return self.letter in _NUMERIC and not (self.letter == "M" and self.count >= 3)


def _tokenize(pattern: str) -> list[_Field | str]:
    tokens: list[_Field | str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):
                tokens.append("'")
                i += 2
                continue
            j, text = i + 1, []
            while True:
                if j >= n:
                    raise SetupError(f"Unterminated quote in date format: {pattern}")
                if pattern[j] == "'":
                    if pattern.startswith("''", j):
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            tokens.append("".join(text))
            i = j + 1
        elif c.isascii() and c.isalpha():
            if c not in _SUPPORTED:
                raise SetupError(f"Illegal pattern character '{c}' in date format: {pattern}")
            j = i
            while j < n and pattern[j] == c:
                j += 1
            tokens.append(_Field(c, j - i))
            i = j
        else:
            tokens.append(c)
            i += 1
    return tokens


def _field_regex(field: _Field, adjacent: bool) -> str:
    letter, count = field.letter, field.count
    if letter == "M" and count >= 3 or letter == "E":
        return r"([A-Za-z]+)"
    if letter == "a":
        return r"([AaPp][Mm])"
    if letter in "zZX":
        return _ZONE
    if adjacent:
        return rf"(\d{{{count}}})"
    return r"(\d+)"


def compile_date_format(pattern: str) -> DateParser:
    """Compile a SimpleDateFormat pattern into a parser returning ISO UTC text or None."""
    tokens = _tokenize(pattern)
    parts: list[str] = []
    fields: list[_Field] = []
    for index, token in enumerate(tokens):
        if isinstance(token, str):
            parts.append(re.escape(token))
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        adjacent = token.numeric and isinstance(following, _Field) and following.numeric
        parts.append(_field_regex(token, adjacent))
        fields.append(token)
    regex = re.compile("".join(parts))
    century_start = dt.datetime.now(dt.UTC).year - 80

    def parse(value: str) -> str | None:
        match = regex.fullmatch(value)
        if match is None:
            return None
        return _build(fields, match.groups(), century_start)

    return parse


def _build(fields: list[_Field], groups: tuple[str, ...], century_start: int) -> str | None:
    year, month, day = 1970, 1, 1
    hour24: int | None = None
    hour12: int | None = None
    pm: bool | None = None
    minute = second = milli = 0
    weekday: int | None = None
    offset_minutes = 0
    for field, text in zip(fields, groups, strict=True):
        letter = field.letter
        if letter == "y":
            year = int(text)
            if field.count == 2 and len(text) == 2:
                year += century_start // 100 * 100
                if year < century_start:
                    year += 100
        elif letter == "M":
            found = int(text) if field.numeric else _MONTHS.get(text.lower())
            if found is None:
                return None
            month = found
        elif letter == "d":
            day = int(text)
        elif letter == "H":
            hour24 = int(text)
        elif letter == "h":
            hour12 = int(text)
        elif letter == "m":
            minute = int(text)
        elif letter == "s":
            second = int(text)
        elif letter == "S":
            milli = int(text)
        elif letter == "a":
            pm = text.lower() == "pm"
        elif letter == "E":
            weekday = _DAYS.get(text.lower())
            if weekday is None:
                return None
        else:
            zone = _zone_offset(text)
            if zone is None:
                return None
            offset_minutes = zone
    if hour24 is not None:
        if hour24 > 23:
            return None
        hour = hour24
    elif hour12 is not None:
        if not 1 <= hour12 <= 12:
            return None
        hour = hour12 % 12 + (12 if pm else 0)
    else:
        hour = 12 if pm else 0
    if minute > 59 or second > 59 or milli > 999:
        return None
    try:
        local = dt.datetime(year, month, day, hour, minute, second, milli * 1000)
        if weekday is not None and local.weekday() != weekday:
            return None
        utc = local - dt.timedelta(minutes=offset_minutes)
    except (ValueError, OverflowError):
        return None
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{milli:03d}Z"


def _zone_offset(text: str) -> int | None:
    if text == "Z":
        return 0
    match = _ZONE_PARTS.match(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if sign is None:
        return 0
    h, m = int(hours), int(minutes or 0)
    if h > 23 or m > 59:
        return None
    total = h * 60 + m
    return -total if sign == "-" else total
