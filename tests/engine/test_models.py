"""Model definitions (spec §7.4): defaults, automatic pseudo destinations, registration rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine import Model, ModelError
from engine.models import default_database
from tests.engine.helpers import PERSON_MODEL


def test_defaults_and_accessors() -> None:
    model = Model.from_json(
        {"name": "haplo:my-model.x", "destinations": [{"name": "test:thing", "names": {"n": {}}}]}
    )
    assert model.name == "haplo:my-model.x"
    assert model.title == "haplo:my-model.x"
    assert model.description == ""
    assert model.database == "haplo_my_model_x"
    dest = model.destination("test:thing")
    assert dest is not None
    assert dest.table == "test_thing"
    assert dest.primary_key == "id"
    assert dest.kind == "object"
    assert dest.optional is False
    assert dest.type_name == "type"
    assert dest.names["n"].type == "text"
    assert [d.name for d in model.stored_destinations] == ["test:thing"]
    assert default_database("a-b:c") == "a_b_c"


def test_pseudo_destinations_are_added_automatically() -> None:
    model = Model.from_json(PERSON_MODEL)
    names = [d.name for d in model.destinations]
    assert names == [
        "profile",
        "book",
        "load:by-ref",
        "value:person-name",
        "value:postal-address",
        "load:by-email",
    ]
    by_ref = model.destination("load:by-ref")
    assert by_ref is not None and by_ref.pseudo and by_ref.auto and by_ref.kind == "dictionary"
    assert by_ref.names["ref"].type == "ref"
    person = model.destination("value:person-name")
    assert person is not None
    assert list(person.names) == ["title", "first", "middle", "last", "suffix"]
    assert person.required_names == ("last",)
    address = model.destination("value:postal-address")
    assert address is not None
    assert list(address.names) == ["street1", "street2", "city", "county", "postcode", "country"]
    assert address.required_names == ("country",)
    by_email = model.destination("load:by-email")
    assert by_email is not None
    assert by_email.names["email"].type == "email-address"
    assert by_email.names["email"].multivalue is False


def test_to_json_returns_the_definition_and_describe_lists_everything() -> None:
    model = Model.from_json(PERSON_MODEL)
    assert model.to_json() == PERSON_MODEL
    assert model.to_json() is not model.to_json()
    described = model.describe()
    assert described["database"] == "haplo_person"
    profile = described["destinations"][0]
    assert profile["table"] == "profile"
    assert profile["pseudo"] is False
    assert {"name": "title", "type": "person-name", "multivalue": False, "required": True} in profile["names"]
    book = described["destinations"][1]
    assert book["depends"] == "profile" and book["linkName"] == "author"
    pseudo = described["destinations"][2]
    assert pseudo["pseudo"] is True and pseudo["automatic"] is True and "table" not in pseudo


def test_custom_type_backed_by_value_pseudo_destination() -> None:
    model = Model.from_json(
        {
            "name": "m",
            "destinations": [
                {"name": "thing", "names": {"size": {"type": "dimensions"}}},
                {"name": "value:dimensions", "pseudo": True, "names": {"w": {"type": "number"}}},
            ],
        }
    )
    dest = model.destination("value:dimensions")
    assert dest is not None and dest.pseudo and not dest.auto


def problems(data: Any) -> list[str]:
    with pytest.raises(ModelError) as info:
        Model.from_json(data)
    return info.value.problems


def test_every_problem_is_listed() -> None:
    found = problems(
        {
            "name": "",
            "database": 5,
            "types": ["person"],
            "destinations": [
                {"name": "a", "kind": "table", "names": {"x": {"type": "nonsense"}}},
                {"name": "a", "names": {}},
                {"name": "b", "depends": "nowhere", "linkName": "missing", "names": {}},
                {"name": "c", "defaultType": "robot", "lookupNames": ["zzz"], "names": {}},
                "not an object",
                {"names": {}},
            ],
        }
    )
    assert found == [
        "Model name must be a non-empty string",
        "Model database must be a non-empty string",
        'Destination a: kind must be "object" or "dictionary"',
        "Destination b: linkName missing is not a declared name",
        "Destination c: defaultType robot is not in the model's types",
        "Destination c: lookup name zzz is not a declared name",
        "Destination 4 must be a JSON object",
        "Destination 5 must have a non-empty string name",
        "Duplicate destination name: a",
        "Destinations a and a use the same table a",
        "Destination b depends on unknown destination nowhere",
        "Unknown type nonsense for a/x (a custom type needs a pseudo destination value:nonsense)",
    ]


def test_model_needs_destinations_and_an_object() -> None:
    assert problems({"name": "m", "destinations": []}) == ["Model must have at least one destination"]
    assert problems([]) == ["Model definition must be a JSON object"]


def test_dependency_cycles_are_rejected() -> None:
    found = problems(
        {
            "name": "m",
            "destinations": [
                {"name": "a", "depends": "b", "linkName": "l", "names": {"l": {"type": "ref"}}},
                {"name": "b", "depends": "a", "linkName": "l", "names": {"l": {"type": "ref"}}},
            ],
        }
    )
    assert found == ["Dependency cycle: a -> b -> a"]


def test_link_name_needs_depends_and_reserved_names_must_be_pseudo() -> None:
    found = problems(
        {
            "name": "m",
            "destinations": [
                {"name": "a", "linkName": "l", "names": {"l": {}}},
                {"name": "load:by-ref", "names": {}},
            ],
        }
    )
    assert found == [
        "Destination a: linkName is only allowed on a dependent destination (depends)",
        "Destination load:by-ref is reserved for a pseudo destination",
    ]


def test_bad_flags_and_lookup_type_conflicts() -> None:
    data = copy.deepcopy(PERSON_MODEL)
    data["destinations"][1]["optional"] = "yes"
    data["destinations"][1]["names"]["email"] = {"type": "text"}
    data["destinations"][1]["lookupNames"] = ["email"]
    assert problems(data) == [
        "Destination book: optional must be true or false",
        "Lookup name email has different types in different destinations",
    ]
