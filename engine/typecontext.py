"""What a data type factory is given (spec §6.4): :class:`TypeContext` and the factory signature.

Below both :mod:`engine.datatypes` (the built-in factories) and :mod:`engine.refmapping`
(the ``ref`` type's ``refMapping`` converters), which share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.models import Model, NameSpec
from engine.ports import TargetStore
from engine.values import Converter


@dataclass(frozen=True, slots=True)
class TypeContext:
    """Everything a type factory may use to build the converter of one instruction."""

    instruction: Mapping[str, Any]
    source_details: str
    name: NameSpec
    model: Model
    report: Callable[[str], None]
    store: TargetStore
    mappings: Mapping[str, Any]


TypeFactory = Callable[[TypeContext], Converter]
"""Builds the converter of one value instruction; raises SetupError when it cannot."""
