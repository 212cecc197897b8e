"""Compiling a control file's instructions, once per batch (spec §5.1).

Each action has a compiler in :data:`engine.instructions.INSTRUCTIONS`. It returns
an inline-code item (see :mod:`engine.codegen`) or a closure ``(tr, ctx) -> None``,
or None after reporting a setup error (the instruction is then dropped). Nested
lists are compiled at the same time, so every setup error is reported once, before
the first record, without a suffix. An instruction list becomes one generated
function, so the per-record loop makes one call per list, not one per instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.codegen import Item, build_function
from engine.control import action_of, missing_properties
from engine.filters import FilterSet
from engine.models import Model
from engine.transform import BatchEnv, Transformation

Step = Callable[[Transformation, dict[str, Any]], None]
InstructionCompiler = Callable[[Mapping[str, Any], str, "Compiler"], "Item | None"]


def noop(tr: Transformation, context: dict[str, Any]) -> None:
    """A step that does nothing (an empty or absent instruction list)."""


class Compiler:
    """Compiles instruction lists for one batch."""

    def __init__(self, env: BatchEnv, filters: FilterSet, mappings: Mapping[str, Any]) -> None:
        self.env = env
        self.model: Model = env.model
        self.filters = filters
        self.mappings = mappings

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
        from engine.finish import emit_finish

        return build_function(
            self.items(instructions), lambda em, indent: emit_finish(em, indent, self.env, dry_run)
        )

    def block(self, instructions: Any) -> Step:
        """One function that runs a whole (possibly absent) instruction list in order."""
        items = self.items(instructions)
        return build_function(items) if items else noop

    def one(self, instruction: Any) -> Item | None:
        """Compile one instruction (lists that validation does not see may hold anything)."""
        from engine.instructions import INSTRUCTIONS

        spec: Mapping[str, Any] = instruction if isinstance(instruction, dict) else {}
        action = action_of(spec)
        compiler = INSTRUCTIONS.get(action)
        if compiler is None:
            self.setup_error(f"Unknown action in instruction: {action}")
            return None
        problem = missing_properties(spec, action)
        if problem is not None:
            self.setup_error(problem)
            return None
        return compiler(spec, action, self)
