"""Contract of the engine's TargetStore port, run on the engine tests' in-memory fake and on the
real adapter (``ModelTargetStore``) over every storage backend, so the two cannot drift apart.

Records are read as stored, with the store's metadata (``__createdtime__``, ``__updatedtime__``):
the engine drops it from the targets it builds, and compares creation times across tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine import StoreError, TargetStore, TargetWrite
from engine.ports import OUTCOMES
from gateway.imports.target import ModelTargetStore
from tests.engine.fakes import MemoryStore
from tests.storage.contract.conftest import BACKENDS, ManualClock, StoreFactory


@dataclass
class Subject:
    """A TargetStore under test, and how to let time pass between commits."""

    store: TargetStore
    tick: Callable[[], None]


def _memory(factory: StoreFactory) -> Subject:
    store = MemoryStore({"person": "id", "contact": "id"})
    return Subject(store, lambda: None)  # the fake's own clock moves at every commit


def _model_target(factory: StoreFactory) -> Subject:
    storage = factory.open()
    for table in ("person", "contact"):
        storage.catalog.create_table("m", table)
    clock: ManualClock = factory.clock
    target = ModelTargetStore(storage, "m", flush_records=3)
    return Subject(target, lambda: clock.advance(1))


@pytest.fixture(params=["memory-fake", "model-target"])
def subject(request: pytest.FixtureRequest, factory: StoreFactory) -> Subject:
    if request.param == "model-target":
        return _model_target(factory)
    if factory.backend != BACKENDS[0]:
        pytest.skip("the in-memory fake has no backend: it runs once, beside the first backend")
    return _memory(factory)


def plain(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record without the store's metadata."""
    return None if record is None else {k: v for k, v in record.items() if not k.startswith("__")}


def commit(subject: Subject, *writes: tuple[str, dict[str, Any], bool]) -> None:
    subject.tick()
    subject.store.commit(
        [TargetWrite(table, record["id"], record, is_new) for table, record, is_new in writes]
    )


def test_get_returns_committed_records_with_their_creation_time(subject: Subject) -> None:
    commit(subject, ("person", {"id": "p1", "name": "Ada"}, True))
    commit(subject, ("contact", {"id": "c1"}, True))
    commit(subject, ("person", {"id": "p1", "name": "Ada L."}, False))
    person, contact = subject.store.get("person", "p1"), subject.store.get("contact", "c1")
    assert plain(person) == {"id": "p1", "name": "Ada L."}
    assert person is not None and contact is not None
    assert person["__createdtime__"] < contact["__createdtime__"]  # a replacement keeps its creation time
    assert person["__updatedtime__"] > contact["__updatedtime__"]
    assert subject.store.get("person", "nobody") is None


def test_keys_are_typed(subject: Subject) -> None:
    commit(subject, ("person", {"id": 5, "v": "number"}, True), ("person", {"id": "5", "v": "string"}, True))
    assert plain(subject.store.get("person", 5)) == {"id": 5, "v": "number"}
    assert plain(subject.store.get("person", "5")) == {"id": "5", "v": "string"}


def test_find_matches_values_and_array_elements_oldest_first(subject: Subject) -> None:
    commit(subject, ("person", {"id": "b", "email": ["x@a", "shared"], "n": 1}, True))
    commit(subject, ("person", {"id": "a", "email": "shared", "n": True}, True))
    commit(subject, ("person", {"id": "c", "email": "other", "n": 1.0}, True))
    assert [r["id"] for r in subject.store.find("person", "email", "shared")] == ["b", "a"]
    assert [r["id"] for r in subject.store.find("person", "email", "x@a")] == ["b"]
    assert [r["id"] for r in subject.store.find("person", "n", 1)] == ["b", "c"]  # 1 == 1.0, but not true
    assert [r["id"] for r in subject.store.find("person", "n", True)] == ["a"]
    assert subject.store.find("person", "email", "nobody") == []
    assert subject.store.find("person", "never-written", "x") == []
    assert [plain(r) for r in subject.store.find("person", "id", "c")] == [
        {"id": "c", "email": "other", "n": 1.0}
    ]


def test_scan_gives_every_record_oldest_first(subject: Subject) -> None:
    for key in ("z", "a", "m"):
        commit(subject, ("person", {"id": key}, True))
    commit(subject, ("person", {"id": "z", "changed": True}, False))  # a replacement keeps its age
    assert [r["id"] for r in subject.store.scan("person")] == ["z", "a", "m"]
    assert list(subject.store.scan("contact")) == []


def test_a_replacement_replaces_the_whole_record(subject: Subject) -> None:
    commit(
        subject, ("person", {"id": "p", "a": 1, "b": 2, "__createdtime__": 1.0}, True)
    )  # metadata given: ignored
    commit(subject, ("person", {"id": "p", "b": 3}, False))
    assert plain(subject.store.get("person", "p")) == {"id": "p", "b": 3}
    assert subject.store.find("person", "a", 1) == []


def test_a_new_record_under_a_stored_key_fails_and_its_commit_writes_nothing(subject: Subject) -> None:
    commit(subject, ("person", {"id": "p"}, True))
    with pytest.raises(StoreError):
        commit(
            subject, ("contact", {"id": "c", "person": "p"}, True), ("person", {"id": "p", "again": 1}, True)
        )
    assert subject.store.get("contact", "c") is None
    assert plain(subject.store.get("person", "p")) == {"id": "p"}
    assert subject.store.find("contact", "person", "p") == []


def test_a_commit_spans_tables_and_later_reads_see_it(subject: Subject) -> None:
    for i in range(7):  # more than one flush of the real adapter's buffer
        commit(
            subject,
            ("person", {"id": f"p{i}", "k": i % 2}, True),
            ("contact", {"id": f"c{i}", "person": f"p{i}"}, True),
        )
    assert [r["id"] for r in subject.store.find("contact", "person", "p5")] == ["c5"]
    assert [r["id"] for r in subject.store.find("person", "k", 1)] == ["p1", "p3", "p5"]
    assert len(list(subject.store.scan("contact"))) == 7


def outcomes(subject: Subject, *writes: tuple[str, dict[str, Any], bool], preview: bool = False) -> list[str]:
    """What the store says each write did (or, previewed, would do), by name."""
    subject.tick()
    made = [TargetWrite(table, record["id"], record, is_new) for table, record, is_new in writes]
    answered = subject.store.preview(made) if preview else subject.store.commit(made)
    return [OUTCOMES[code] for code in answered]


def test_a_commit_tells_what_each_write_did(subject: Subject) -> None:
    assert outcomes(subject, ("person", {"id": "p", "a": 1}, True), ("contact", {"id": "c"}, True)) == [
        "new",
        "new",
    ]
    assert outcomes(subject, ("person", {"id": "p", "a": 2}, False)) == ["updated"]
    assert outcomes(subject, ("person", {"id": "p", "a": 2, "__updatedtime__": 1.0}, False)) == ["unchanged"]
    assert outcomes(subject, ("person", {"id": "p", "a": True}, False)) == ["updated"]  # true is not 2, nor 1
    assert outcomes(subject, ("person", {"id": "gone", "a": 1}, False)) == ["new"]  # a replacement of nothing
    before = subject.store.get("person", "p")
    assert outcomes(subject, ("person", {"id": "p", "a": True}, False)) == ["unchanged"]
    assert subject.store.get("person", "p") == before  # an unchanged record is not written (same times)


def test_a_preview_tells_what_a_commit_would_do_and_writes_nothing(subject: Subject) -> None:
    commit(subject, ("person", {"id": "p", "a": [1, 2]}, True))
    assert outcomes(
        subject,
        ("person", {"id": "p", "a": [1, 2]}, False),
        ("person", {"id": "q"}, True),
        ("contact", {"id": "c"}, False),
        preview=True,
    ) == ["unchanged", "new", "new"]
    assert outcomes(subject, ("person", {"id": "p", "a": [2, 1]}, False), preview=True) == ["updated"]
    with pytest.raises(StoreError):
        outcomes(subject, ("person", {"id": "p"}, True), preview=True)  # an insert of a stored key
    assert subject.store.get("person", "q") is None and subject.store.get("contact", "c") is None
    assert plain(subject.store.get("person", "p")) == {"id": "p", "a": [1, 2]}


def test_tables_lists_every_table_of_the_database_with_its_primary_key(subject: Subject) -> None:
    assert subject.store.tables() == {"person": "id", "contact": "id"}
