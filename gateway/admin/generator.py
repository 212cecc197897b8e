"""The control-file generator of the model page (spec §9): a draft with TODO placeholders.

It works on ``Model.describe()`` output. The draft reads ``DEFAULT`` files as
JSON, starts a ``new`` for each used destination that does not depend on another,
then adds one ``field`` instruction per chosen Name with the extras its type
needs. Unlike Haplo it never emits ``haplo:username-to-ref`` (not available here,
§6.3): every model, ``haplo:person`` included, gets plain ``new`` instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PERSON_NAME_PARTS = ("title", "first", "middle", "last", "suffix")
POSTAL_ADDRESS_PARTS = ("street1", "street2", "city", "county", "postcode", "country")
STRUCTURED = {"person-name": PERSON_NAME_PARTS, "postal-address": POSTAL_ADDRESS_PARTS}


@dataclass(frozen=True)
class Choice:
    """One Name the user ticked, and whether to import it as multi-value."""

    destination: str
    name: str
    multivalue: bool = False


def generator_rows(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The Names offered by the generator form: every Name of every stored destination."""
    rows = []
    for dest in model.get("destinations", []):
        if dest.get("pseudo"):
            continue
        for spec in dest.get("names", []):
            rows.append(
                {
                    "destination": dest["name"],
                    "name": spec["name"],
                    "type": spec.get("type", "text"),
                    "multivalue": bool(spec.get("multivalue")),
                    "required": bool(spec.get("required")),
                }
            )
    return rows


def source_placeholder(name: str) -> str:
    """``TODO-`` + the last ``:``-separated part of the Name in capitals."""
    return "TODO-" + name.rsplit(":", 1)[-1].upper()


def _type_extras(spec: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    kind = spec.get("type", "text")
    if kind == "ref":
        return {"refMapping": "TODO-DEFINE-MAPPING"}
    if kind == "object-type":
        types = model.get("types") or ["TODO-TYPE"]
        return {
            "mapInputValue": {f"TODO-V{i}": code for i, code in enumerate(types, 1)},
            "mapInputValueDefault": types[0],
        }
    if kind == "telephone-number":
        return {"country": "GB"}
    if kind in ("datetime", "date"):
        return {"dateFormat": "yyyy-MM-dd"}
    if kind == "url":
        return {"filters": ["haplo:fix-up-url"]}
    return {}


def _name_instructions(
    dest: str, spec: dict[str, Any], multivalue: bool, model: dict[str, Any]
) -> list[dict[str, Any]]:
    name = spec["name"]
    kind = spec.get("type", "text")
    out: list[dict[str, Any]] = []
    if multivalue:
        out.append({"action": "remove-values", "destination": dest, "name": name})
    if kind in STRUCTURED:
        pseudo = f"value:{kind}"
        for part in STRUCTURED[kind]:
            out.append({"source": source_placeholder(f"{name}-{part}"), "destination": pseudo, "name": part})
        last: dict[str, Any] = {
            "action": "field-structured",
            "structured": pseudo,
            "destination": dest,
            "name": name,
        }
    else:
        last = {
            "source": source_placeholder(name),
            "destination": dest,
            "name": name,
            **_type_extras(spec, model),
        }
    if multivalue:
        last["multivalue"] = True
    out.append(last)
    return out


def generate_control_file(model: dict[str, Any], choices: list[Choice]) -> dict[str, Any]:
    """A draft control file for the chosen Names of a described model."""
    destinations = {d["name"]: d for d in model.get("destinations", []) if not d.get("pseudo")}
    chosen = [c for c in choices if c.destination in destinations]
    used = {c.destination for c in chosen}
    instructions: list[dict[str, Any]] = [
        {"action": "new", "destination": name}
        for name, dest in destinations.items()
        if name in used and not dest.get("depends")
    ]
    for choice in chosen:
        dest = destinations[choice.destination]
        spec = next((n for n in dest.get("names", []) if n["name"] == choice.name), None)
        if spec is not None:
            instructions.extend(_name_instructions(dest["name"], spec, choice.multivalue, model))
    return {
        "dataImportControlFileVersion": 0,
        "model": model["name"],
        "files": {"DEFAULT": {"read": "json"}},
        "instructions": instructions,
    }
