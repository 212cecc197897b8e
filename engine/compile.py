"""Compiling a control file's instructions, once per batch (spec §5.1).

Each action has an :class:`Instruction` entry in the instruction table (see
:data:`engine.instructions.INSTRUCTIONS`, passed to the :class:`Compiler`). Its
compiler returns an inline-code item (see :mod:`engine.codegen`) or a closure
``(tr, ctx) -> None``, or None after reporting a setup error (the instruction is
then dropped). Nested lists are compiled at the same time, so every setup error is
reported once, before the first record, without a suffix. An instruction list
becomes one generated function, so the per-record loop makes one call per list,
not one per instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.codegen import Item, build_function
from engine.filters import FilterSet
from engine.finish import emit_finish
from engine.jsvalues import js_string, js_truthy
from engine.models import Model
from engine.transform import BatchEnv, Transformation

Step = Callable[[Transformation, dict[str, Any]], None]
InstructionCompiler = Callable[[Mapping[str, Any], str, "Compiler"], "Item | None"]


@dataclass(frozen=True, slots=True)
class Instruction:
    """An action of the instruction table: its compiler and its control-file rules (spec §2.2, §5.3)."""

    compiler: InstructionCompiler
    """``(instruction, action, compiler) -> item``, or None after reporting a setup error."""
    required: tuple[str, ...]
    """The properties the instruction must have (checked by presence)."""
    nested: tuple[str, ...] = ()
    """Its nested instruction lists that validation descends into."""
    value: bool = False
    """A value instruction: its ``filters`` are validated (Ours, §11 #20) and the for-each overwrite rule applies."""
    opens_target: bool = False
    """Makes its destination's target current (``new``, ``load``), for the for-each overwrite rule."""
    starts_loop: bool = False
    """Its nested lists are a loop body (``for-each``): the for-each overwrite rule starts afresh."""

    def missing(self, instruction: Mapping[str, Any], action: str) -> str | None:
        """``Expected property not found …`` for the missing required properties, or None."""
        missing = [p for p in self.required if p not in instruction]
        if not missing:
            return None
        return f"Expected property not found in {action} instruction: {', '.join(missing)}"


def action_of(instruction: Mapping[str, Any]) -> str:
    """The instruction's action; a missing (or empty) action means ``field``."""
    action = instruction.get("action")
    return js_string(action) if js_truthy(action) else "field"


def unknown_action(action: str) -> str:
    """The message for an action that is not in the instruction table."""
    return f"Unknown action in instruction: {action}"


def noop(tr: Transformation, context: dict[str, Any]) -> None:
    """A step that does nothing (an empty or absent instruction list)."""


class Compiler:
    """Compiles instruction lists for one batch, with the actions of ``instructions``."""

    def __init__(
        self,
        env: BatchEnv,
        filters: FilterSet,
        mappings: Mapping[str, Any],
        instructions: Mapping[str, Instruction],
    ) -> None:
        self.env = env
        self.model: Model = env.model
        self.filters = filters
        self.mappings = mappings
        self.instructions = instructions

    def setup_error(self, message: str) -> None:
        """Report a setup error (no record suffix: no record is being processed)."""
        self.env.report(message)

    def items(self, instructions: Any) -> list[Item]:
        """The compiled instructions of a list, dropping those whose setup failed."""
        if not isinstance(instructions, list):
            return []
        compiled = (self.one(i) for i in instructions)
        return [item for item in compiled if item is not None]

    def program(self, instructions: Any, dry_run: bool) -> Callable[[Transformation, dict[str, Any]], Any]:
        """The per-record function: the instructions, the final checks, then the writes to commit.

        It returns the list of writes for a complete record in a real run, else None.
        """
        return build_function(
            self.items(instructions), lambda em, indent: emit_finish(em, indent, self.env, dry_run)
        )

    def block(self, instructions: Any) -> Step:
        """One function that runs a whole (possibly absent) instruction list in order."""
        items = self.items(instructions)
        return build_function(items) if items else noop

    def one(self, instruction: Any) -> Item | None:
        """Compile one instruction (lists that validation does not see may hold anything)."""
        spec: Mapping[str, Any] = instruction if isinstance(instruction, dict) else {}
        action = action_of(spec)
        entry = self.instructions.get(action)
        if entry is None:
            self.setup_error(unknown_action(action))
            return None
        problem = entry.missing(spec, action)
        if problem is not None:
            self.setup_error(problem)
            return None
        return entry.compiler(spec, action, self)
