"""Value instructions (spec §5.3): ``field``, ``field-structured``, ``set-value``, ``remove-values``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.codegen import PRESENT, Emitter, InlineCode, Item
from engine.compile import Compiler
from engine.datatypes import person_name_value
from engine.instructions.common import ValueSlot, decode_value
from engine.jsvalues import js_string
from engine.models import PERSON_NAME, Destination
from engine.transform import Transformation

NOT_CONVERTED: Any = object()


class Field(InlineCode):
    """Copy ``context[source]``, if present (§5.1), through the pipeline into the Name."""

    def __init__(self, instruction: Mapping[str, Any], source: str, slot: ValueSlot) -> None:
        self.instruction, self.source, self.slot = instruction, source, slot

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        em.line(indent, f"v = {ctx}.get({self.source!r})")
        em.line(indent, f"if {PRESENT}:")
        has_value = self.slot.emit_convert(em, indent + 1)
        em.line(indent + 1, f"if {has_value}:")
        self.slot.emit_store(em, indent + 2, self.instruction)


def compile_field(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``field``: the default action."""
    source = js_string(instruction["source"])
    slot = decode_value(instruction, action, f"input field {source}", c)
    return Field(instruction, source, slot) if slot is not None else None


class FieldStructured(InlineCode):
    """Convert the assembled pseudo target with the Name's type, store it, always clear the pseudo target."""

    def __init__(self, instruction: Mapping[str, Any], pseudo: Destination, slot: ValueSlot) -> None:
        self.instruction, self.pseudo, self.slot = instruction, pseudo, slot

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        em.line(indent, f"v = pseudo.pop({self.pseudo.name!r}, None)")
        slot = self.slot
        if (
            self.pseudo.auto
            and self.pseudo.name == PERSON_NAME
            and slot.convert is person_name_value
            and slot.mapping is None
            and not slot.filters
        ):
            # The parts of the automatic value:person-name are text: a record with a
            # non-empty "last" and no empty part is already the stored form.
            em.line(indent, 'if v is None or not v.get("last") or "" in v.values():')
            em.line(indent + 1, f"v = {em.const(person_name_value, 'name')}(v if v is not None else {{}})")
            em.line(indent, "if v is not UNDEFINED:")
            slot.emit_store(em, indent + 1, self.instruction)
            return
        em.line(indent, "if v is None:")
        em.line(indent + 1, "v = {}")
        has_value = self.slot.emit_convert(em, indent)
        em.line(indent, f"if {has_value}:")
        self.slot.emit_store(em, indent + 1, self.instruction)


def compile_field_structured(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``field-structured``: the structured destination is checked after the Name."""
    structured = js_string(instruction["structured"])
    slot = decode_value(instruction, action, f"structured input field {structured}", c)
    if slot is None:
        return None
    pseudo = c.model.destination(structured)
    if pseudo is None or not pseudo.pseudo:
        c.setup_error(f"Unknown structured value destination in field-structured: {structured}")
        return None
    return FieldStructured(instruction, pseudo, slot)


class SetValue(InlineCode):
    """Set a constant, converted once per batch at its first use (§11 #4)."""

    def __init__(self, instruction: Mapping[str, Any], slot: ValueSlot) -> None:
        self.instruction, self.slot = instruction, slot
        self.cell = [NOT_CONVERTED]

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        cell = em.const(self.cell, "cell")
        em.line(indent, f"v = {cell}[0]")
        em.line(indent, f"if v is {em.const(NOT_CONVERTED, 'notyet')}:")
        em.line(indent + 1, f"v = {em.const(self.instruction['value'], 'value')}")
        self.slot.emit_convert(em, indent + 1, in_place=True)
        em.line(indent + 1, f"{cell}[0] = v")
        em.line(indent, "if v is not UNDEFINED:")
        self.slot.emit_store(em, indent + 1, self.instruction)


def compile_set_value(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``set-value``: no presence check; the constant goes through the whole pipeline."""
    details = f"set value {js_string(instruction['destination'])}/{js_string(instruction['name'])}"
    slot = decode_value(instruction, action, details, c)
    return SetValue(instruction, slot) if slot is not None else None


def compile_remove_values(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``remove-values``: delete every value of the Name from the target."""
    raw_dest = instruction["destination"]
    dest = c.model.destination(raw_dest)
    if dest is None:
        c.setup_error(f"Unknown destination in remove-values: {js_string(raw_dest)}")
        return None
    name = instruction["name"]
    if not isinstance(name, str) or name not in dest.names:
        c.setup_error(f"Unknown name in remove-values for destination {dest.name}")
        return None
    get_record = c.env.record_getter(dest)

    def remove_values(tr: Transformation, context: dict[str, Any]) -> None:
        get_record(tr).pop(name, None)

    return remove_values
