"""Control characters in names: the one rule for database, table, attribute and file names.

A control character (Unicode category Cc: U+0000 to U+001F and U+007F to U+009F)
in a name cannot be typed, is invisible or rewrites a log line or a header when
shown, and a NUL ends the name for C code. Every place a name enters the store
refuses it: attributes first seen in written records (the storage backend), the
name fields of operations (``gateway.fields``), import models and the batch
API's file names (``gateway.imports``).
"""

from __future__ import annotations

import re

CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_NAME_LENGTH = 250
"""The longest database, table or attribute name the operations accept."""
FORBIDDEN_IN_NAMES = frozenset("/`")
"""Characters a database, table or attribute name given to an operation may not hold (HarperDB's rule)."""


def control_character(text: str) -> str | None:
    """``U+XXXX`` of the first control character in ``text``, or None when it has none."""
    found = CONTROL_CHARACTER.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def shown(text: str) -> str:
    """``text`` in double quotes with each control character written ``\\uXXXX`` (safe to print)."""
    return '"' + CONTROL_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + '"'


def name_problem(text: str, what: str) -> str | None:
    """``<what> "<text>" contains a control character (U+XXXX)``, or None for an acceptable name."""
    code = control_character(text)
    return None if code is None else f"{what} {shown(text)} contains a control character ({code})"
