"""Data types of Names (spec §6.4): a registry of converter factories and their descriptions.

A factory is called once per value instruction at batch setup with a
:class:`TypeContext` and returns a converter ``value -> stored value | UNDEFINED``.
It raises :class:`SetupError` when the instruction's options make it unbuildable.
Converters report conversion errors through ``ctx.report`` (the record suffix is
added by the reporter) and never abort the record.

Telephone numbers are stored in the international format of the ``phonenumbers``
library (``+44 20 1234 5678``), which is what Haplo displays; a string that does
not parse as a possible number is stored unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from engine.countries import ISO_3166_ALPHA2
from engine.dates import compile_date_format
from engine.errors import SetupError
from engine.jsvalues import UNDEFINED, Ref, js_number_str, js_string, js_stringify, js_truthy
from engine.models import PERSON_NAME_PARTS, POSTAL_ADDRESS_PARTS, Destination, Model
from engine.refmapping import ref_mapping
from engine.typecontext import TypeContext as TypeContext
from engine.typecontext import TypeFactory as TypeFactory
from engine.values import Converter as Converter

_MAX_SAFE = 2**53
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMBER = re.compile(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)\s*")
_URL = re.compile(r"[a-zA-Z+.\-]+:")
_COMMON_SCHEMES = ("https:", "http:", "mailto:")


def text_value(value: Any) -> Any:
    """The ``text`` converter: strings as they are, numbers and booleans in their JavaScript form.

    Instructions may skip calling it for strings (it is the identity on them).
    """
    t = type(value)
    if t is str:
        return value
    if t is int or t is float:
        return js_number_str(value)
    if t is bool:
        return "true" if value else "false"
    return UNDEFINED


def text(ctx: TypeContext) -> Converter:
    """Strings as they are; numbers and booleans in their JavaScript string form."""
    return text_value


def text_like(ctx: TypeContext) -> Converter:
    """Any truthy value in its string form (paragraphs, multi-line text, identifiers)."""

    def convert(value: Any) -> Any:
        if type(value) is str:
            return value if value else UNDEFINED
        return js_string(value) if js_truthy(value) else UNDEFINED

    return convert


def email_address(ctx: TypeContext) -> Converter:
    """A string with an ``@`` after its first character."""
    report, src = ctx.report, ctx.source_details

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return UNDEFINED
        if value.find("@") > 0:
            return value
        report(f"Invalid email address for {src}: {value}")
        return UNDEFINED

    return convert


def url(ctx: TypeContext) -> Converter:
    """A string starting with a scheme (letters, ``+``, ``.``, ``-``) and ``:``."""
    report, src = ctx.report, ctx.source_details

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return UNDEFINED
        if value.startswith(_COMMON_SCHEMES) or _URL.match(value):
            return value
        report(f"Invalid URL for {src}: {value}")
        return UNDEFINED

    return convert


def telephone_number(ctx: TypeContext) -> Converter:
    """A string, normalised to international format for the instruction's ``country`` (default GB)."""
    country = ctx.instruction.get("country")
    region = country.upper() if isinstance(country, str) and country else "GB"
    international = phonenumbers.PhoneNumberFormat.INTERNATIONAL

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return UNDEFINED
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return value
        if not phonenumbers.is_possible_number(number):
            return value
        return phonenumbers.format_number(number, international)

    return convert


def integer(ctx: TypeContext) -> Converter:
    """An integer whose string form is exactly its decimal representation (``"042"`` is rejected)."""
    report, src = ctx.report, ctx.source_details

    def convert(value: Any) -> Any:
        t = type(value)
        if t is int:
            if -_MAX_SAFE <= value <= _MAX_SAFE:
                return value
        elif t is float and value.is_integer() and abs(value) <= _MAX_SAFE:
            return int(value)
        form = js_string(value)
        if _INTEGER.fullmatch(form) and form != "-0":
            number = int(form)
            if -_MAX_SAFE <= number <= _MAX_SAFE or js_number_str(float(number)) == form:
                return number
        report(f"Invalid integer for {src}: {form}")
        return UNDEFINED

    return convert


def number(ctx: TypeContext) -> Converter:
    """JSON numbers as they are; strings must be a whole decimal literal (Ours, §11 #12)."""
    report, src = ctx.report, ctx.source_details

    def convert(value: Any) -> Any:
        t = type(value)
        if t is int or t is float:
            return value
        if t is str:
            match = _NUMBER.fullmatch(value)
            if match is not None:
                literal = match.group(1)
                if "." not in literal and match.group(2) is None:
                    return int(literal)
                result = float(literal)
                if result.is_integer() and abs(result) <= _MAX_SAFE:
                    return int(result)
                if result not in (float("inf"), float("-inf")):
                    return result
        report(f"Invalid number for {src}: {js_string(value)}")
        return UNDEFINED

    return convert


def boolean(ctx: TypeContext) -> Converter:
    """Booleans as they are; ``trueValue``/``falseValue`` strings (default ``"true"``/``"false"``)."""
    report, src = ctx.report, ctx.source_details
    true_value = ctx.instruction.get("trueValue")
    false_value = ctx.instruction.get("falseValue")
    if true_value is None:
        true_value = "true"
    if false_value is None:
        false_value = "false"

    def convert(value: Any) -> Any:
        if type(value) is bool:
            return value
        if type(value) is str:
            if value == true_value:
                return True
            if value == false_value:
                return False
        report(f"Invalid boolean value for {src}: {js_string(value)}")
        return UNDEFINED

    return convert


def datetime(ctx: TypeContext) -> Converter:
    """A string parsed with the instruction's ``dateFormat``, stored as ISO-8601 UTC text."""
    src = ctx.source_details
    pattern = ctx.instruction.get("dateFormat")
    if not isinstance(pattern, str):
        raise SetupError(f"Date format not specified for {src}")
    parse = compile_date_format(pattern)
    report = ctx.report

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return UNDEFINED
        parsed = parse(value)
        if parsed is None:
            report(f"Invalid date value for {src}: {value}")
            return UNDEFINED
        return parsed

    return convert


def json_value(ctx: TypeContext) -> Converter:
    """Objects and arrays, unchanged."""

    def convert(value: Any) -> Any:
        t = type(value)
        return value if t is dict or t is list else UNDEFINED

    return convert


def object_type(ctx: TypeContext) -> Converter:
    """A type code listed in the model's ``types``."""
    codes = frozenset(ctx.model.types or ())

    def convert(value: Any) -> Any:
        return value if type(value) is str and value in codes else UNDEFINED

    return convert


def ref(ctx: TypeContext) -> Converter:
    """A reference (from a filter or ``refMapping``), stored as the primary key."""
    mapped = ref_mapping(ctx)
    if mapped is not None:
        return mapped
    return plain_ref


def plain_ref(value: Any) -> Any:
    """The Ref-only converter: plain strings are dropped silently (§11 #29)."""
    return value.key if isinstance(value, Ref) else UNDEFINED


def _parts(value: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The truthy parts of a structured value, in canonical order, as strings."""
    out: dict[str, Any] = {}
    get = value.get
    for part in names:
        v = get(part)
        if type(v) is str:
            if v:
                out[part] = v
        elif v is not None and js_truthy(v):
            out[part] = js_string(v)
    return out


_PERSON_NAME_PARTS = frozenset(PERSON_NAME_PARTS)
_ONLY_STR = {str}


def person_name_value(value: Any) -> Any:
    """The ``person-name`` converter (it has no options)."""
    if type(value) is not dict:
        return UNDEFINED
    last = value.get("last")
    if not (last if type(last) is str else js_truthy(last)):
        return UNDEFINED
    values = value.values()
    if _PERSON_NAME_PARTS.issuperset(value) and "" not in values and set(map(type, values)) == _ONLY_STR:
        return value.copy()  # the usual case: only non-empty text parts (from value:person-name)
    return _parts(value, PERSON_NAME_PARTS)


def person_name(ctx: TypeContext) -> Converter:
    """An object with a truthy ``last``: the object of the name parts that are set."""
    return person_name_value


def postal_address(ctx: TypeContext) -> Converter:
    """An object with a recognised ISO 3166-1 alpha-2 ``country``: the parts that are set."""
    report = ctx.report

    def convert(value: Any) -> Any:
        if type(value) is not dict:
            return UNDEFINED
        country = value.get("country")
        if type(country) is not str or len(country) != 2:
            report(
                "Missing or invalid country code in postal address, must be two letter ISO code: "
                + js_stringify(value)
            )
            return UNDEFINED
        if country not in ISO_3166_ALPHA2:
            report(
                f"Invalid postal address: {js_stringify(value)} (Postal addresses must use a recognised country)"
            )
            return UNDEFINED
        return _parts(value, POSTAL_ADDRESS_PARTS)

    return convert


def custom_type(backing: Destination) -> TypeFactory:
    """Factory for a custom structured type backed by the pseudo destination ``value:<type>``.

    An object is kept with the backing destination's declared Names that are set
    (all of it if none are declared); a missing required Name gives "no value".
    """
    names = tuple(backing.names)
    required = backing.required_names

    def factory(ctx: TypeContext) -> Converter:
        def convert(value: Any) -> Any:
            if type(value) is not dict:
                return UNDEFINED
            if any(not js_truthy(value.get(n)) for n in required):
                return UNDEFINED
            if not names:
                return value
            return {n: value[n] for n in names if n in value and value[n] is not None}

        return convert

    return factory


@dataclass(frozen=True, slots=True)
class DataType:
    """A registered data type: its converter factory and its short description for the admin UI."""

    factory: TypeFactory
    description: str


_STRING_FORM = "Any present value, stored as its string form."

DATA_TYPES: dict[str, DataType] = {
    "text": DataType(
        text, "A string; numbers and booleans are converted with JavaScript rules (the default type)."
    ),
    "text-paragraph": DataType(text_like, _STRING_FORM),
    "text-multiline": DataType(text_like, _STRING_FORM),
    "configuration-name": DataType(text_like, _STRING_FORM),
    "isbn": DataType(text_like, _STRING_FORM),
    "email-address": DataType(email_address, "A string with an @ after its first character."),
    "url": DataType(
        url, "A string that starts with a scheme such as https: (see the haplo:fix-up-url filter)."
    ),
    "telephone-number": DataType(
        telephone_number,
        "A string, normalised to international format using the instruction's country (default GB).",
    ),
    "integer": DataType(integer, "A whole number, or a string that is exactly its decimal form."),
    "number": DataType(number, "A JSON number, or a string holding one decimal literal."),
    "boolean": DataType(boolean, "true/false, or the strings given by trueValue/falseValue."),
    "datetime": DataType(
        datetime,
        "A string parsed with the instruction's dateFormat (SimpleDateFormat letters); stored as ISO-8601 UTC.",
    ),
    "date": DataType(datetime, "Alias of datetime."),
    "json": DataType(json_value, "Any object or array, stored unchanged."),
    "object-type": DataType(object_type, "A type code from the model's types list."),
    "ref": DataType(
        ref, "A reference to another record (from a filter or refMapping), stored as its primary key."
    ),
    "person-name": DataType(
        person_name,
        "Built with value:person-name (title, first, middle, last, suffix) and field-structured; needs last.",
    ),
    "postal-address": DataType(
        postal_address,
        "Built with value:postal-address (street1, street2, city, county, postcode, country) "
        "and field-structured; needs a two-letter country.",
    ),
}
"""Built-in data types by name (the names of :data:`engine.models.BUILTIN_TYPES`); models may
add custom types through ``value:<type>``."""


def describe_data_types() -> dict[str, str]:
    """Each built-in data type's short description, in registry order (admin documentation and model pages)."""
    return {name: data_type.description for name, data_type in DATA_TYPES.items()}


def type_factory(model: Model, type_name: str) -> TypeFactory:
    """The factory for a Name's type: built in, or custom through ``value:<type>``."""
    data_type = DATA_TYPES.get(type_name)
    if data_type is not None:
        return data_type.factory
    backing = model.destination("value:" + type_name)
    if backing is None:
        raise SetupError(f"Unknown data type: {type_name}")
    return custom_type(backing)
