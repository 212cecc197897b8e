"""Setup and code shared by value instructions: decoding destination and Name, converting, storing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.codegen import Emitter
from engine.compile import Compiler
from engine.datatypes import text_value, type_factory
from engine.errors import SetupError
from engine.filters import Filter
from engine.jsvalues import js_string, js_truthy
from engine.models import Destination, NameSpec
from engine.transform import Getter, RecordGetter
from engine.typecontext import TypeContext
from engine.values import MISSING, Converter


@dataclass(frozen=True, slots=True)
class ValueSlot:
    """A decoded value instruction: where it writes and how it converts (§6.1).

    ``mapping`` is the ``mapInputValue`` object (or None), then come ``filters``
    and the Name's type converter ``convert``.
    """

    dest: Destination
    name: NameSpec
    get: Getter | None
    get_record: RecordGetter
    mapping: Mapping[str, Any] | None
    has_default: bool
    default: Any
    filters: tuple[Filter, ...]
    convert: Converter

    def emit_convert(self, em: Emitter, indent: int, *, in_place: bool = False) -> str:
        """Lines converting local ``v``; returns the test that ``v`` then holds a value.

        The test may finish the conversion itself (text on non-strings); with
        ``in_place`` the lines convert completely and the test only checks.
        """
        if self.mapping is not None:
            missing = em.const(MISSING, "miss")
            em.line(
                indent,
                f"m = {em.const(self.mapping, 'map')}.get(v if type(v) is str else {em.const(js_string, 'js')}(v), {missing})",
            )
            em.line(indent, f"if m is not {missing}:")
            em.line(indent + 1, "v = m")
            if self.has_default:
                em.line(indent, "else:")
                em.line(indent + 1, f"v = {em.const(self.default, 'default')}")
        for number, step in enumerate(self.filters):
            if number:
                em.line(indent, "if v is not UNDEFINED:")
                em.line(indent + 1, f"v = {em.const(step, 'filter')}(v)")
            else:
                em.line(indent, f"v = {em.const(step, 'filter')}(v)")
        if self.filters:
            em.line(indent, "if v is not UNDEFINED:")
            em.line(indent + 1, f"v = {em.const(self.convert, 'conv')}(v)")
        elif self.convert is text_value:
            if not in_place:
                return f"type(v) is str or (v := {em.const(text_value, 'text')}(v)) is not UNDEFINED"
            em.line(indent, "if type(v) is not str:")
            em.line(indent + 1, f"v = {em.const(text_value, 'text')}(v)")
        else:
            em.line(indent, f"v = {em.const(self.convert, 'conv')}(v)")
        return "v is not UNDEFINED"

    def emit_store(self, em: Emitter, indent: int, instruction: Mapping[str, Any]) -> None:
        """Lines storing local ``v`` in the Name (§7.2.2: replace, ``[value]`` or append)."""
        name = self.name.name
        em.record(indent, self.dest, self.get)
        if not self.name.multivalue:
            em.line(indent, f"r[{name!r}] = v")
        elif not js_truthy(instruction.get("multivalue")):
            em.line(indent, f"r[{name!r}] = [v]")
        else:
            em.line(indent, f"a = r.get({name!r})")
            em.line(indent, "if type(a) is list:")
            em.line(indent + 1, "a.append(v)")
            em.line(indent, "elif a is None:")
            em.line(indent + 1, f"r[{name!r}] = [v]")
            em.line(indent, "else:")
            em.line(indent + 1, f"r[{name!r}] = [a, v]")


def decode_value(
    instruction: Mapping[str, Any], action: str, source_details: str, c: Compiler
) -> ValueSlot | None:
    """Decode ``destination``/``name`` and build the conversion; None after a setup error."""
    raw_dest = instruction.get("destination")
    dest = c.model.destination(raw_dest)
    if dest is None:
        c.setup_error(f"Unknown destination in {action}: {js_string(raw_dest)}")
        return None
    raw_name = instruction.get("name")
    spec = dest.names.get(raw_name) if isinstance(raw_name, str) else None
    if spec is None:
        c.setup_error(f"Unknown name in {action} {js_string(raw_name)} for destination {dest.name}")
        return None
    qualifiers = c.model.qualifiers
    if qualifiers is not None and "qualifier" in instruction:
        qualifier = js_string(instruction["qualifier"])
        if qualifier not in qualifiers:
            c.setup_error(f"Invalid qualifier '{qualifier}' in {action} {dest.name}/{spec.name}")
    ctx = TypeContext(
        instruction=instruction,
        source_details=source_details,
        name=spec,
        model=c.model,
        report=c.env.report,
        store=c.env.store,
        mappings=c.mappings,
    )
    try:
        convert = type_factory(c.model, spec.type)(ctx)
    except SetupError as error:
        c.setup_error(error.message)
        c.setup_error(f"Couldn't create value transformer for {action} {dest.name}/{spec.name}")
        return None
    names = instruction.get("filters")
    filters = tuple(c.filters.get(n) for n in names) if isinstance(names, list) else ()
    mapping = instruction.get("mapInputValue")
    return ValueSlot(
        dest=dest,
        name=spec,
        get=None if dest.pseudo else c.env.getter(dest),
        get_record=c.env.record_getter(dest),
        mapping=mapping if isinstance(mapping, dict) else None,
        has_default="mapInputValueDefault" in instruction,
        default=instruction.get("mapInputValueDefault"),
        filters=filters,
        convert=convert,
    )
