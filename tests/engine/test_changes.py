"""The engine's counts of what a run did (new/updated/unchanged per table, a dry run's sample) and
the re-run rule (:func:`engine.rerun.rerun_problem`)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.changes import MAX_VALUE_CHARS, SAMPLE_SIZE, changed_names, same_json
from engine.rerun import rerun_problem
from tests.engine.fakes import MemoryStore
from tests.engine.helpers import control_for, items_model, person_model, run
from tests.support.summary_data import by_email_control

BY_EMAIL = by_email_control()["instructions"][1:]  # without its first, the abort of a "skip" record
NAME = [
    i
    for i in BY_EMAIL
    if i.get("destination") == "value:person-name" or i.get("action") == "field-structured"
]


def stored() -> MemoryStore:
    store = MemoryStore()
    store.insert(
        "profile", {"id": "a", "title": {"first": "A", "last": "One"}, "email": ["a@x.org"], "type": "person"}
    )
    store.insert(
        "profile", {"id": "b", "title": {"first": "B", "last": "Two"}, "email": ["b@x.org"], "type": "person"}
    )
    return store


INPUT = [
    {"first": "A", "last": "One", "email": "a@x.org"},  # unchanged
    {"first": "B", "last": "Too", "email": "b@x.org"},  # updated
    {"first": "C", "last": "Three", "email": "c@x.org"},  # new
    {"email": "d@x.org"},  # failed: no title
]


@pytest.mark.parametrize("dry_run", [False, True])
def test_runs_count_each_tables_new_updated_and_unchanged_records(dry_run: bool) -> None:
    result = run(person_model(), BY_EMAIL, INPUT, store=stored(), dry_run=dry_run)
    outcome = result.outcome
    assert outcome.counts is not None
    rows = outcome.counts.as_dict()["destinations"]
    assert [(r["table"], r["destinations"], r["new"], r["updated"], r["unchanged"]) for r in rows] == [
        ("profile", ["profile"], 1, 1, 1),
        ("book", ["book"], 0, 0, 0),
    ]
    assert (outcome.records, outcome.failed) == (4, 1)
    assert (outcome.committed, outcome.skipped) == ((0, 3) if dry_run else (3, 0))
    if dry_run:
        assert result.store.commits == []
        assert rows[0]["sample"] == [
            {
                "key": "b",
                "changes": [
                    {
                        "name": "title",
                        "from": {"first": "B", "last": "Two"},
                        "to": {"first": "B", "last": "Too"},
                    }
                ],
            }
        ]
        assert rows[0]["sample_complete"] is True
    else:
        assert "sample" not in rows[0]


def test_a_dry_run_counts_generated_key_inserts_without_asking_the_store() -> None:
    store = MemoryStore()
    result = run(
        person_model(),
        [{"action": "new", "destination": "profile"}, *NAME],
        [{"first": "A", "last": "B"}] * 3,
        store=store,
        dry_run=True,
    )
    assert result.outcome.counts is not None
    assert result.outcome.counts.tables["profile"] == [3, 0, 0]
    assert store.reads == 0


def test_a_dry_run_keeps_a_bounded_sample() -> None:
    store = MemoryStore()
    for i in range(SAMPLE_SIZE + 5):
        store.insert("item", {"id": f"k{i}", "a": "old"})
    model = items_model({"a": {}, "id": {}}, lookupNames=["id"])
    instructions = [
        {"source": "id", "destination": "load:by-id", "name": "id"},
        {"action": "load", "destination": "item", "using": "load:by-id"},
        {"source": "a", "destination": "item", "name": "a"},
    ]
    records = [{"id": f"k{i}", "a": "x" * (MAX_VALUE_CHARS + 50)} for i in range(SAMPLE_SIZE + 5)]
    result = run(model, instructions, records, store=store, dry_run=True)
    assert result.outcome.counts is not None
    (row,) = result.outcome.counts.as_dict()["destinations"]
    assert (
        row["updated"] == SAMPLE_SIZE + 5 and len(row["sample"]) == SAMPLE_SIZE and not row["sample_complete"]
    )
    change = row["sample"][0]["changes"][0]
    assert change["from"] == "old" and change["to"] == "x" * MAX_VALUE_CHARS + "…"


def test_changed_names_and_json_equality() -> None:
    assert changed_names(
        {"id": 1, "a": 1, "b": [1], "__updatedtime__": 5}, {"id": 1, "a": True, "c": "x"}
    ) == [
        {"name": "a", "from": 1, "to": True},
        {"name": "b", "from": [1], "to": None},
        {"name": "c", "from": None, "to": "x"},
    ]
    assert same_json({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not same_json({"a": [1]}, {"a": [True]}) and not same_json([1], {"0": 1}) and not same_json(1, "1")


def control(instructions: list[Any]) -> dict[str, Any]:
    return control_for(person_model(), instructions)


@pytest.mark.parametrize(
    ("instructions", "problem"),
    [
        (BY_EMAIL, None),
        (
            [*BY_EMAIL, {"source": "notes", "destination": "book", "name": "title"}],
            None,
        ),  # a dependent: found again
        (
            [{"action": "new", "destination": "profile"}, *NAME],
            "'new profile' creates records that a second run would create again",
        ),
        (
            [*BY_EMAIL, {"source": "job", "destination": "profile", "name": "job_title", "multivalue": True}],
            "the field instruction on profile.job_title adds values (multivalue: true), and a second run would add them again",
        ),
        (
            [
                {"source": "ref", "destination": "load:by-ref", "name": "ref"},
                {
                    "action": "load",
                    "destination": "profile",
                    "using": "load:by-ref",
                    "otherwise": [{"action": "new", "destination": "profile"}],
                },
                *NAME,
            ],
            "'load profile' by ref creates records with new keys when not found, which a second run would not find",
        ),
        (
            [
                inst
                for inst in BY_EMAIL
                if inst.get("destination") != "profile" or inst.get("name") != "email"
            ],
            "records created when 'load profile' finds none never get email, so a second run would not find them",
        ),
        (
            [
                {"action": "if-exists", "source": "x", "then": [{"action": "new", "destination": "book"}]},
                *BY_EMAIL,
            ],
            "'new book' creates records that a second run would create again",
        ),
    ],
)
def test_the_rerun_rule(instructions: list[Any], problem: str | None) -> None:
    assert rerun_problem(control(instructions), person_model()) == problem


def test_a_change_between_a_number_and_a_boolean_is_written() -> None:
    """Python's ``1 == True`` must not hide a change: the record is updated, not left unchanged."""
    model = items_model({"code": {"type": "text"}, "flag": {"type": "boolean"}}, lookupNames=["code"])
    store = MemoryStore()
    store.insert("item", {"id": "i1", "code": "x", "flag": 1})
    store.insert("item", {"id": "i2", "code": "y", "flag": True})
    instructions = [
        {"source": "code", "destination": "load:by-code", "name": "code"},
        {"action": "load", "destination": "item", "using": "load:by-code"},
        {"source": "flag", "destination": "item", "name": "flag"},
    ]
    result = run(model, instructions, [{"code": "x", "flag": True}, {"code": "y", "flag": True}], store=store)
    assert result.lines == []
    assert result.outcome.counts.tables["item"] == [0, 1, 1]  # new, updated, unchanged
    assert {r["id"]: r["flag"] for r in store.rows("item")} == {"i1": True, "i2": True}
    assert type(store.rows("item")[0]["flag"]) is bool
