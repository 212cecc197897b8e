"""Source generation for compiled instruction lists.

An instruction list is compiled once per batch into one Python function
``(tr, ctx) -> None``. Frequent instructions contribute inline source (no call per
instruction); the others are closures, called from the generated source. Every
value a generated line uses (converters, destinations, messages) is bound in the
function's namespace under a generated name, so control-file text never becomes
source code: strings appear only as ``repr()`` literals.

Jinja compiles templates the same way: parse → generate Python → run many times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from engine.jsvalues import EMPTY_CONTEXT, UNDEFINED
from engine.models import Destination

PRESENT: Final = 'v or (v is not None and v is not False and v != "")'
"""Source of the presence test of §5.1 on local ``v`` (truthy, or ``0``, ``{}``, ``[]``)."""

MAX_INLINE_DEPTH: Final = 12
"""Nested lists deeper than this become separate functions (Python limits static nesting)."""


class InlineCode:
    """An instruction that writes its own source into the generated function."""

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        """Write the instruction's lines at ``indent``; ``ctx`` names the context variable."""
        raise NotImplementedError


Item = InlineCode | Callable[[Any, dict[str, Any]], None]


class Emitter:
    """Accumulates the lines and namespace of one generated function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"UNDEFINED": UNDEFINED, "EMPTY": EMPTY_CONTEXT}
        self._names: dict[int, str] = {}
        self._counter = 0

    def const(self, value: Any, hint: str = "k") -> str:
        """The name under which ``value`` is bound in the generated function's namespace."""
        known = self._names.get(id(value))
        if known is not None and self.namespace[known] is value:
            return known
        self._counter += 1
        name = f"_{hint}{self._counter}"
        self.namespace[name] = value
        self._names[id(value)] = name
        return name

    def fresh(self, hint: str) -> str:
        """A new local variable name."""
        self._counter += 1
        return f"{hint}{self._counter}"

    def line(self, indent: int, text: str) -> None:
        """Add one line of source."""
        self.lines.append("    " * indent + text)

    def compile(self, name: str) -> Callable[..., Any]:
        """Compile the lines (which define function ``name``) and return that function.

        The function's ``__doc__`` is its generated source, for debugging.
        """
        source = "\n".join(self.lines) + "\n"
        exec(compile(source, f"<generated {name}>", "exec"), self.namespace)
        function: Callable[..., Any] = self.namespace[name]
        function.__doc__ = source
        return function

    def block(self, items: Sequence[Item], indent: int, ctx: str) -> None:
        """Write a list of compiled instructions (``pass`` if it is empty)."""
        if indent > MAX_INLINE_DEPTH and any(isinstance(i, InlineCode) for i in items):
            self.line(indent, f"{self.const(build_function(items), 's')}(tr, {ctx})")
            return
        start = len(self.lines)
        for item in items:
            if isinstance(item, InlineCode):
                item.emit(self, indent, ctx)
            else:
                self.line(indent, f"{self.const(item, 's')}(tr, {ctx})")
        if len(self.lines) == start:
            self.line(indent, "pass")

    def record(self, indent: int, dest: Destination, getter: Callable[[Any], Any] | None) -> None:
        """Set local ``r`` to the record of the destination's current target, getting one if needed (§5.1)."""
        if dest.pseudo:  # a blank pseudo record appears silently
            self.line(indent, f"r = pseudo.get({dest.name!r})")
            self.line(indent, "if r is None:")
            self.line(indent + 1, f"r = pseudo[{dest.name!r}] = {{}}")
        else:  # targets are always truthy
            self.line(indent, f"r = (targets.get({dest.name!r}) or {self.const(getter, 'get')}(tr)).record")


def build_function(
    items: Sequence[Item], epilogue: Callable[[Emitter, int], None] | None = None
) -> Callable[[Any, dict[str, Any]], Any]:
    """Generate, compile and return ``(tr, ctx)`` running ``items`` in order, then ``epilogue``'s lines."""
    em = Emitter()
    em.line(0, "def run(tr, ctx):")
    em.line(1, "targets = tr.targets")
    em.line(1, "pseudo = tr.pseudo")
    em.block(items, 1, "ctx")
    if epilogue is not None:
        epilogue(em, 1)
    return em.compile("run")
