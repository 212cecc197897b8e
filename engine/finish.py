"""End of a record: the final checks (spec §7.2.6) and the commit writes (§7.2.5, Ours).

Both are generated once per batch from the model (see :mod:`engine.codegen`), with
one branch per stored destination, so a record pays only for what its model needs.

Writes: pseudo targets are never written; ``defaultType`` is applied; a dependent
gets its link to the parent's primary key (allocating the parent's key first); a
new target gets a UUID key unless one was preallocated (for a dependent) or set by
the instructions (when the primary key is a declared Name); a loaded target is
written only when changed, as a full replacement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from engine.changes import same_json
from engine.codegen import Emitter
from engine.keys import KeySource
from engine.models import Destination
from engine.ports import TargetWrite
from engine.transform import BatchEnv

TYPE_REQUIRED_ERROR: Final = "annotatedTypes used but target has no type defined"
NO_VALUE: Final = "v is None or (type(v) is list and not v)"
"""Source testing that local ``v`` (a Name's stored value) means "no value"."""


# -- writes ---------------------------------------------------------------------------

_new = object.__new__
_set_table = TargetWrite.__dict__["table"].__set__
_set_key = TargetWrite.__dict__["primary_key"].__set__
_set_record = TargetWrite.__dict__["record"].__set__
_set_is_new = TargetWrite.__dict__["is_new"].__set__


def _emit_write(em: Emitter, indent: int, env: BatchEnv, dest: Destination, dry_run: bool) -> None:
    """Lines adding target ``t`` of a stored destination to ``out`` (``return None`` aborts)."""
    counts = em.const(env.counts.row(str(dest.table)), "counts")
    generated = dest.primary_key not in dest.names
    if dry_run and generated and not dest.type_required:  # new, with a key it would generate: count it
        em.line(indent, "if t.original is None and t.key is None:")
        em.line(indent + 1, f"{counts}[0] += 1")
        em.line(indent + 1, "continue")
    if dest.default_type is not None:
        em.line(indent, f"v = r.get({dest.type_name!r})")
        em.line(indent, f"if {NO_VALUE}:")
        em.line(indent + 1, f"r[{dest.type_name!r}] = {dest.default_type!r}")
    if dest.type_required:
        em.line(indent, f"v = r.get({dest.type_name!r})")
        em.line(indent, f"if {NO_VALUE}:")
        em.line(indent + 1, "tr.complete = False")
        if not dry_run:
            em.line(indent + 1, f"{em.const(env.report, 'report')}({TYPE_REQUIRED_ERROR!r})")
        em.line(indent + 1, "return None")
    source = env.new_key
    if isinstance(source, KeySource):
        keys, refill = em.const(source.keys, "keys"), em.const(source.refill, "refill")
        new_key = f"({keys}.pop() if {keys} else {refill}())"
    else:
        new_key = f"{em.const(source, 'newkey')}()"
    if dest.link_name is not None:
        link_spec = dest.names[dest.link_name]
        em.line(indent, f"v = r.get({dest.link_name!r})")
        em.line(indent, f"if {NO_VALUE}:")
        em.line(indent + 1, "p = t.parent")
        em.line(indent + 1, "if p is None:")
        em.line(indent + 2, f"p = targets.get({dest.depends!r})")
        em.line(indent + 1, "if p is not None:")
        em.line(indent + 2, "k = p.key")
        em.line(indent + 2, "if k is None:")
        em.line(indent + 3, f"k = p.key = {new_key}")
        em.line(indent + 2, f"r[{dest.link_name!r}] = {'[k]' if link_spec.multivalue else 'k'}")
    table, pk = repr(dest.table), repr(dest.primary_key)
    new, write = em.const(_new, "new"), em.const(TargetWrite, "TargetWrite")
    setters = [em.const(s, "set") for s in (_set_table, _set_key, _set_record, _set_is_new)]
    em.line(indent, "o = t.original")
    em.line(indent, "if o is None:")
    em.line(indent + 1, "k = t.key")
    em.line(indent + 1, "if k is None:")
    if not generated:  # instructions may set the key
        em.line(indent + 2, f"k = r.get({pk})")
        em.line(indent + 2, 'if not (type(k) is str and k != "" or type(k) is int):')
        em.line(indent + 3, f"k = {new_key}")
    elif dry_run:  # a generated key would be new: nothing to ask the store, no key to make
        em.line(indent + 2, f"{counts}[0] += 1")
        em.line(indent + 2, "continue")
    else:
        em.line(indent + 2, f"k = {new_key}")
    if not (generated and dry_run):
        em.line(indent + 2, "t.key = k")
    em.line(indent + 1, f"r[{pk}] = k")
    em.line(indent + 1, "n = True")
    # Python's == takes True for 1: a change between a boolean and a number is a change all the same
    em.line(indent, f"elif r != o or not {em.const(same_json, 'same')}(r, o):")
    em.line(indent + 1, "k = t.key")
    em.line(indent + 1, "n = False")
    em.line(indent, "else:")
    em.line(indent + 1, f"{counts}[2] += 1")
    em.line(indent + 1, "continue")
    em.line(indent, f"w = {new}({write})")  # TargetWrite(...) minus the frozen dataclass's slow __init__
    for setter, value in zip(setters, (table, "k", "r", "n"), strict=True):
        em.line(indent, f"{setter}(w, {value})")
    em.line(indent, "out.append(w)")


def emit_finish(em: Emitter, indent: int, env: BatchEnv, dry_run: bool) -> None:
    """Epilogue of the record program: final checks, then ``return`` the writes (None: incomplete).

    In a dry run the writes are for ``TargetStore.preview`` (see the module docstring).
    """
    em.line(indent, "if not tr.complete:")
    em.line(indent + 1, "return None")
    _emit_checks(em, indent, env)
    em.line(indent, "if not tr.complete:")
    em.line(indent + 1, "return None")
    em.line(indent, "out = []")
    em.line(indent, "queued = tr.queued")
    em.line(
        indent,
        f"for t in ({em.const(_chain, 'chain')}(queued, targets.values()) if queued else targets.values()):",
    )
    em.line(indent + 1, "d = t.dest")
    keyword = "if"
    for dest in env.stored_destinations:
        em.line(indent + 1, f"{keyword} d is {em.const(dest, 'dest')}:")
        em.line(indent + 2, "r = t.record")
        _emit_write(em, indent + 2, env, dest, dry_run)
        keyword = "elif"
    em.line(indent, "return out")


def _chain(first: list[Any], second: Any) -> Iterator[Any]:
    yield from first
    yield from second


def _emit_checks(em: Emitter, indent: int, env: BatchEnv) -> None:
    """Lines of the end-of-record checks of every stored destination, in model order (§7.2.6)."""
    report, check = em.const(env.report, "report"), em.const(env.check_record, "check")
    for dest in env.stored_destinations:
        em.line(indent, f"t = targets.get({dest.name!r})")
        em.line(indent, "if t is None:")
        if dest.optional:
            em.line(indent + 1, "pass")
        else:
            em.line(indent + 1, "tr.complete = False")
            em.line(indent + 1, f"{report}({'No data set in required destination ' + dest.name!r})")
        if dest.required_names:
            em.line(indent, "else:")
            em.line(indent + 1, "r = t.record")
            tests: list[str] = []
            for number, name in enumerate(dest.required_names):
                em.line(indent + 1, f"v{number} = r.get({name!r})")
                tests.append(f"v{number} is None or (type(v{number}) is list and not v{number})")
            em.line(indent + 1, f"if {' or '.join(tests)}:")
            em.line(indent + 2, f"{check}(tr, {em.const(dest, 'dest')}, r)")
