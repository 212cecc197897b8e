"""Target instructions (spec §5.3, §7.2.3): ``new``, ``load``, ``assert-destination``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.codegen import Emitter, InlineCode, Item
from engine.compile import Compiler
from engine.errors import BatchError
from engine.jsvalues import js_string, js_truthy
from engine.models import LOAD_BY_PREFIX, LOAD_BY_REF, Destination
from engine.transform import BatchEnv, Target, Transformation


def _unknown(message: str) -> Item:
    """A step that fails the batch when it runs (unknown destinations are run-time errors, §2.3)."""

    def fail(tr: Transformation, context: dict[str, Any]) -> None:
        raise BatchError(message)

    return fail


class New(InlineCode):
    """Check and queue any current target of the destination; make a fresh empty one current."""

    def __init__(self, env: BatchEnv, dest: Destination) -> None:
        self.env, self.dest = env, dest

    def emit(self, em: Emitter, indent: int, ctx: str) -> None:
        dest, name = em.const(self.dest, "dest"), self.dest.name
        where = "pseudo" if self.dest.pseudo else "targets"
        em.line(indent, f"if {name!r} in {where}:")
        em.line(indent + 1, f"{em.const(self.env.retire, 'retire')}(tr, {dest})")
        if self.dest.pseudo:
            em.line(indent, f"pseudo[{name!r}] = {{}}")
            return
        parent = f"targets.get({self.dest.depends!r})" if self.dest.depends is not None else "None"
        # Target(dest, {}, None, None, parent) without the cost of calling __init__
        em.line(
            indent, f"t = targets[{name!r}] = {em.const(object.__new__, 'new')}({em.const(Target, 'Target')})"
        )
        em.line(indent, f"t.dest = {dest}")
        em.line(indent, "t.record = {}")
        em.line(indent, "t.key = t.original = None")
        em.line(indent, f"t.parent = {parent}")


def compile_new(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """``new``: an unknown destination fails the batch when the instruction runs."""
    raw = instruction["destination"]
    dest = c.model.destination(raw)
    if dest is None:
        return _unknown(f"Unknown destination: {js_string(raw)}")
    return New(c.env, dest)


class _Ambiguous:
    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count


def _loader(env: BatchEnv, dest: Destination, using: Destination) -> Any:
    """``using record -> Target | None | _Ambiguous`` for the destination (§7.2.3, Ours)."""
    table = dest.table
    if dest.pseudo or table is None:
        return lambda lookup: None
    store = env.store
    if using.name == LOAD_BY_REF:

        def by_ref(lookup: dict[str, Any]) -> Target | _Ambiguous | None:
            key = lookup.get("ref")
            if not isinstance(key, str | int) or isinstance(key, bool) or key == "":
                return None
            stored = store.get(table, key)
            if stored is None and isinstance(key, str) and key.isdigit():
                stored = store.get(table, int(key))
            return Target.loaded(dest, stored) if stored is not None else None

        return by_ref
    attribute = using.name[len(LOAD_BY_PREFIX) :] if using.name.startswith(LOAD_BY_PREFIX) else None
    if attribute is None or attribute not in dest.lookup_names:
        return lambda lookup: None

    def by_attribute(lookup: dict[str, Any]) -> Target | _Ambiguous | None:
        value = lookup.get(attribute)
        if value is None:
            return None
        found = store.find(table, attribute, value)
        if len(found) == 1:
            return Target.loaded(dest, found[0])
        return _Ambiguous(len(found)) if found else None

    return by_attribute


def compile_load(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """Load the destination's target using the lookup values in the ``using`` pseudo target."""
    raw, raw_using = instruction["destination"], instruction["using"]
    otherwise = c.block(instruction["otherwise"]) if isinstance(instruction.get("otherwise"), list) else None
    dest = c.model.destination(raw)
    if dest is None:
        return _unknown(f"Unknown destination: {js_string(raw)}")
    using = c.model.destination(raw_using)
    if using is None:
        return _unknown(f"No destination when requesting target: {js_string(raw_using)}")
    env, name, report = c.env, dest.name, c.env.report
    get_using = env.record_getter(using)
    load_target = _loader(env, dest, using)
    scratch = "pseudo" if using.pseudo else "targets"

    def clear_using(tr: Transformation) -> None:
        getattr(tr, scratch).pop(using.name, None)

    def load(tr: Transformation, context: dict[str, Any]) -> None:
        lookup = get_using(tr)
        env.retire(tr, dest)
        loaded = load_target(lookup)
        clear_using(tr)
        if isinstance(loaded, Target):
            tr.replace(name, loaded)
        elif isinstance(loaded, _Ambiguous):
            tr.complete = False
            report(f"Ambiguous load for destination {name}: {loaded.count} records match")
        elif otherwise is not None:
            otherwise(tr, context)
        else:
            tr.complete = False
            report(f"Couldn't load destination: {name}")

    return load


def compile_assert_destination(instruction: Mapping[str, Any], action: str, c: Compiler) -> Item | None:
    """Abort unless "a stored record links this dependent to its parent" equals ``exists`` (Ours §11 #9)."""
    raw = instruction["destination"]
    dest = c.model.destination(raw)
    if dest is None:
        c.setup_error(f"Unknown destination in assert-destination: {js_string(raw)}")
        return None
    parent_dest = c.model.destination(dest.depends)
    if parent_dest is None:
        c.setup_error(f"Can only use dependent destinations in assert-destination: {dest.name}")
        return None
    expected = js_truthy(instruction["exists"])
    env, get_parent = c.env, c.env.getter(parent_dest)

    def assert_destination(tr: Transformation, context: dict[str, Any]) -> None:
        if env.linked_exists(dest, get_parent(tr)) != expected:
            tr.complete = False
            env.report(f"assert-destination failed: {dest.name}")

    return assert_destination
