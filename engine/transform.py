"""Per-record transformation state, getting targets, and target checks (spec §5.1, §7.2).

A :class:`Transformation` holds one record's targets. Stored destinations have
:class:`Target` objects; pseudo destinations are scratch space and are plain dicts
in ``pseudo`` (a blank one appears on first use and they are never committed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engine.changes import RunCounts
from engine.errors import BatchError
from engine.jsvalues import copy_json
from engine.lookups import strip_metadata
from engine.models import Destination, Model
from engine.ports import TargetStore

MAX_TARGET_DEPTH: Final = 16
IF_HAS_VALUE_HINT: Final = (
    "To set defaults for {name}, see example of if-has-value instruction at "
    "https://docs.haplo.org/import/control/instruction/if-has-value"
)


class Target:
    """A stored destination's in-memory record for the current record (§7.2.1).

    ``original`` is the stored record a loaded target was copied from (None for a
    new target); ``key`` is its primary key (None until allocated for a new one);
    ``parent`` is the parent target a dependent target was created for.
    """

    __slots__ = ("dest", "record", "key", "original", "parent")

    def __init__(
        self,
        dest: Destination,
        record: dict[str, Any],
        key: Any = None,
        original: dict[str, Any] | None = None,
        parent: Target | None = None,
    ) -> None:
        self.dest = dest
        self.record = record
        self.key = key
        self.original = original
        self.parent = parent

    @classmethod
    def loaded(cls, dest: Destination, stored: dict[str, Any], parent: Target | None = None) -> Target:
        """A mutable copy of a stored record (store metadata removed)."""
        original = strip_metadata(stored)
        return cls(dest, copy_json(original), original.get(dest.primary_key), original, parent)


class Transformation:
    """The processing state of one record: current targets, pseudo records, queued targets, completeness."""

    __slots__ = ("targets", "pseudo", "queued", "complete")

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.pseudo: dict[str, dict[str, Any]] = {}
        self.queued: list[Target] = []
        self.complete = True

    def replace(self, name: str, target: Target) -> None:
        """Make ``target`` current; a destination set again moves to the end of the commit order."""
        self.targets.pop(name, None)
        self.targets[name] = target


Getter = Callable[[Transformation], Target]
RecordGetter = Callable[[Transformation], dict[str, Any]]


def has_value(record: dict[str, Any], name: str) -> bool:
    """Whether the Name has a value in the record (absent, null and ``[]`` mean no value)."""
    value = record.get(name)
    return value is not None and (type(value) is not list or len(value) > 0)


class BatchEnv:
    """Per-batch services shared by the compiled instructions."""

    def __init__(
        self,
        model: Model,
        store: TargetStore,
        report: Callable[[str], None],
        new_key: Callable[[], str],
        counts: RunCounts | None = None,
    ) -> None:
        self.model = model
        self.counts = counts if counts is not None else RunCounts()
        self.store = store
        self.report = report
        self.new_key = new_key
        self.hint_given = False
        self.stored_destinations = model.stored_destinations
        self._getters: dict[str, Getter] = {}

    # -- getting targets (§5.1) --------------------------------------------------

    def getter(self, dest: Destination) -> Getter:
        """A function returning the current target of a stored destination, getting one as §5.1 says."""
        made = self._getters.get(dest.name)
        if made is None:
            name, acquire = dest.name, self.acquire

            def get(tr: Transformation) -> Target:
                target = tr.targets.get(name)
                return target if target is not None else acquire(tr, dest, 0, ())

            made = self._getters[name] = get
        return made

    def record_getter(self, dest: Destination) -> RecordGetter:
        """A function returning the record of the destination's current target (or pseudo record)."""
        name = dest.name
        if dest.pseudo:

            def pseudo_record(tr: Transformation) -> dict[str, Any]:
                record = tr.pseudo.get(name)
                if record is None:
                    record = tr.pseudo[name] = {}
                return record

            return pseudo_record
        get = self.getter(dest)
        return lambda tr: get(tr).record

    def acquire(self, tr: Transformation, dest: Destination, depth: int, chain: tuple[str, ...]) -> Target:
        """Get (or make) the target of a stored destination; failures abort and leave a blank target."""
        target = tr.targets.get(dest.name)
        if target is not None:
            return target
        if depth > MAX_TARGET_DEPTH:
            raise BatchError("getTarget() maximum recursion limit exceeded")
        parent_dest = self.model.destination(dest.depends)
        if parent_dest is not None:
            parent = self.acquire(tr, parent_dest, depth + 1, (*chain, dest.name))
            made = self.make_available(dest, parent)
            if made is None:
                tr.complete = False
                self.report(
                    f'Couldn\'t make destination "{dest.name}" available from dependency "{parent_dest.name}"'
                )
                made = Target(dest, {}, parent=parent)
            target = made
        else:
            tr.complete = False
            message = f'Destination "{dest.name}" needs be made ready with a "new" or "load" instruction'
            if chain:
                message += ", required by use of " + "".join(f"{name} " for name in chain)
            self.report(message)
            target = Target(dest, {})
        tr.targets[dest.name] = target
        return target

    def make_available(self, dest: Destination, parent: Target) -> Target | None:
        """The oldest stored record linked to ``parent``, else a new target; None without ``linkName``."""
        if dest.link_name is None or dest.table is None:
            return None
        if parent.key is not None:
            found = self.store.find(dest.table, dest.link_name, parent.key)
            if found:
                return Target.loaded(dest, found[0], parent)
        return Target(dest, {}, parent=parent)

    def linked_exists(self, dest: Destination, parent: Target) -> bool:
        """Whether a stored record of ``dest`` links to ``parent`` (assert-destination, Ours §11 #9)."""
        if dest.link_name is None or dest.table is None or parent.key is None:
            return False
        return bool(self.store.find(dest.table, dest.link_name, parent.key))

    # -- checks (§7.2.6) ------------------------------------------------------------

    def check_record(self, tr: Transformation, dest: Destination, record: dict[str, Any]) -> None:
        """Check a target's required Names; a failure aborts the record and reports."""
        missing = [n for n in dest.required_names if not has_value(record, n)]
        if not missing:
            return
        tr.complete = False
        if dest.kind == "dictionary":
            self.report(f"Missing values in {dest.name}: {', '.join(missing)}")
            return
        for name in missing:
            self.report(f"{name} is not set in object {dest.name}")
            if not self.hint_given:
                self.hint_given = True
                self.report(IF_HAS_VALUE_HINT.format(name=name))

    def retire(self, tr: Transformation, dest: Destination) -> None:
        """Before ``new``/``load``: check the current target now and queue it (pseudo: check and drop)."""
        if dest.pseudo:
            record = tr.pseudo.pop(dest.name, None)
            if record is not None:
                self.check_record(tr, dest, record)
            return
        current = tr.targets.pop(dest.name, None)
        if current is not None:
            self.check_record(tr, dest, current.record)
            tr.queued.append(current)
