"""Instruction registry (spec §5): action name → compiler.

A compiler takes ``(instruction, action, compiler)`` and returns a step
``(transformation, context) -> None``, or None after reporting a setup error.
"""

from __future__ import annotations

from engine.compile import InstructionCompiler
from engine.instructions.flow import (
    compile_abort_record,
    compile_for_each,
    compile_if_exists,
    compile_if_has_value,
    compile_if_value_one_of,
    compile_log_error,
    compile_within,
)
from engine.instructions.targets import compile_assert_destination, compile_load, compile_new
from engine.instructions.values import (
    compile_field,
    compile_field_structured,
    compile_remove_values,
    compile_set_value,
)

INSTRUCTIONS: dict[str, InstructionCompiler] = {
    "field": compile_field,
    "field-structured": compile_field_structured,
    "set-value": compile_set_value,
    "remove-values": compile_remove_values,
    "if-exists": compile_if_exists,
    "if-value-one-of": compile_if_value_one_of,
    "if-has-value": compile_if_has_value,
    "within": compile_within,
    "for-each": compile_for_each,
    "assert-destination": compile_assert_destination,
    "abort-record": compile_abort_record,
    "log-error": compile_log_error,
    "new": compile_new,
    "load": compile_load,
}
"""The 14 actions; keep in step with :data:`engine.control.REQUIRED_PROPERTIES`."""
