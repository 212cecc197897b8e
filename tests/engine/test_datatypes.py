"""Data types of Names (spec §6.4) and refMapping (§6.6)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import UNDEFINED, Model, Ref
from engine.countries import ISO_3166_ALPHA2
from engine.datatypes import DATA_TYPES, Converter, TypeContext, describe_data_types, type_factory
from engine.errors import SetupError
from engine.models import BUILTIN_TYPES, NameSpec
from tests.engine.fakes import MemoryStore
from tests.engine.helpers import person_model

SRC = "input field x"


class Converted:
    """A converter plus the errors it reported."""

    def __init__(
        self, type_name: str, model: Model | None = None, store: MemoryStore | None = None, **instruction: Any
    ) -> None:
        self.errors: list[str] = []
        model = model or person_model()
        ctx = TypeContext(
            instruction=instruction,
            source_details=SRC,
            name=NameSpec("x", type_name),
            model=model,
            report=self.errors.append,
            store=store or MemoryStore(),
            mappings=instruction.pop("mappings", {}),
        )
        self.convert: Converter = type_factory(model, type_name)(ctx)

    def __call__(self, value: Any) -> Any:
        return self.convert(value)


def test_registry_covers_every_type_of_the_spec() -> None:
    assert set(DATA_TYPES) == {
        "text", "text-paragraph", "text-multiline", "configuration-name", "isbn", "email-address", "url",
        "telephone-number", "integer", "number", "boolean", "datetime", "date", "json", "object-type", "ref",
        "person-name", "postal-address",
    }  # fmt: skip


def test_models_accept_exactly_the_registered_types() -> None:
    assert set(DATA_TYPES) == BUILTIN_TYPES


def test_every_registered_type_has_a_description() -> None:
    docs = describe_data_types()
    assert list(docs) == list(DATA_TYPES)
    assert all(text and text == text.strip() and text.endswith(".") for text in docs.values())
    assert docs["date"] == "Alias of datetime."
    assert DATA_TYPES["date"].factory is DATA_TYPES["datetime"].factory
    shared = ("text-paragraph", "text-multiline", "configuration-name", "isbn")
    assert {DATA_TYPES[n].factory for n in shared} == {DATA_TYPES["text-paragraph"].factory}
    assert {docs[n] for n in shared} == {"Any present value, stored as its string form."}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", "a"), ("", ""), (453, "453"), (2.0, "2"), (1.5, "1.5"), (True, "true"), (False, "false"),
     ({"a": 1}, UNDEFINED), ([1], UNDEFINED), (None, UNDEFINED)],
)  # fmt: skip
def test_text(value: Any, expected: Any) -> None:
    convert = Converted("text")
    assert convert(value) == expected
    assert convert.errors == []


@pytest.mark.parametrize("type_name", ["text-paragraph", "text-multiline", "configuration-name", "isbn"])
def test_text_like_types_take_truthy_values(type_name: str) -> None:
    convert = Converted(type_name)
    assert convert("para") == "para"
    assert convert(12) == "12"
    assert convert({"a": 1}) == "[object Object]"
    assert convert("") is UNDEFINED
    assert convert(0) is UNDEFINED
    assert convert(False) is UNDEFINED


def test_email_address() -> None:
    convert = Converted("email-address")
    assert convert("test@example.com") == "test@example.com"
    assert convert("@example.com") is UNDEFINED
    assert convert("test at example.com") is UNDEFINED
    assert convert(5) is UNDEFINED
    assert convert.errors == [
        "Invalid email address for input field x: @example.com",
        "Invalid email address for input field x: test at example.com",
    ]


def test_url() -> None:
    convert = Converted("url")
    for good in ["https://haplo.org", "ftp://x", "mailto:a@b", "a+b.c-d:rest"]:
        assert convert(good) == good
    assert convert("haplo.org") is UNDEFINED
    assert convert("://haplo.org") is UNDEFINED
    assert convert("1http://x") is UNDEFINED
    assert convert(None) is UNDEFINED
    assert convert.errors == [
        "Invalid URL for input field x: haplo.org",
        "Invalid URL for input field x: ://haplo.org",
        "Invalid URL for input field x: 1http://x",
    ]


def test_telephone_number_international_format() -> None:
    assert Converted("telephone-number")("020 1234 5678") == "+44 20 1234 5678"
    assert Converted("telephone-number")("+442012345678") == "+44 20 1234 5678"
    assert Converted("telephone-number", country="US")("(201) 555-0123") == "+1 201-555-0123"
    assert Converted("telephone-number")("not a number") == "not a number"
    assert Converted("telephone-number")("12") == "12"
    assert Converted("telephone-number")(2012345678) is UNDEFINED


@pytest.mark.parametrize("value", ["42", 42, 7.0, "-5", "0", 0])
def test_integer_accepted(value: Any) -> None:
    convert = Converted("integer")
    result = convert(value)
    assert result == int(float(value)) and type(result) is int
    assert convert.errors == []


@pytest.mark.parametrize(
    ("value", "form"),
    [("042", "042"), ("+5", "+5"), (" 42", " 42"), ("4.5", "4.5"), ("1e3", "1e3"), ("abc", "abc"), (4.5, "4.5"),
     (True, "true"), ("-0", "-0"), ("9007199254740993", "9007199254740993"), ({}, "[object Object]")],
)  # fmt: skip
def test_integer_rejected(value: Any, form: str) -> None:
    convert = Converted("integer")
    assert convert(value) is UNDEFINED
    assert convert.errors == [f"Invalid integer for input field x: {form}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.5, 3.5),
        (12, 12),
        ("12", 12),
        (" 3.5 ", 3.5),
        ("-1e3", -1000),
        ("1.5E-2", 0.015),
        (".5", 0.5),
        ("5.", 5),
    ],
)
def test_number_accepted(value: Any, expected: Any) -> None:
    convert = Converted("number")
    assert convert(value) == expected
    assert convert.errors == []


@pytest.mark.parametrize("value", ["12abc", "abc", "1e999", "", "0x10", "1 2", True])
def test_number_rejected(value: Any) -> None:
    convert = Converted("number")
    assert convert(value) is UNDEFINED
    assert len(convert.errors) == 1 and convert.errors[0].startswith("Invalid number for input field x: ")


def test_boolean() -> None:
    convert = Converted("boolean")
    assert convert(True) is True
    assert convert(False) is False
    assert convert("true") is True
    assert convert("false") is False
    assert convert("yes") is UNDEFINED
    assert convert(1) is UNDEFINED
    assert convert.errors == [
        "Invalid boolean value for input field x: yes",
        "Invalid boolean value for input field x: 1",
    ]
    custom = Converted("boolean", trueValue="Y", falseValue="N")
    assert custom("Y") is True and custom("N") is False and custom("true") is UNDEFINED


@pytest.mark.parametrize("type_name", ["datetime", "date"])
def test_datetime(type_name: str) -> None:
    convert = Converted(type_name, dateFormat="yyyy-MM-dd")
    assert convert("2018-02-10") == "2018-02-10T00:00:00.000Z"
    assert convert("2018-02-30") is UNDEFINED
    assert convert(20180210) is UNDEFINED
    assert convert.errors == ["Invalid date value for input field x: 2018-02-30"]
    with pytest.raises(SetupError, match="^Date format not specified for input field x$"):
        Converted(type_name)
    with pytest.raises(SetupError):
        Converted(type_name, dateFormat=5)


def test_json_object_type_and_ref() -> None:
    assert Converted("json")({"a": 1}) == {"a": 1}
    assert Converted("json")([1]) == [1]
    assert Converted("json")("x") is UNDEFINED
    assert Converted("object-type")("staff") == "staff"
    assert Converted("object-type")("robot") is UNDEFINED
    assert Converted("ref")(Ref("p1")) == "p1"
    assert Converted("ref")("p1") is UNDEFINED


def test_person_name() -> None:
    convert = Converted("person-name")
    assert convert({"first": "Joe", "last": "Bloggs"}) == {"first": "Joe", "last": "Bloggs"}
    assert convert({"title": "Mr", "last": "B", "suffix": "", "middle": None, "other": "x"}) == {
        "title": "Mr",
        "last": "B",
    }
    assert convert({"first": "Joe"}) is UNDEFINED
    assert convert({"last": ""}) is UNDEFINED
    assert convert({"last": 7}) == {"last": "7"}
    assert convert("Joe Bloggs") is UNDEFINED
    assert convert.errors == []


def test_postal_address() -> None:
    convert = Converted("postal-address")
    assert convert({"street1": "1 High St", "country": "GB", "x": "ignored"}) == {
        "street1": "1 High St",
        "country": "GB",
    }
    assert convert({}) is UNDEFINED
    assert convert({"city": "Town", "country": "England"}) is UNDEFINED
    assert convert({"country": "XX"}) is UNDEFINED
    assert convert({"country": "gb"}) is UNDEFINED
    assert convert("GB") is UNDEFINED
    assert convert.errors == [
        "Missing or invalid country code in postal address, must be two letter ISO code: {}",
        'Missing or invalid country code in postal address, must be two letter ISO code: {"city":"Town","country":"England"}',
        'Invalid postal address: {"country":"XX"} (Postal addresses must use a recognised country)',
        'Invalid postal address: {"country":"gb"} (Postal addresses must use a recognised country)',
    ]


def test_iso_country_list() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert {"GB", "US", "AQ", "SS", "BQ", "CW", "SX", "AX"} <= ISO_3166_ALPHA2
    assert not {"UK", "XK", "EU", "AC"} & ISO_3166_ALPHA2


def test_custom_type_through_value_pseudo_destination() -> None:
    model = Model.from_json(
        {
            "name": "m",
            "destinations": [
                {"name": "thing", "names": {"size": {"type": "dimensions"}}},
                {
                    "name": "value:dimensions",
                    "pseudo": True,
                    "names": {"w": {"type": "number", "required": True}, "h": {"type": "number"}},
                },
            ],
        }
    )
    convert = Converted("dimensions", model)
    assert convert({"w": 2, "h": 3, "d": 4}) == {"w": 2, "h": 3}
    assert convert({"h": 3}) is UNDEFINED
    assert convert("2x3") is UNDEFINED
    with pytest.raises(SetupError):
        type_factory(model, "unknown-type")


# -- refMapping ---------------------------------------------------------------------


def mapped(store: MemoryStore, mapping: dict[str, Any], name: str = "m1") -> Converted:
    return Converted("ref", store=store, refMapping=name, mappings={"m1": mapping})


def test_ref_mapping_behaviour() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "code": "x:lecturer"})
    store.insert("book", {"id": "b1", "code": ["x:novel"]})
    convert = mapped(
        store, {"using": "behaviour", "values": {"L": "x:lecturer", "N": "x:novel", "U": "x:unknown"}}
    )
    assert convert("L") == "p1"
    assert convert("N") == "b1"
    assert convert("U") is UNDEFINED
    assert convert("Z") is UNDEFINED
    assert convert.errors == [
        "Value in input data cannot be mapped for input field x: U",
        "Value in input data cannot be mapped for input field x: Z",
    ]
    only_books = mapped(store, {"using": "behaviour", "types": ["book"], "values": {"L": "x:lecturer"}})
    assert only_books("L") is UNDEFINED


def test_ref_mapping_title_snapshot() -> None:
    store = MemoryStore()
    store.insert("profile", {"id": "p1", "title": {"first": "Joe", "last": "Bloggs"}})
    store.insert("book", {"id": "b1", "title": ["Novel", "Alias"]})
    store.insert("book", {"id": "b2", "title": "Novel"})
    convert = mapped(
        store,
        {
            "using": "title",
            "types": ["profile", "book"],
            "values": {"J": "Joe Bloggs", "A": "Alias", "N": "Novel", "Q": "Nobody"},
        },
    )
    store.insert("book", {"id": "b3", "title": "Later"})
    assert convert("J") == "p1"
    assert convert("A") == "b1"
    assert convert("N") == "b1"
    assert convert("X") is UNDEFINED
    assert convert("Q") is UNDEFINED
    assert convert.errors == ["Value in input data cannot be mapped for input field x: Q"]


def test_ref_mapping_types_name_any_table_of_the_model_database() -> None:
    """§6.6: a mapping's types are tables of the model database, destinations of the model or not."""
    store = MemoryStore()
    store.insert("org", {"org_id": "o1", "title": "Physics", "code": "x:physics"}, primary_key="org_id")
    store.insert("org", {"org_id": "o2", "title": "History"}, primary_key="org_id")
    assert "org" not in {d.table for d in person_model().stored_destinations}
    by_title = mapped(store, {"using": "title", "types": ["org", "ghosts"], "values": {"P": "Physics"}})
    assert by_title("P") == "o1"
    assert by_title.errors == ["Mapping m1 refers to unknown type ghosts"]
    by_code = mapped(store, {"using": "behaviour", "types": ["org"], "values": {"P": "x:physics"}})
    assert by_code("P") == "o1" and by_code.errors == []
    # without types, every table of the model database is looked in (destinations first)
    anywhere = mapped(store, {"using": "behaviour", "values": {"P": "x:physics"}})
    assert anywhere("P") == "o1"


def test_ref_mapping_setup_errors_fall_back_to_plain_refs() -> None:
    store = MemoryStore()
    unknown = Converted("ref", store=store, refMapping="nope")
    assert unknown.errors == ["Unknown mapping: nope"]
    assert unknown(Ref("r")) == "r"
    no_types = mapped(store, {"using": "title", "values": {}})
    assert no_types.errors == ["Mapping m1 does not specify types"]
    bad_types = mapped(store, {"using": "title", "types": ["robots", "aliens"], "values": {}})
    assert bad_types.errors == [
        "Mapping m1 refers to unknown type robots",
        "Mapping m1 refers to unknown type aliens",
        "No types for mapping m1",
    ]
    other = mapped(store, {"using": "magic", "values": {}})
    assert other.errors == [] and other(Ref("r")) == "r" and other("x") is UNDEFINED


def test_ref_mapping_title_limit() -> None:
    store = MemoryStore()
    for i in range(4097):
        store.insert("book", {"id": f"b{i}", "title": f"T{i}"})
    convert = mapped(store, {"using": "title", "types": ["book"], "values": {}})
    assert convert.errors == [
        "Mapping m1 uses title mapping, but too many objects in store to use this method."
    ]
