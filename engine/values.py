"""Shared pieces of the value conversion pipeline (spec §6.1–§6.2).

``input → mapInputValue → filters (in order) → data type → stored value | UNDEFINED``.
The pipeline of each value instruction is generated inline (see
:meth:`engine.instructions.common.ValueSlot.emit_convert`):

* ``mapInputValue``: the input's JavaScript string form is looked up among the
  mapping's own keys (§11 #18); a miss takes ``mapInputValueDefault`` if present,
  else passes the value through.
* Ours: a filter that yields ``UNDEFINED`` ends the pipeline (later filters do not
  see it); Haplo would pass ``undefined`` on, which can only fail or stay undefined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Converter = Callable[[Any], Any]

MISSING: Any = object()
"""Marker for "no such key" in mapping look-ups."""
