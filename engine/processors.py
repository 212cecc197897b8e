"""Record processors (spec §4): optional code that rewrites the list of record sources.

A processor takes the list ``[(file name, records)]`` (one entry per batch file, in
upload order, records being a lazy iterable) and returns a new such list; it may
merge, filter, reorder or rewrite records. There are no built-in processors; a
deployment registers its own in :data:`RECORD_PROCESSORS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

RecordSource = tuple[str, Iterable[Any]]
RecordProcessor = Callable[[list[RecordSource]], list[RecordSource]]

RECORD_PROCESSORS: dict[str, RecordProcessor] = {}
"""Registered record processors by name; validation accepts exactly these names."""
