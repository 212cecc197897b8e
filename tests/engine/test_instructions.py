"""The 14 instructions (spec §5) run through run_batch against the in-memory store."""

from __future__ import annotations

from typing import Any

from engine import Model
from tests.engine.fakes import MemoryStore
from tests.engine.helpers import items_model, person_model, run

NEW = {"action": "new", "destination": "item"}


def field(source: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "destination": "item", "name": name, **extra}


def set_value(name: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"action": "set-value", "destination": "item", "name": name, "value": value, **extra}


# -- field ----------------------------------------------------------------------------


def test_field_presence_rule() -> None:
    model = items_model({"v": {}, "n": {"type": "integer"}, "j": {"type": "json"}})
    records = [{"v": 0}, {"v": ""}, {"v": False}, {"v": None}, {}, {"v": "x"}, {"j": {}}, {"j": []}, {"n": 0}]
    result = run(model, [NEW, field("v", "v"), field("j", "j"), field("n", "n")], records)
    expected: list[dict[str, Any]] = [{"v": "0"}, {}, {}, {}, {}, {"v": "x"}, {"j": {}}, {"j": []}, {"n": 0}]
    assert [{k: v for k, v in row.items() if k != "id"} for row in result.rows("item")] == expected


def test_absent_value_does_not_get_the_target() -> None:
    result = run(items_model(optional=True), [field("missing", "a")], [{}])
    assert result.lines == []
    assert result.outcome.errors == 0


def test_field_multivalue_semantics() -> None:
    model = items_model({"single": {}, "multi": {"multivalue": True}})
    instructions = [
        NEW,
        field("a", "single", multivalue=True),
        field("b", "single", multivalue=True),
        field("a", "multi"),
        field("b", "multi", multivalue=True),
        field("c", "multi", multivalue=True),
    ]
    result = run(model, instructions, [{"a": "A", "b": "B", "c": "C"}])
    (row,) = result.rows("item")
    assert row["single"] == "B"
    assert row["multi"] == ["A", "B", "C"]


def test_conversion_errors_do_not_abort_the_record() -> None:
    model = items_model({"n": {"type": "integer"}, "a": {}})
    result = run(model, [NEW, field("n", "n"), field("a", "a")], [{"n": "x", "a": "kept"}])
    assert result.lines == ["Invalid integer for input field n: x (record 0)"]
    assert [{k: v for k, v in r.items() if k != "id"} for r in result.rows("item")] == [{"a": "kept"}]
    assert result.outcome.committed == 1


def test_mapping_then_filters_in_order_then_type() -> None:
    model = items_model({"w": {}, "w2": {}, "n": {"type": "integer"}})
    instructions = [
        NEW,
        field(
            "v", "w", mapInputValue={"X": "example.org"}, filters=["haplo:to-upper-case", "haplo:fix-up-url"]
        ),
        field(
            "v", "w2", filters=["haplo:fix-up-url", "haplo:to-upper-case"], mapInputValue={"X": "example.org"}
        ),
        field("c", "n", mapInputValue={"1": "10", "toString": "99"}, mapInputValueDefault="7"),
    ]
    result = run(
        model, instructions, [{"v": "X", "c": 1}, {"v": "other.org", "c": "toString"}, {"v": "y", "c": 3}]
    )
    rows = [{k: v for k, v in r.items() if k != "id"} for r in result.rows("item")]
    assert rows == [
        {"w": "https://EXAMPLE.ORG", "w2": "HTTPS://EXAMPLE.ORG", "n": 10},
        {"w": "https://OTHER.ORG", "w2": "HTTPS://OTHER.ORG", "n": 99},
        {"w": "Y", "w2": "Y", "n": 7},
    ]


def test_map_input_value_own_keys_only_and_passthrough() -> None:
    model = items_model({"a": {}})
    instructions = [NEW, field("v", "a", mapInputValue={"1": "one"})]
    result = run(model, instructions, [{"v": "constructor"}, {"v": 1}, {"v": True}])
    assert sorted(r["a"] for r in result.rows("item")) == ["constructor", "one", "true"]


def test_filter_undefined_ends_pipeline() -> None:
    model = items_model({"a": {}})
    result = run(
        model,
        [NEW, field("v", "a", filters=["haplo:string-to-ref", "haplo:to-string"])],
        [{"v": "has space"}],
    )
    assert result.outcome.exception is None
    assert [{k: v for k, v in r.items() if k != "id"} for r in result.rows("item")] == [{}]


# -- set-value ----------------------------------------------------------------------


def test_set_value_converted_once_per_batch() -> None:
    model = items_model({"n": {"type": "integer"}, "s": {}, "b": {"type": "boolean"}, "e": {}})
    instructions = [NEW, set_value("n", "abc"), set_value("s", ""), set_value("b", False), set_value("e", 0)]
    result = run(model, instructions, [{}, {}, {}])
    assert result.lines == ["Invalid integer for set value item/n: abc (record 0)"]
    assert result.outcome.errors == 1
    assert all(
        r["s"] == "" and r["b"] is False and r["e"] == "0" and "n" not in r for r in result.rows("item")
    )


def test_set_value_filter_runs_once() -> None:
    calls: list[Any] = []
    from engine import FILTERS

    def counting(ctx: Any) -> Any:
        def run_filter(value: Any) -> Any:
            calls.append(value)
            return value

        return run_filter

    FILTERS["test:count"] = counting
    try:
        run(items_model(), [NEW, set_value("a", "x", filters=["test:count"])], [{}, {}, {}])
    finally:
        del FILTERS["test:count"]
    assert calls == ["x"]


def test_set_value_multivalue() -> None:
    model = items_model({"single": {}, "multi": {"multivalue": True}})
    instructions = [
        NEW,
        set_value("single", "xyz", multivalue=True),
        set_value("single", "123", multivalue=True),
        set_value("multi", "mno"),
        set_value("multi", "qwe"),
        set_value("multi", "rst", multivalue=True),
    ]
    (row,) = run(model, instructions).rows("item")
    assert row["single"] == "123" and row["multi"] == ["qwe", "rst"]


# -- field-structured ----------------------------------------------------------------


def profile_new() -> dict[str, Any]:
    return {"action": "new", "destination": "profile"}


def name_part(source: str, part: str) -> dict[str, Any]:
    return {"source": source, "destination": "value:person-name", "name": part}


STRUCTURED = {
    "action": "field-structured",
    "structured": "value:person-name",
    "destination": "profile",
    "name": "title",
}


def test_field_structured_builds_and_clears() -> None:
    instructions = [
        profile_new(),
        name_part("f", "first"),
        name_part("l", "last"),
        STRUCTURED,
        profile_new(),
        STRUCTURED,
    ]
    result = run(person_model(), instructions, [{"f": "Joe", "l": "Bloggs"}])
    assert result.lines == [
        "title is not set in object profile (record 0)",
        "To set defaults for title, see example of if-has-value instruction at "
        "https://docs.haplo.org/import/control/instruction/if-has-value (record 0)",
    ]
    assert result.rows("profile") == []


def test_field_structured_person_name_variants() -> None:
    instructions = [
        profile_new(),
        {"action": "set-value", "destination": "value:person-name", "name": "title", "value": ""},
        name_part("f", "first"),
        name_part("l", "last"),
        STRUCTURED,
    ]
    result = run(person_model(), instructions, [{"f": "Joe", "l": "Bloggs"}, {"l": 5}])
    titles = [r["title"] for r in result.rows("profile")]
    assert titles == [{"first": "Joe", "last": "Bloggs"}, {"last": "5"}]


def test_field_structured_postal_address_empty_is_reported() -> None:
    instructions = [
        profile_new(),
        {"action": "set-value", "destination": "value:person-name", "name": "last", "value": "S"},
        STRUCTURED,
        {
            "action": "field-structured",
            "structured": "value:postal-address",
            "destination": "profile",
            "name": "address",
        },
    ]
    result = run(person_model(), instructions, [{}])
    assert result.lines == [
        "Missing or invalid country code in postal address, must be two letter ISO code: {} (record 0)"
    ]
    assert result.outcome.committed == 1


# -- remove-values, if-*, within, for-each --------------------------------------------


def test_remove_values() -> None:
    store = MemoryStore()
    store.insert("item", {"id": "i1", "a": "x", "m": ["1", "2"]})
    model = items_model({"a": {}, "m": {"multivalue": True}}, lookupNames=["a"])
    instructions = [
        {"source": "key", "destination": "load:by-a", "name": "a"},
        {"action": "load", "destination": "item", "using": "load:by-a"},
        {"action": "remove-values", "destination": "item", "name": "m"},
    ]
    result = run(model, instructions, [{"key": "x"}], store=store)
    assert result.rows("item") == [{"id": "i1", "a": "x"}]
    assert store.commits[0][0].is_new is False


def test_if_exists_then_and_else() -> None:
    model = items_model({"r": {}})
    instructions = [
        NEW,
        {
            "action": "if-exists",
            "source": "n",
            "then": [set_value("r", "yes")],
            "else": [set_value("r", "no")],
        },
    ]
    result = run(model, instructions, [{"n": 0}, {"n": ""}, {"n": False}, {}, {"n": []}, {"n": None}])
    assert [r["r"] for r in result.rows("item")] == ["yes", "no", "no", "no", "yes", "no"]


def test_if_value_one_of_is_strict() -> None:
    model = items_model({"r": {}})
    instructions = [
        NEW,
        {
            "action": "if-value-one-of",
            "source": "v",
            "values": [1, "true", None],
            "then": [set_value("r", "then")],
            "else": [set_value("r", "else")],
        },
    ]
    records = [{"v": 1}, {"v": 1.0}, {"v": "1"}, {"v": True}, {"v": "true"}, {"v": None}, {}, {"v": [1]}]
    result = run(model, instructions, records)
    assert [r["r"] for r in result.rows("item")] == [
        "then",
        "then",
        "else",
        "else",
        "then",
        "then",
        "else",
        "else",
    ]


def test_if_value_one_of_grouping_idiom() -> None:
    model = items_model({"r": {}})
    group = {
        "action": "if-value-one-of",
        "source": "NOT_IN_INPUT",
        "values": [True],
        "else": [NEW, set_value("r", "x")],
    }
    assert [r["r"] for r in run(model, [group]).rows("item")] == ["x"]


def test_if_has_value() -> None:
    model = items_model({"title": {"required": True}, "m": {"multivalue": True}})
    instructions = [
        NEW,
        {"source": "title", "destination": "item", "name": "title"},
        {
            "action": "if-has-value",
            "destination": "item",
            "name": "title",
            "else": [set_value("title", "Unnamed")],
        },
    ]
    result = run(model, instructions, [{"title": "A Book"}, {}, {"title": ""}])
    assert [r["title"] for r in result.rows("item")] == ["A Book", "Unnamed", "Unnamed"]


def test_if_has_value_needs_a_ready_destination() -> None:
    instructions = [{"action": "if-has-value", "destination": "item", "name": "a", "then": [], "else": []}]
    result = run(items_model(), instructions)
    assert result.lines == [
        'Destination "item" needs be made ready with a "new" or "load" instruction (record 0)'
    ]


def test_within() -> None:
    model = items_model({"city": {}, "r": {}})
    instructions = [
        NEW,
        {"action": "within", "source": "address", "instructions": [field("city", "city")]},
        {"action": "within", "source": "empty", "instructions": [set_value("r", "ran")]},
    ]
    records = [
        {"address": {"city": "Town"}, "empty": {}},
        {"address": "str", "empty": 0},
        {"address": [{"city": "x"}]},
    ]
    rows = [{k: v for k, v in r.items() if k != "id"} for r in run(model, instructions, records).rows("item")]
    assert rows == [{"city": "Town", "r": "ran"}, {}, {}]


def test_for_each_over_arrays_objects_and_scalars() -> None:
    model = items_model({"v": {"multivalue": True}})
    instructions = [
        NEW,
        {"action": "for-each", "source": "list", "instructions": [field("x", "v", multivalue=True)]},
        {
            "action": "for-each",
            "source": "plain",
            "wrapValues": True,
            "instructions": [field("value", "v", multivalue=True)],
        },
    ]
    records = [
        {"list": [{"x": "a"}, "skip", {"x": "b"}], "plain": ["p", 0, None]},
        {"list": {"k1": {"x": "c"}, "k2": {"x": "d"}}, "plain": "chars"},
        {"list": None, "plain": 5},
    ]
    rows = [r.get("v") for r in run(model, instructions, records).rows("item")]
    assert rows == [["a", "b", "p", "0"], ["c", "d"], None]


def test_for_each_new_creates_dependent_records() -> None:
    model = Model.from_json(
        {
            "name": "test:supervision",
            "destinations": [
                {"name": "project", "names": {"title": {"required": True}}},
                {
                    "name": "supervision",
                    "kind": "dictionary",
                    "depends": "project",
                    "linkName": "project",
                    "optional": True,
                    "names": {"who": {}, "project": {"type": "ref", "multivalue": True}},
                },
            ],
        }
    )
    instructions = [
        {"action": "new", "destination": "project"},
        {"source": "title", "destination": "project", "name": "title"},
        {
            "action": "for-each",
            "source": "people",
            "wrapValues": True,
            "instructions": [
                {"action": "new", "destination": "supervision"},
                {"source": "value", "destination": "supervision", "name": "who"},
            ],
        },
    ]
    result = run(model, instructions, [{"title": "A", "people": ["x", "y"]}, {"title": "B", "people": []}])
    projects = {r["title"]: r["id"] for r in result.rows("project")}
    assert sorted((r["who"], r["project"]) for r in result.rows("supervision")) == [
        ("x", [projects["A"]]),
        ("y", [projects["A"]]),
    ]


def test_abort_record_and_log_error() -> None:
    model = items_model({"a": {}})
    instructions = [
        NEW,
        field("a", "a"),
        {
            "action": "if-exists",
            "source": "bad",
            "then": [{"action": "abort-record", "message": "Bad record"}],
        },
        {"action": "abort-record", "message": ""}
        if False
        else {"action": "log-error", "message": "Still processing"},
        {
            "action": "if-exists",
            "source": "silent",
            "then": [{"action": "abort-record", "message": None}, {"action": "log-error", "message": 0}],
        },
    ]
    result = run(model, instructions, [{"a": "A", "bad": 1}, {"a": "B"}, {"a": "C", "silent": 1}])
    assert result.lines == [
        "Bad record (record 0)",
        "Still processing (record 0)",
        "Still processing (record 1)",
        "Still processing (record 2)",
        "abort (record 2)",
        "error (record 2)",
    ]
    assert [r["a"] for r in result.rows("item")] == ["B"]


# -- new, load, dependents, assert-destination ----------------------------------------


def test_new_checks_and_queues_the_previous_target() -> None:
    model = items_model({"a": {"required": True}})
    instructions = [NEW, field("x", "a"), NEW, field("y", "a")]
    result = run(model, instructions, [{"x": "1", "y": "2"}, {"y": "3"}])
    assert result.lines == ["Missing values in item: a (record 1)"]
    assert sorted(r["a"] for r in result.rows("item")) == ["1", "2"]
    assert len(result.store.commits) == 1 and len(result.store.commits[0]) == 2


def test_load_by_ref_updates_and_unchanged_records_are_not_written() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"last": "One"}, "type": "person", "job_title": ["Old"]})
    store.insert("profile", {"id": "p2", "title": {"last": "Two"}, "type": "person"})
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {"action": "load", "destination": "profile", "using": "load:by-ref"},
        {"source": "job", "destination": "profile", "name": "job_title", "multivalue": True},
    ]
    result = run(person_model(), instructions, [{"ref": "p1", "job": "New"}, {"ref": "p2"}], store=store)
    assert result.lines == []
    assert store.rows("profile")[0] == {
        "id": "p1",
        "title": {"last": "One"},
        "type": "person",
        "job_title": ["Old", "New"],
    }
    assert len(store.commits) == 1 and store.commits[0][0].is_new is False
    assert result.outcome.committed == 2


def test_load_failure_aborts_and_later_access_reports_not_ready() -> None:
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {"action": "load", "destination": "profile", "using": "load:by-ref"},
        {"source": "job", "destination": "profile", "name": "job_title"},
        {"source": "job", "destination": "profile", "name": "job_title"},
    ]
    result = run(person_model(), instructions, [{"ref": "missing", "job": "x"}])
    assert result.lines == [
        "Couldn't load destination: profile (record 0)",
        'Destination "profile" needs be made ready with a "new" or "load" instruction (record 0)',
    ]


def test_load_otherwise_and_clearing_using() -> None:
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {
            "action": "load",
            "destination": "profile",
            "using": "load:by-ref",
            "otherwise": [
                {"action": "new", "destination": "profile"},
                {"action": "set-value", "destination": "value:person-name", "name": "last", "value": "New"},
                STRUCTURED,
            ],
        },
    ]
    result = run(person_model(), instructions, [{"ref": "nobody"}])
    assert result.lines == []
    assert [r["title"] for r in result.rows("profile")] == [{"last": "New"}]
    # the using target was cleared: a second load finds no ref; its empty otherwise leaves no target
    again = run(
        person_model(),
        [
            *instructions,
            {"action": "load", "destination": "profile", "using": "load:by-ref", "otherwise": []},
        ],
        [{"ref": "nobody"}],
    )
    assert again.lines == ["No data set in required destination profile (record 0)"]


def test_load_by_lookup_name_and_ambiguity() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"last": "A"}, "type": "person", "email": ["a@x.org"]})
    store.insert(
        "profile", {"id": "p2", "title": {"last": "B"}, "type": "person", "email": ["b@x.org", "dup@x.org"]}
    )
    store.insert("profile", {"id": "p3", "title": {"last": "C"}, "type": "person", "email": ["dup@x.org"]})
    instructions = [
        {"source": "email", "destination": "load:by-email", "name": "email"},
        {
            "action": "load",
            "destination": "profile",
            "using": "load:by-email",
            "otherwise": [{"action": "log-error", "message": "otherwise"}],
        },
        {"source": "job", "destination": "profile", "name": "job_title"},
    ]
    records = [
        {"email": "b@x.org", "job": "Dean"},
        {"email": "dup@x.org", "job": "X"},
        {"email": "none@x.org"},
    ]
    result = run(person_model(), instructions, records, store=store)
    assert result.lines == [
        "Ambiguous load for destination profile: 2 records match (record 1)",
        'Destination "profile" needs be made ready with a "new" or "load" instruction (record 1)',
        "otherwise (record 2)",
        "No data set in required destination profile (record 2)",
    ]
    assert store.rows("profile")[1]["job_title"] == ["Dean"]


def test_dependent_destination_loads_oldest_linked_record() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"last": "A"}, "type": "person"})
    store.insert("book", {"id": "b1", "title": "First", "author": "p1"})
    store.insert("book", {"id": "b2", "title": "Second", "author": "p1"})
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {"action": "load", "destination": "profile", "using": "load:by-ref"},
        {"source": "t", "destination": "book", "name": "title"},
    ]
    result = run(person_model(), instructions, [{"ref": "p1", "t": "Renamed"}], store=store)
    assert result.lines == []
    assert store.rows("book") == [
        {"id": "b1", "title": "Renamed", "author": "p1"},
        {"id": "b2", "title": "Second", "author": "p1"},
    ]


def test_dependent_of_new_parent_is_new_and_linked() -> None:
    instructions = [
        profile_new(),
        {"action": "set-value", "destination": "value:person-name", "name": "last", "value": "P"},
        STRUCTURED,
        {"source": "t", "destination": "book", "name": "title"},
    ]
    result = run(person_model(), instructions, [{"t": "Book"}])
    (profile,) = result.rows("profile")
    assert result.rows("book") == [
        {"id": result.rows("book")[0]["id"], "title": "Book", "author": profile["id"]}
    ]


def test_dependent_without_ready_parent_reports_chain() -> None:
    result = run(person_model(), [{"source": "t", "destination": "book", "name": "title"}], [{"t": "x"}])
    assert result.lines == [
        'Destination "profile" needs be made ready with a "new" or "load" instruction, required by use of book  (record 0)'
    ]


def test_dependent_without_link_name_cannot_be_made_available() -> None:
    model = Model.from_json(
        {
            "name": "m",
            "destinations": [
                {"name": "p", "names": {"a": {}}},
                {"name": "c", "depends": "p", "optional": True, "names": {"b": {}}},
            ],
        }
    )
    instructions = [{"action": "new", "destination": "p"}, {"source": "b", "destination": "c", "name": "b"}]
    result = run(model, instructions, [{"b": "x"}])
    assert result.lines == ['Couldn\'t make destination "c" available from dependency "p" (record 0)']


def test_target_depth_limit() -> None:
    destinations: list[dict[str, Any]] = [{"name": "d0", "names": {"a": {}}}]
    for i in range(1, 19):
        destinations.append(
            {
                "name": f"d{i}",
                "depends": f"d{i - 1}",
                "linkName": "up",
                "optional": True,
                "names": {"up": {"type": "ref"}, "a": {}},
            }
        )
    model = Model.from_json({"name": "deep", "destinations": destinations})
    instructions = [
        {"action": "new", "destination": "d0"},
        {"source": "a", "destination": "d18", "name": "a"},
    ]
    result = run(model, instructions, [{"a": "x"}])
    assert result.outcome.exception == "getTarget() maximum recursion limit exceeded"
    ok = run(
        model,
        [{"action": "new", "destination": "d0"}, {"source": "a", "destination": "d16", "name": "a"}],
        [{"a": "x"}],
    )
    assert ok.outcome.exception is None and ok.outcome.committed == 1


def test_assert_destination_checks_the_store() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"last": "A"}, "type": "person"})
    store.insert("profile", {"id": "p2", "title": {"last": "B"}, "type": "person"})
    store.insert("book", {"id": "b1", "title": "Existing", "author": "p1"})
    instructions = [
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        {"action": "load", "destination": "profile", "using": "load:by-ref"},
        {"action": "assert-destination", "destination": "book", "exists": True},
        {"source": "job", "destination": "profile", "name": "job_title"},
    ]
    result = run(
        person_model(), instructions, [{"ref": "p1", "job": "a"}, {"ref": "p2", "job": "b"}], store=store
    )
    assert result.lines == ["assert-destination failed: book (record 1)"]
    assert [r.get("job_title") for r in store.rows("profile")] == [["a"], None]
    assert store.rows("book") == [{"id": "b1", "title": "Existing", "author": "p1"}]


# -- setup errors ---------------------------------------------------------------------


def test_setup_errors_have_no_suffix_and_drop_the_instruction() -> None:
    model = items_model({"a": {}, "d": {"type": "datetime"}}, kind="object")
    model_q = Model.from_json(
        {"name": "q", "qualifiers": ["q:ok"], "destinations": [{"name": "item", "names": {"a": {}}}]}
    )
    instructions = [
        NEW,
        {"source": "a", "destination": "nowhere", "name": "a"},
        {"source": "a", "destination": "item", "name": "nope"},
        {"action": "remove-values", "destination": "nowhere", "name": "a"},
        {"action": "remove-values", "destination": "item", "name": "nope"},
        {"action": "set-value", "destination": "item", "name": "d", "value": "x"},
        {"action": "field-structured", "structured": "value:nothing", "destination": "item", "name": "a"},
        {"action": "assert-destination", "destination": "nowhere", "exists": True},
        {"action": "assert-destination", "destination": "item", "exists": True},
        {"action": "if-has-value", "destination": "item", "name": "nope"},
        field("a", "a"),
    ]
    result = run(model, instructions, [{"a": "kept"}])
    assert result.lines == [
        "Unknown destination in field: nowhere",
        "Unknown name in field nope for destination item",
        "Unknown destination in remove-values: nowhere",
        "Unknown name in remove-values for destination item",
        "Date format not specified for set value item/d",
        "Couldn't create value transformer for set-value item/d",
        "Unknown structured value destination in field-structured: value:nothing",
        "Unknown destination in assert-destination: nowhere",
        "Can only use dependent destinations in assert-destination: item",
        "Unknown name in if-has-value nope for destination item",
    ]
    assert [r["a"] for r in result.rows("item")] == ["kept"]
    qualified = run(
        model_q, [NEW, field("a", "a", qualifier="q:bad"), field("a", "a", qualifier="q:ok")], [{"a": "v"}]
    )
    assert qualified.lines == ["Invalid qualifier 'q:bad' in field item/a"]
    assert [r["a"] for r in qualified.rows("item")] == ["v"]


def test_otherwise_lists_are_compiled_at_setup() -> None:
    instructions = [
        {
            "action": "load",
            "destination": "profile",
            "using": "load:by-ref",
            "otherwise": [{"action": "frobnicate"}, {"action": "new"}, profile_new()],
        }
    ]
    result = run(person_model(), instructions, [{}])
    assert result.lines[:2] == [
        "Unknown action in instruction: frobnicate",
        "Expected property not found in new instruction: destination",
    ]


# -- pseudo destinations --------------------------------------------------------------


def test_leftover_pseudo_targets_are_never_committed() -> None:
    instructions = [
        profile_new(),
        {"action": "set-value", "destination": "value:person-name", "name": "last", "value": "P"},
        STRUCTURED,
        {"source": "ref", "destination": "load:by-ref", "name": "ref", "filters": ["haplo:string-to-ref"]},
        name_part("f", "first"),
    ]
    result = run(person_model(), instructions, [{"ref": "r1", "f": "left over"}])
    assert result.lines == []
    (writes,) = result.store.commits
    assert [w.table for w in writes] == ["profile"]


def test_new_on_a_pseudo_destination_checks_the_outgoing_record() -> None:
    instructions = [
        profile_new(),
        name_part("f", "first"),
        {"action": "new", "destination": "value:person-name"},
        name_part("l", "last"),
        {
            "action": "if-has-value",
            "destination": "value:person-name",
            "name": "first",
            "then": [{"action": "log-error", "message": "kept first"}],
        },
        {"action": "remove-values", "destination": "value:person-name", "name": "last"},
        STRUCTURED,
    ]
    result = run(person_model(), instructions, [{"f": "Joe", "l": "Bloggs"}])
    # the record is aborted by the check of the outgoing pseudo target, so final checks are skipped
    assert result.lines == ["Missing values in value:person-name: last (record 0)"]
    assert result.rows("profile") == []
