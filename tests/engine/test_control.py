"""Control file validation (spec §2.2): five checks, exact messages, order."""

from __future__ import annotations

from typing import Any

import pytest

from engine import FILTERS, READERS, RECORD_PROCESSORS, validate_control
from engine.control import FOR_EACH_OVERWRITE
from engine.instructions import INSTRUCTIONS

MODELS = {"test:items"}


def valid(**changes: Any) -> dict[str, Any]:
    control: dict[str, Any] = {
        "dataImportControlFileVersion": 0,
        "model": "test:items",
        "files": {"DEFAULT": {"read": "json"}},
        "instructions": [],
    }
    control.update(changes)
    return {k: v for k, v in control.items() if v is not ...}


def errors(**changes: Any) -> list[str]:
    return validate_control(valid(**changes), MODELS)


def test_valid_control_file() -> None:
    assert errors() == []
    assert errors(anything_else=1, mapping={}) == []


def test_version_check() -> None:
    assert errors(dataImportControlFileVersion=...) == ["Not a control file"]
    assert errors(dataImportControlFileVersion="0") == ["Bad version of control file, should be 0"]
    assert errors(dataImportControlFileVersion=1) == ["Bad version of control file, should be 0"]
    assert errors(dataImportControlFileVersion=False) == ["Bad version of control file, should be 0"]
    assert errors(dataImportControlFileVersion=None) == ["Bad version of control file, should be 0"]
    assert errors(dataImportControlFileVersion=0.0) == []


def test_model_check() -> None:
    assert errors(model=...) == ["Control file does not specify model in the model property"]
    assert errors(model="") == ["Control file does not specify model in the model property"]
    assert errors(model="test:other") == ["Model not implemented: test:other"]


def test_instructions_check() -> None:
    message = "Control file does not specify processing instructions in the instructions property"
    assert errors(instructions=...) == [message]
    assert errors(instructions={"a": 1}) == [message]


def test_unknown_and_missing_action() -> None:
    assert errors(instructions=[{"action": "frobnicate"}]) == ["Unknown action in instruction: frobnicate"]
    assert errors(instructions=[{"action": "set-attribute-group"}]) == [
        "Unknown action in instruction: set-attribute-group"
    ]
    assert errors(instructions=[{}]) == [
        "Expected property not found in field instruction: source, destination, name"
    ]
    assert errors(instructions=["text"]) == [
        "Expected property not found in field instruction: source, destination, name"
    ]


@pytest.mark.parametrize(("action", "required"), sorted((a, i.required) for a, i in INSTRUCTIONS.items()))
def test_required_properties_are_checked_by_presence(action: str, required: tuple[str, ...]) -> None:
    assert errors(instructions=[{"action": action}]) == [
        f"Expected property not found in {action} instruction: {', '.join(required)}"
    ]
    present = {p: None for p in required}
    assert errors(instructions=[{"action": action, **present}]) == []


def test_nested_lists_are_validated_depth_first_in_order() -> None:
    instructions = [
        {
            "action": "if-exists",
            "source": "a",
            "then": [{"action": "within", "source": "b", "instructions": [{"action": "x1"}]}],
        },
        {"action": "x2"},
    ]
    assert errors(instructions=instructions) == ["Unknown action in instruction: x1"]
    assert errors(
        instructions=[{"action": "if-has-value", "destination": "d", "name": "n", "else": [{"action": "x3"}]}]
    ) == ["Unknown action in instruction: x3"]


def test_load_otherwise_is_not_validated() -> None:
    load = {"action": "load", "destination": "d", "using": "load:by-ref", "otherwise": [{"action": "nope"}]}
    assert errors(instructions=[load]) == []


def field(**extra: Any) -> dict[str, Any]:
    return {"source": "x", "destination": "item", "name": "a", **extra}


def loop(*body: Any) -> dict[str, Any]:
    return {"action": "for-each", "source": "list", "instructions": list(body)}


def test_for_each_overwrite_rule() -> None:
    assert errors(instructions=[loop(field())]) == [FOR_EACH_OVERWRITE]
    assert errors(instructions=[{"action": "new", "destination": "item"}, loop(field())]) == [
        FOR_EACH_OVERWRITE
    ]
    assert errors(instructions=[loop({"action": "new", "destination": "item"}, field())]) == []
    assert errors(instructions=[loop({"action": "load", "destination": "item", "using": "u"}, field())]) == []
    assert errors(instructions=[loop(field(multivalue=True))]) == []
    assert errors(instructions=[loop(field(multivalue=0))]) == [FOR_EACH_OVERWRITE]
    assert errors(instructions=[loop(field(destination="load:by-ref"))]) == []
    assert errors(instructions=[loop(field(destination="value:person-name"))]) == [FOR_EACH_OVERWRITE]
    structured = {"action": "field-structured", "structured": "s", "destination": "item", "name": "a"}
    assert errors(instructions=[loop(structured)]) == [FOR_EACH_OVERWRITE]
    set_value = {"action": "set-value", "destination": "item", "name": "a", "value": 1}
    assert errors(instructions=[loop(set_value)]) == [FOR_EACH_OVERWRITE]


def test_for_each_rule_sees_new_inside_nested_ifs_but_not_outer_loops() -> None:
    new_in_if = {"action": "if-exists", "source": "q", "then": [{"action": "new", "destination": "item"}]}
    assert errors(instructions=[loop(new_in_if, field())]) == []
    inner_after_outer_new = loop({"action": "new", "destination": "item"}, loop(field()))
    assert errors(instructions=[inner_after_outer_new]) == [FOR_EACH_OVERWRITE]
    assert errors(instructions=[loop(field(), {"action": "new", "destination": "item"})]) == [
        FOR_EACH_OVERWRITE
    ]


def test_filters_are_checked_on_every_value_instruction() -> None:
    assert errors(instructions=[field(filters="haplo:to-string")]) == ["'filters' property is not an array"]
    assert errors(instructions=[field(filters=["haplo:nope"])]) == ["Filter haplo:nope is not available."]
    assert errors(instructions=[field(filters=list(FILTERS))]) == []
    set_value = {"action": "set-value", "destination": "item", "name": "a", "value": 1, "filters": ["x:y"]}
    assert errors(instructions=[set_value]) == ["Filter x:y is not available."]
    structured = {
        "action": "field-structured",
        "structured": "s",
        "destination": "d",
        "name": "n",
        "filters": 3,
    }
    assert errors(instructions=[structured]) == ["'filters' property is not an array"]
    assert errors(instructions=[{"action": "new", "destination": "d", "filters": ["x:y"]}]) == []


def test_files_check_reports_the_last_failing_entry() -> None:
    assert errors(files=...) == ["Control file does not have files property"]
    assert errors(files={"a": {"read": "json"}, "b": {}}) == ["Reader not specified for file b"]
    assert errors(files={"a": {"read": "nope"}, "b": {}, "c": {"read": "json"}}) == [
        "Reader not specified for file b"
    ]
    assert errors(files={"a": {}, "b": {"read": "nope"}}) == ["Unknown reader for file b: nope"]
    assert errors(files={"a": "json"}) == ["Reader not specified for file a"]
    assert errors(files={name: {"read": name} for name in READERS}) == []


def test_record_processor_check(monkeypatch: pytest.MonkeyPatch) -> None:
    message = "Unknown record processor specified in recordProcessor property: example:combine-files"
    assert errors(recordProcessor="example:combine-files") == [message]
    monkeypatch.setitem(RECORD_PROCESSORS, "example:combine-files", lambda sources: sources)
    assert errors(recordProcessor="example:combine-files") == []


def test_all_five_checks_in_order_one_message_each() -> None:
    control = {
        "dataImportControlFileVersion": "0",
        "files": {"DEFAULT": {"read": "no-such-reader"}},
        "instructions": [{"action": "frobnicate"}, {"action": "other"}],
        "recordProcessor": "p",
    }
    assert validate_control(control, MODELS) == [
        "Bad version of control file, should be 0",
        "Control file does not specify model in the model property",
        "Unknown action in instruction: frobnicate",
        "Unknown reader for file DEFAULT: no-such-reader",
        "Unknown record processor specified in recordProcessor property: p",
    ]


def test_non_object_control_file() -> None:
    assert validate_control([1, 2], MODELS) == [
        "Not a control file",
        "Control file does not specify model in the model property",
        "Control file does not specify processing instructions in the instructions property",
        "Control file does not have files property",
    ]
