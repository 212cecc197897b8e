"""Whether running a control file again over the same data is safe (idempotent), decided statically.

Under the commit rules (spec §7.2.5) a loaded target is replaced by the merged
result, and a second run merges the same values again, so records found by their
keys end as they were (unchanged). A second run is therefore safe when every
record it writes is found again: each ``new`` of a stored destination is the
``otherwise`` of a ``load`` of the same destination whose key a second run finds
again, and no instruction appends to a multi-value Name (``multivalue: true``
appends again). A dependent destination that is only made available
automatically finds its oldest linked record again. The rule is conservative:
:func:`rerun_problem` names the first reason it cannot promise safety.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.models import Model

_NESTED = ("then", "else", "instructions")


def rerun_problem(control: dict[str, Any], model: Model) -> str | None:
    """None if running the control file again is idempotent, else why it may not be (one sentence)."""
    for instruction, inside_load_of in _walk(control.get("instructions"), None):
        action = instruction.get("action") or "field"
        destination = model.destination(str(instruction.get("destination")))
        if destination is None or destination.pseudo:
            continue
        if instruction.get("multivalue") is True:
            return (
                f"the {action} instruction on {destination.name}.{instruction.get('name')} adds values "
                "(multivalue: true), and a second run would add them again"
            )
        if action == "new" and inside_load_of != destination.name:
            return f"'new {destination.name}' creates records that a second run would create again"
    for instruction, _ in _walk(control.get("instructions"), None):
        if instruction.get("action") != "load" or not isinstance(instruction.get("otherwise"), list):
            continue
        destination = model.destination(str(instruction.get("destination")))
        using = str(instruction.get("using"))
        if destination is None or not any(_is_new_of(i, destination.name) for i in instruction["otherwise"]):
            continue
        if using == "load:by-ref" and destination.primary_key not in destination.names:
            return (
                f"'load {destination.name}' by ref creates records with new keys when not found, "
                "which a second run would not find"
            )
        name = using.removeprefix("load:by-")
        if using != "load:by-ref" and not _sets(control.get("instructions"), destination.name, name):
            return f"records created when 'load {destination.name}' finds none never get {name}, so a second run would not find them"
    return None


def _sets(instructions: Any, destination: str, name: str) -> bool:
    """Whether some instruction sets the Name of the destination."""
    return any(
        i.get("destination") == destination and i.get("name") == name and i.get("action") != "remove-values"
        for i, _ in _walk(instructions, None)
    )


def _is_new_of(instruction: Any, destination: str) -> bool:
    return (
        isinstance(instruction, dict)
        and instruction.get("action") == "new"
        and instruction.get("destination") == destination
    )


def _walk(instructions: Any, inside_load_of: str | None) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every instruction, nested ones included, with the destination of the ``load`` whose
    ``otherwise`` list it is directly in (or None)."""
    if not isinstance(instructions, list):
        return
    for instruction in instructions:
        if not isinstance(instruction, dict):
            continue
        yield instruction, inside_load_of
        for key in _NESTED:
            yield from _walk(instruction.get(key), None)
        if instruction.get("action") == "load":
            destination = instruction.get("destination")
            yield from _walk(
                instruction.get("otherwise"), destination if isinstance(destination, str) else None
            )
