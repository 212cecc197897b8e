"""Control file validation (spec §2.2): five checks, in order, at most one message each
(after a check of how deeply it nests, :mod:`engine.limits`).

Instructions are checked with the rules of the instruction table
(:data:`engine.instructions.INSTRUCTIONS`), the table compilation uses.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, Final

from engine.compile import action_of, unknown_action
from engine.filters import FILTERS
from engine.instructions import INSTRUCTIONS
from engine.jsvalues import js_string, js_truthy
from engine.limits import CONTROL_TOO_DEEP, MAX_CONTROL_DEPTH, nests_deeper
from engine.models import Model
from engine.processors import RECORD_PROCESSORS
from engine.readers import READERS

FOR_EACH_OVERWRITE: Final = (
    "Assigning values within for-each without a new/load statement or setting multivalue "
    "property will result in overwritten data"
)


def validate_control(control: object, model_names: Container[str]) -> list[str]:
    """Validate a parsed control file; the list of messages (empty when valid).

    Ours: a control file nesting arrays and objects more than
    :data:`~engine.limits.MAX_CONTROL_DEPTH` levels gets that one message.
    """
    if nests_deeper(control, MAX_CONTROL_DEPTH):
        return [CONTROL_TOO_DEEP]
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


def model_warnings(control: Mapping[str, Any], model: Model) -> list[str]:
    """Destinations and Names of a (valid) control file's instructions that ``model`` does not have.

    Haplo checks them only when a batch runs (each is then a setup error); at upload they
    are warnings, with the run's wording. Each message once, in the order found.
    """
    found: dict[str, None] = {}
    _walk_warnings(control.get("instructions"), model, found)
    return list(found)


def _walk_warnings(instructions: Any, model: Model, found: dict[str, None]) -> None:
    for instruction in instructions if isinstance(instructions, list) else ():
        if not isinstance(instruction, dict):
            continue
        action = action_of(instruction)
        entry = INSTRUCTIONS.get(action)
        if entry is None:
            continue
        if "destination" in entry.required:
            raw = instruction.get("destination")
            dest = model.destination(raw)
            if dest is None:
                found[f"Unknown destination in {action}: {js_string(raw)}"] = None
            elif "name" in entry.required and instruction.get("name") not in dest.names:
                name = js_string(instruction.get("name"))
                found[f"Unknown name in {action} {name} for destination {dest.name}"] = None
        for key in (*entry.nested, *(("otherwise",) if action == "load" else ())):
            _walk_warnings(instruction.get(key), model, found)


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
    entry = INSTRUCTIONS.get(action)
    if entry is None:
        return unknown_action(action)
    problem = entry.missing(instruction, action)
    if problem is not None:
        return problem
    if loop_targets is not None:
        destination = js_string(instruction.get("destination"))
        if entry.opens_target:
            loop_targets.append(destination)
        elif (
            entry.value
            and "load" not in destination
            and not js_truthy(instruction.get("multivalue"))
            and destination not in loop_targets
        ):
            return FOR_EACH_OVERWRITE
    if entry.value and "filters" in instruction:
        problem = _check_filters(instruction["filters"])
        if problem is not None:
            return problem
    for key in entry.nested:
        inner = [] if entry.starts_loop else loop_targets
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
