"""Control-flow and reporting instructions (spec §5.3): ``if-exists``, ``if-value-one-of``,
``if-has-value``, ``within``, ``for-each``, ``abort-record``, ``log-error``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.codegen import PRESENT, Emitter, InlineCode, Item
from engine.compile import Compiler
from engine.instructions.common import ValueSlot, decode_value
from engine.jsvalues import js_string, js_truthy, strict_key


class _Branch(InlineCode):
    """Shared shape: a condition line, then the ``then`` list, else the ``else`` list."""

    def __init__(self, then: list[Item], otherwise: list[Item]) -> None:
        self.then, self.otherwise = then, otherwise

    def emit_branches(self, em: Emitter, indent: int, ctx: str, condition: str) -> None:
        em.line(indent, f"if {condition}:")
        em.block(self.then, indent + 1, ctx)
        if self.otherwise:
            em.line(indent, "else:")
            em.block(self.otherwise, indent + 1, ctx)


class IfExists(_Branch):
    """``then`` if ``context[source]`` is present (§5.1), else ``else``."""

    def __init__(self, source: str, then: list[Item], otherwise: list[Item]) -> None:
        super().__init__(then, otherwise)
        self.source = source

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        em.line(indent, f"v = {ctx}.get({self.source!r})")
        self.emit_branches(em, indent, ctx, PRESENT)


def compile_if_exists(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``if-exists``."""
    source = js_string(instruction["source"])
    return IfExists(source, c.items(instruction.get("then")), c.items(instruction.get("else")))


class IfValueOneOf(_Branch):
    """``then`` if ``context[source]`` is strictly equal (``===``) to one of ``values``."""

    def __init__(self, source: str, keys: frozenset[Any], then: list[Item], otherwise: list[Item]) -> None:
        super().__init__(then, otherwise)
        self.source, self.keys = source, keys

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        condition = (
            f"{self.source!r} in {ctx} and "
            f"{em.const(strict_key, 'key')}({ctx}[{self.source!r}]) in {em.const(self.keys, 'values')}"
        )
        self.emit_branches(em, indent, ctx, condition)


def compile_if_value_one_of(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``if-value-one-of`` (no coercion: ``1`` is not ``"1"``)."""
    source = js_string(instruction["source"])
    values = instruction.get("values")
    keys = frozenset(k for k in map(strict_key, values if isinstance(values, list) else []) if k is not None)
    return IfValueOneOf(source, keys, c.items(instruction.get("then")), c.items(instruction.get("else")))


class IfHasValue(_Branch):
    """``then`` if the Name has a value in its destination's target, else ``else``."""

    def __init__(self, slot: ValueSlot, then: list[Item], otherwise: list[Item]) -> None:
        super().__init__(then, otherwise)
        self.slot = slot

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        em.record(indent, self.slot.dest, self.slot.get)
        em.line(indent, f"v = r.get({self.slot.name.name!r})")
        self.emit_branches(em, indent, ctx, "v is not None and (type(v) is not list or len(v) > 0)")


def compile_if_has_value(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``if-has-value``: the destination and Name are decoded like a value instruction."""
    slot = decode_value(instruction, action, f"name {js_string(instruction['name'])}", c)
    if slot is None:
        return None
    return IfHasValue(slot, c.items(instruction.get("then")), c.items(instruction.get("else")))


class Within(InlineCode):
    """Run ``instructions`` with a truthy ``context[source]`` as the context."""

    def __init__(self, source: str, body: list[Item]) -> None:
        self.source, self.body = source, body

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        inner = em.fresh("c")
        em.line(indent, f"{inner} = {ctx}.get({self.source!r})")
        em.line(indent, f"if {em.const(js_truthy, 'truthy')}({inner}):")
        em.line(indent + 1, f"if type({inner}) is not dict:")
        em.line(indent + 2, f"{inner} = EMPTY")
        em.block(self.body, indent + 1, inner)


def compile_within(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``within``."""
    return Within(js_string(instruction["source"]), c.items(instruction.get("instructions")))


class ForEach(InlineCode):
    """Run ``instructions`` for each element of an array (values of an object), optionally wrapped."""

    def __init__(self, source: str, wrap: bool, body: list[Item]) -> None:
        self.source, self.wrap, self.body = source, wrap, body

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        values, element = em.fresh("e"), em.fresh("c")
        em.line(indent, f"{values} = {ctx}.get({self.source!r})")
        em.line(indent, f"if type({values}) is dict:")
        em.line(indent + 1, f"{values} = list({values}.values())")
        em.line(indent, f"if type({values}) is list:")
        em.line(indent + 1, f"for {element} in {values}:")
        if self.wrap:
            em.line(indent + 2, f'{element} = {{"value": {element}}}')
        else:
            em.line(indent + 2, f"if type({element}) is not dict:")
            em.line(indent + 3, f"{element} = EMPTY")
        em.block(self.body, indent + 2, element)


def compile_for_each(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``for-each`` (§11 #19: values that are not arrays or objects iterate nothing)."""
    source = js_string(instruction["source"])
    wrap = js_truthy(instruction.get("wrapValues"))
    return ForEach(source, wrap, c.items(instruction.get("instructions")))


class Report(InlineCode):
    """Report ``message``; ``abort`` also marks the record incomplete (execution continues, §11 #1)."""

    def __init__(self, message: str, report: Any, abort: bool) -> None:
        self.message, self.report, self.abort = message, report, abort

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        if self.abort:
            em.line(indent, "tr.complete = False")
        em.line(indent, f"{em.const(self.report, 'report')}({self.message!r})")


def compile_abort_record(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``abort-record``: a falsy message becomes ``abort``."""
    raw = instruction["message"]
    return Report(js_string(raw) if js_truthy(raw) else "abort", c.env.report, abort=True)


def compile_log_error(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``log-error``: a falsy message becomes ``error``; the record is not aborted."""
    raw = instruction["message"]
    return Report(js_string(raw) if js_truthy(raw) else "error", c.env.report, abort=False)
