"""How deeply control files and records may nest arrays and objects.

Deep nesting is refused up front with a message naming the limit, instead of
failing deep inside: Python's recursion limit (validation and compilation walk
nested instructions, values are converted recursively) and the store's encoder
(orjson writes at most 254 levels) both stop far above these limits.

- :data:`MAX_CONTROL_DEPTH`: a control file (the top-level object is level 1).
  Nested instructions take two levels each (the list and the instruction), so a
  control file can nest instructions about 60 deep (compilation would fail near 170).
- :data:`MAX_RECORD_DEPTH`: a record read from a data file (the record is level 1).
  A value copied whole into a ``json`` Name is stored one level deeper and answered
  two levels deeper, well within the 254 levels the store can write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

MAX_CONTROL_DEPTH: Final = 128
MAX_RECORD_DEPTH: Final = 128
CONTROL_TOO_DEEP: Final = f"Control file nests arrays and objects more than {MAX_CONTROL_DEPTH} levels deep"
_ENCODER_DEPTH: Final = 254  # the deepest value orjson.dumps writes


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels (``value`` is level 1).

    Iterative (no recursion, whatever the depth) and stops at the first value too deep.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            children: Any = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return False


def first_too_deep(values: Sequence[Any], limit: int) -> int | None:
    """The index of the first of ``values`` nesting more than ``limit`` levels, or None.

    Fast for the common case: one ``orjson.dumps`` of ``values`` wrapped in as many
    one-element lists as leave exactly ``limit`` levels for each value succeeds when
    none is too deep (about a sixth of the time orjson takes to parse them); only
    when it fails are the values walked one by one.
    """
    wrapped: Any = values
    for _ in range(_ENCODER_DEPTH - limit - 1):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError:  # too deep, or a value orjson cannot write (a lone surrogate, a huge int)
        pass
    else:
        return None
    for index, value in enumerate(values):
        if nests_deeper(value, limit):
            return index
    return None
