"""Time stamps as the gateway writes and reads them.

- :func:`iso_now`: now as ISO 8601 UTC with milliseconds (``2026-11-23T00:22:51.026Z``);
- :func:`epoch_ms` / :func:`iso_ms`: whole epoch milliseconds (HarperDB's job times) and their ISO form;
- :func:`parse_iso_ms`: the dates of job searches and ``delete_records_before``. Accepted:
  ``2021-01-25``, ``2021-01-25T23:05``, ``2021-01-25T23:05:27``, with an optional fraction
  and an optional zone (``Z``, ``+01:00``, ``+0100``, below 24 hours); no zone means UTC. ``T`` and
  ``Z`` may be lower case and a space may stand for ``T``, so every RFC 3339 date and date-time is
  accepted but for a leap second.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any


def iso_now() -> str:
    """Current UTC time as ISO-8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms() -> int:
    """Now, in whole epoch milliseconds (HarperDB's job datetimes)."""
    return int(time.time() * 1000)


def iso_ms(ms: int | float) -> str:
    """Epoch milliseconds as ``2026-11-23T00:22:51.026Z``."""
    moment = datetime.fromtimestamp(ms / 1000.0, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_iso_ms(text: Any) -> float | None:
    """Epoch milliseconds of an ISO 8601 date or datetime string; None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC
    try:
        if zone and zone not in "Zz":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            tz = timezone(offset if zone[0] == "+" else -offset)  # ValueError from 24 hours on
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micros,
            tzinfo=tz,
        )
    except ValueError:
        return None
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1)
