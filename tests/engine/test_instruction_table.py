"""The instruction table drives both control-file validation and compilation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from engine import validate_control
from engine.compile import Compiler, Instruction
from engine.instructions import INSTRUCTIONS
from engine.transform import Transformation
from tests.engine.helpers import control_for, items_model, run

NEW = {"action": "new", "destination": "item"}


def test_the_fourteen_actions() -> None:
    assert sorted(INSTRUCTIONS) == [
        "abort-record", "assert-destination", "field", "field-structured", "for-each", "if-exists",
        "if-has-value", "if-value-one-of", "load", "log-error", "new", "remove-values", "set-value", "within",
    ]  # fmt: skip
    assert {a for a, i in INSTRUCTIONS.items() if i.value} == {"field", "field-structured", "set-value"}
    assert {a for a, i in INSTRUCTIONS.items() if i.opens_target} == {"new", "load"}
    assert {a for a, i in INSTRUCTIONS.items() if i.starts_loop} == {"for-each"}
    assert {a: i.nested for a, i in INSTRUCTIONS.items() if i.nested} == {
        "if-exists": ("then", "else"),
        "if-value-one-of": ("then", "else"),
        "if-has-value": ("then", "else"),
        "within": ("instructions",),
        "for-each": ("instructions",),
    }
    assert all(i.required and all(i.required) for i in INSTRUCTIONS.values())


def compile_shout(instruction: Mapping[str, Any], action: str, c: Compiler) -> Any:
    message = f"{action}: {instruction['message']}"

    def shout(tr: Transformation, context: dict[str, Any]) -> None:
        c.env.report(message)

    return shout


@pytest.fixture
def shout(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extra action registered with one entry: ``x-shout`` (needs ``message``, nests ``body``)."""
    monkeypatch.setitem(INSTRUCTIONS, "x-shout", Instruction(compile_shout, ("message",), nested=("body",)))


def errors(instructions: list[Any]) -> list[str]:
    return validate_control(control_for(items_model(), instructions), {"test:items"})


@pytest.mark.usefixtures("shout")
def test_one_entry_adds_an_action_to_validation_and_compilation() -> None:
    assert errors([{"action": "x-shout", "message": "hi"}]) == []
    assert errors([{"action": "x-shout"}]) == ["Expected property not found in x-shout instruction: message"]
    body = [{"action": "x-shout", "message": "hi", "body": [{"action": "nope"}]}]
    assert errors(body) == ["Unknown action in instruction: nope"]
    result = run(items_model(), [NEW, {"action": "x-shout", "message": "hi"}], [{}, {}])
    assert result.lines == ["x-shout: hi (record 0)", "x-shout: hi (record 1)"]


def test_unknown_actions_and_missing_properties_at_setup_match_validation() -> None:
    otherwise = [{"action": "frobnicate"}, {"action": "if-exists"}]
    load = {"action": "load", "destination": "item", "using": "load:by-ref", "otherwise": otherwise}
    result = run(items_model(), [load], [])
    assert result.lines == [*errors(otherwise[:1]), *errors(otherwise[1:])]
    assert result.lines == [
        "Unknown action in instruction: frobnicate",
        "Expected property not found in if-exists instruction: source",
    ]
