"""The instruction table (spec §2.2, §5): action name → compiler and control-file rules.

Compilation (:class:`engine.compile.Compiler`) and validation
(:func:`engine.control.validate_control`) both read :data:`INSTRUCTIONS`; adding an
action is one compiler function and one entry here.
"""

from __future__ import annotations

from engine.compile import Instruction
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

_BRANCHES = ("then", "else")

INSTRUCTIONS: dict[str, Instruction] = {
    "field": Instruction(compile_field, ("source", "destination", "name"), value=True),
    "field-structured": Instruction(
        compile_field_structured, ("structured", "destination", "name"), value=True
    ),
    "set-value": Instruction(compile_set_value, ("destination", "name", "value"), value=True),
    "remove-values": Instruction(compile_remove_values, ("destination", "name")),
    "if-exists": Instruction(compile_if_exists, ("source",), nested=_BRANCHES),
    "if-value-one-of": Instruction(compile_if_value_one_of, ("source",), nested=_BRANCHES),
    "if-has-value": Instruction(compile_if_has_value, ("destination", "name"), nested=_BRANCHES),
    "within": Instruction(compile_within, ("source", "instructions"), nested=("instructions",)),
    "for-each": Instruction(
        compile_for_each, ("source", "instructions"), nested=("instructions",), starts_loop=True
    ),
    "assert-destination": Instruction(compile_assert_destination, ("destination", "exists")),
    "abort-record": Instruction(compile_abort_record, ("message",)),
    "log-error": Instruction(compile_log_error, ("message",)),
    "new": Instruction(compile_new, ("destination",), opens_target=True),
    "load": Instruction(compile_load, ("destination", "using"), opens_target=True),
}
"""The 14 actions; ``load.otherwise`` is compiled but not validated (it is not in ``nested``)."""
