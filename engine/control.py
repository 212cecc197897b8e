"""Control file validation (spec §2.2): five checks, in order, at most one message each."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, Final

from engine.filters import FILTERS
from engine.jsvalues import js_string, js_truthy
from engine.processors import RECORD_PROCESSORS
from engine.readers import READERS

REQUIRED_PROPERTIES: Final[Mapping[str, tuple[str, ...]]] = {
    "field": ("source", "destination", "name"),
    "field-structured": ("structured", "destination", "name"),
    "set-value": ("destination", "name", "value"),
    "remove-values": ("destination", "name"),
    "if-exists": ("source",),
    "if-value-one-of": ("source",),
    "if-has-value": ("destination", "name"),
    "within": ("source", "instructions"),
    "for-each": ("source", "instructions"),
    "assert-destination": ("destination", "exists"),
    "abort-record": ("message",),
    "log-error": ("message",),
    "new": ("destination",),
    "load": ("destination", "using"),
}
"""The 14 actions and the properties each requires (checked by presence)."""

NESTED_LISTS: Final[Mapping[str, tuple[str, ...]]] = {
    "if-exists": ("then", "else"),
    "if-value-one-of": ("then", "else"),
    "if-has-value": ("then", "else"),
    "within": ("instructions",),
    "for-each": ("instructions",),
}
"""Nested instruction lists that validation descends into (not ``load.otherwise``)."""

VALUE_ACTIONS: Final = frozenset({"field", "field-structured", "set-value"})
"""Actions whose ``filters`` are validated (Ours: every value instruction, §11 #20)."""

FOR_EACH_OVERWRITE: Final = (
    "Assigning values within for-each without a new/load statement or setting multivalue "
    "property will result in overwritten data"
)


def action_of(instruction: Mapping[str, Any]) -> str:
    """The instruction's action; a missing (or empty) action means ``field``."""
    action = instruction.get("action")
    return js_string(action) if js_truthy(action) else "field"


def missing_properties(instruction: Mapping[str, Any], action: str) -> str | None:
    """``Expected property not found …`` for the action's missing required properties, or None."""
    missing = [p for p in REQUIRED_PROPERTIES[action] if p not in instruction]
    if not missing:
        return None
    return f"Expected property not found in {action} instruction: {', '.join(missing)}"


def validate_control(control: object, model_names: Container[str]) -> list[str]:
    """Validate a parsed control file; the list of messages (empty when valid)."""
    c: Mapping[str, Any] = control if isinstance(control, dict) else {}
    errors: list[str] = []
    if "dataImportControlFileVersion" not in c:
        errors.append("Not a control file")
    elif not _is_zero(c["dataImportControlFileVersion"]):
        errors.append("Bad version of control file, should be 0")

    model = c.get("model")
    if not js_truthy(model):
        errors.append("Control file does not specify model in the model property")
    elif not isinstance(model, str) or model not in model_names:
        errors.append(f"Model not implemented: {js_string(model)}")

    instructions = c.get("instructions")
    if not isinstance(instructions, list):
        errors.append("Control file does not specify processing instructions in the instructions property")
    else:
        problem = _check_list(instructions, None)
        if problem is not None:
            errors.append(problem)

    files = c.get("files")
    if not js_truthy(files):
        errors.append("Control file does not have files property")
    elif isinstance(files, dict):
        problem = None
        for name, spec in files.items():
            read = spec.get("read") if isinstance(spec, dict) else None
            if not js_truthy(read):
                problem = f"Reader not specified for file {name}"
            elif js_string(read) not in READERS:
                problem = f"Unknown reader for file {name}: {js_string(read)}"
        if problem is not None:
            errors.append(problem)

    processor = c.get("recordProcessor")
    if processor is not None and js_string(processor) not in RECORD_PROCESSORS:
        errors.append(
            f"Unknown record processor specified in recordProcessor property: {js_string(processor)}"
        )
    return errors


def _is_zero(value: Any) -> bool:
    return type(value) in (int, float) and value == 0


def _check_list(instructions: Any, loop_targets: list[str] | None) -> str | None:
    """First problem in an instruction list; ``loop_targets`` is the enclosing for-each body's list."""
    if not isinstance(instructions, list):
        return None
    for instruction in instructions:
        problem = _check_one(instruction if isinstance(instruction, dict) else {}, loop_targets)
        if problem is not None:
            return problem
    return None


def _check_one(instruction: Mapping[str, Any], loop_targets: list[str] | None) -> str | None:
    action = action_of(instruction)
    if action not in REQUIRED_PROPERTIES:
        return f"Unknown action in instruction: {action}"
    problem = missing_properties(instruction, action)
    if problem is not None:
        return problem
    if loop_targets is not None:
        destination = js_string(instruction.get("destination"))
        if action in ("new", "load"):
            loop_targets.append(destination)
        elif (
            action in VALUE_ACTIONS
            and "load" not in destination
            and not js_truthy(instruction.get("multivalue"))
            and destination not in loop_targets
        ):
            return FOR_EACH_OVERWRITE
    if action in VALUE_ACTIONS and "filters" in instruction:
        problem = _check_filters(instruction["filters"])
        if problem is not None:
            return problem
    for key in NESTED_LISTS.get(action, ()):
        inner = [] if action == "for-each" else loop_targets
        problem = _check_list(instruction.get(key), inner)
        if problem is not None:
            return problem
    return None


def _check_filters(filters: Any) -> str | None:
    if not isinstance(filters, list):
        return "'filters' property is not an array"
    for name in filters:
        if js_string(name) not in FILTERS:
            return f"Filter {js_string(name)} is not available."
    return None
