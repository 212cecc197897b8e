"""Import models: the JSON model definition of spec §7.4 as a frozen ``Model``.

A model is one target database. Each non-pseudo destination is one table; pseudo
destinations (``load:by-ref``, ``value:person-name``, ``value:postal-address``,
``load:by-<name>``) are added automatically and never stored.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import ModelError

LOAD_BY_REF = "load:by-ref"
PERSON_NAME = "value:person-name"
POSTAL_ADDRESS = "value:postal-address"
LOAD_BY_PREFIX = "load:by-"

BUILTIN_TYPES: Final = frozenset(
    {
        "text", "text-paragraph", "text-multiline", "configuration-name", "isbn", "email-address", "url",
        "telephone-number", "integer", "number", "boolean", "datetime", "date", "json", "object-type", "ref",
        "person-name", "postal-address",
    }
)  # fmt: skip
"""The data types of spec §6.4 a Name may declare (:data:`engine.datatypes.DATA_TYPES` implements each).

Any other type must be backed by a pseudo destination ``value:<type>``.
"""

PERSON_NAME_PARTS = ("title", "first", "middle", "last", "suffix")
POSTAL_ADDRESS_PARTS = ("street1", "street2", "city", "county", "postcode", "country")

_KINDS = ("object", "dictionary")
_BAD_DB_CHARS = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True, slots=True)
class NameSpec:
    """One Name (attribute) of a destination."""

    name: str
    type: str = "text"
    multivalue: bool = False
    required: bool = False
    description: str | None = None
    ref_types: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the admin UI."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multivalue": self.multivalue,
            "required": self.required,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.ref_types:
            out["refTypes"] = list(self.ref_types)
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Destination:
    """A destination of a model: a table, or a pseudo destination (scratch space)."""

    name: str
    kind: str
    names: Mapping[str, NameSpec]
    table: str | None = None
    primary_key: str = "id"
    optional: bool = False
    depends: str | None = None
    link_name: str | None = None
    default_type: str | None = None
    type_name: str = "type"
    lookup_names: tuple[str, ...] = ()
    pseudo: bool = False
    auto: bool = False
    title: str | None = None
    type_required: bool = False
    required_names: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the admin UI and ``describe_import_model``."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "pseudo": self.pseudo,
            "automatic": self.auto,
            "optional": self.optional,
            "depends": self.depends,
            "names": [n.describe() for n in self.names.values()],
        }
        if self.title is not None:
            out["title"] = self.title
        if not self.pseudo:
            out["table"] = self.table
            out["primaryKey"] = self.primary_key
            out["linkName"] = self.link_name
            out["defaultType"] = self.default_type
            out["typeName"] = self.type_name
            out["lookupNames"] = list(self.lookup_names)
        return out


@dataclass(frozen=True, eq=False)
class Model:
    """A registered import model (§7.4); build it with :meth:`Model.from_json`."""

    name: str
    title: str
    description: str
    database: str
    destinations: tuple[Destination, ...]
    types: tuple[str, ...] | None = None
    qualifiers: tuple[str, ...] | None = None
    definition: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _by_name: Mapping[str, Destination] = field(default_factory=dict, repr=False)

    def destination(self, name: Any) -> Destination | None:
        """The destination called ``name``, or None."""
        return self._by_name.get(name) if isinstance(name, str) else None

    @property
    def stored_destinations(self) -> tuple[Destination, ...]:
        """The non-pseudo destinations (one table each), in model order."""
        return tuple(d for d in self.destinations if not d.pseudo)

    def to_json(self) -> dict[str, Any]:
        """The original definition, as registered."""
        return copy.deepcopy(dict(self.definition))

    def describe(self) -> dict[str, Any]:
        """Model, destinations, Names, pseudo flags and dependencies as JSON."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "database": self.database,
            "types": list(self.types) if self.types is not None else None,
            "destinations": [d.describe() for d in self.destinations],
        }

    @classmethod
    def from_json(cls, data: Any) -> Model:
        """Validate a model definition and build the model; raise ModelError listing every problem."""
        return _ModelBuilder(data).build()


def default_database(model_name: str) -> str:
    """The default database name: the model name with non-[A-Za-z0-9_] characters → ``_``."""
    return _BAD_DB_CHARS.sub("_", model_name)


def _auto(name: str, names: list[NameSpec]) -> Destination:
    return Destination(
        name=name,
        kind="dictionary",
        names={n.name: n for n in names},
        pseudo=True,
        auto=True,
        optional=True,
        required_names=tuple(sorted(n.name for n in names if n.required)),
    )


class _ModelBuilder:
    """Collects every problem of a definition before failing (registration rules of §7.4)."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def build(self) -> Model:
        data = self.data
        if not isinstance(data, dict):
            raise ModelError(["Model definition must be a JSON object"])
        name = data.get("name")
        if not isinstance(name, str) or not name:
            self.problem("Model name must be a non-empty string")
            name = ""
        title = self._optional_str(data, "title", "Model title") or name
        description = self._optional_str(data, "description", "Model description") or ""
        database = data.get("database")
        if database is None:
            database = default_database(name)
        elif not isinstance(database, str) or not database:
            self.problem("Model database must be a non-empty string")
            database = default_database(name)
        types = self._str_list(data, "types", "Model types")
        qualifiers = self._str_list(data, "qualifiers", "Model qualifiers")
        raw_dests = data.get("destinations")
        if not isinstance(raw_dests, list) or not raw_dests:
            self.problem("Model must have at least one destination")
            raw_dests = []
        declared = [d for d in (self._destination(i, raw, types) for i, raw in enumerate(raw_dests)) if d]
        self._check_unique(declared)
        by_name = {d.name: d for d in declared}
        self._check_dependencies(declared, by_name)
        self._check_types(declared, by_name)
        destinations = declared + self._pseudo_destinations(declared, by_name)
        if self.problems:
            raise ModelError(self.problems)
        return Model(
            name=name,
            title=title,
            description=description,
            database=database,
            destinations=tuple(destinations),
            types=tuple(types) if types is not None else None,
            qualifiers=tuple(qualifiers) if qualifiers is not None else None,
            definition=copy.deepcopy(data),
            _by_name={d.name: d for d in destinations},
        )

    def _optional_str(self, obj: Mapping[str, Any], key: str, what: str) -> str | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            self.problem(f"{what} must be a string")
            return None
        return value

    def _bool(self, obj: Mapping[str, Any], key: str, what: str) -> bool:
        value = obj.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(f"{what} must be true or false")
            return False
        return value

    def _str_list(self, obj: Mapping[str, Any], key: str, what: str) -> list[str] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{what} must be a list of non-empty strings")
            return None
        return list(value)

    def _destination(self, index: int, raw: Any, types: list[str] | None) -> Destination | None:
        if not isinstance(raw, dict):
            self.problem(f"Destination {index} must be a JSON object")
            return None
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.problem(f"Destination {index} must have a non-empty string name")
            return None
        where = f"Destination {name}"
        pseudo = self._bool(raw, "pseudo", f"{where}: pseudo")
        kind = raw.get("kind", "dictionary" if pseudo else "object")
        if kind not in _KINDS:
            self.problem(f'{where}: kind must be "object" or "dictionary"')
            kind = "object"
        names = self._names(where, raw.get("names", {}))
        table: str | None = None
        if not pseudo:
            table = raw.get("table", name.replace(":", "_"))
            if not isinstance(table, str) or not table:
                self.problem(f"{where}: table must be a non-empty string")
                table = name
        primary_key = raw.get("primaryKey", "id")
        if not isinstance(primary_key, str) or not primary_key:
            self.problem(f"{where}: primaryKey must be a non-empty string")
            primary_key = "id"
        depends = self._optional_str(raw, "depends", f"{where}: depends")
        link_name = self._optional_str(raw, "linkName", f"{where}: linkName")
        if link_name is not None and link_name not in names:
            self.problem(f"{where}: linkName {link_name} is not a declared name")
        if link_name is not None and depends is None:
            self.problem(f"{where}: linkName is only allowed on a dependent destination (depends)")
        default_type = self._optional_str(raw, "defaultType", f"{where}: defaultType")
        if default_type is not None and types is not None and default_type not in types:
            self.problem(f"{where}: defaultType {default_type} is not in the model's types")
        type_name = raw.get("typeName", "type")
        if not isinstance(type_name, str) or not type_name:
            self.problem(f"{where}: typeName must be a non-empty string")
            type_name = "type"
        lookup_names = self._str_list(raw, "lookupNames", f"{where}: lookupNames") or []
        for lookup in lookup_names:
            if lookup not in names:
                self.problem(f"{where}: lookup name {lookup} is not a declared name")
        if pseudo and (depends or lookup_names):
            self.problem(f"{where}: a pseudo destination cannot have depends or lookupNames")
        return Destination(
            name=name,
            kind=kind,
            names=names,
            table=table,
            primary_key=primary_key,
            optional=self._bool(raw, "optional", f"{where}: optional"),
            depends=depends,
            link_name=link_name,
            default_type=default_type,
            type_name=type_name,
            lookup_names=tuple(lookup_names),
            pseudo=pseudo,
            title=self._optional_str(raw, "title", f"{where}: title"),
            type_required=self._bool(raw, "typeRequired", f"{where}: typeRequired"),
            required_names=tuple(sorted(n for n, spec in names.items() if spec.required)),
        )

    def _names(self, where: str, raw: Any) -> dict[str, NameSpec]:
        if not isinstance(raw, dict):
            self.problem(f"{where}: names must be a JSON object")
            return {}
        names: dict[str, NameSpec] = {}
        for key, spec in raw.items():
            if not key:
                self.problem(f"{where}: a name must not be empty")
                continue
            if not isinstance(spec, dict):
                self.problem(f"{where}: name {key} must be a JSON object")
                continue
            type_ = spec.get("type", "text")
            if not isinstance(type_, str) or not type_:
                self.problem(f"{where}: name {key} must have a string type")
                type_ = "text"
            ref_types = self._str_list(spec, "refTypes", f"{where}: name {key} refTypes") or []
            names[key] = NameSpec(
                name=key,
                type=type_,
                multivalue=self._bool(spec, "multivalue", f"{where}: name {key} multivalue"),
                required=self._bool(spec, "required", f"{where}: name {key} required"),
                description=self._optional_str(spec, "description", f"{where}: name {key} description"),
                ref_types=tuple(ref_types),
            )
        return names

    def _check_unique(self, declared: list[Destination]) -> None:
        seen: set[str] = set()
        tables: dict[str, str] = {}
        for dest in declared:
            if dest.name in seen:
                self.problem(f"Duplicate destination name: {dest.name}")
            seen.add(dest.name)
            if dest.table is not None:
                if dest.table in tables:
                    self.problem(
                        f"Destinations {tables[dest.table]} and {dest.name} use the same table {dest.table}"
                    )
                tables.setdefault(dest.table, dest.name)
            reserved = dest.name in (LOAD_BY_REF, PERSON_NAME, POSTAL_ADDRESS) or dest.name.startswith(
                LOAD_BY_PREFIX
            )
            if reserved and not dest.pseudo:
                self.problem(f"Destination {dest.name} is reserved for a pseudo destination")

    def _check_dependencies(self, declared: list[Destination], by_name: Mapping[str, Destination]) -> None:
        for dest in declared:
            if dest.depends is None:
                continue
            parent = by_name.get(dest.depends)
            if parent is None or parent.pseudo:
                self.problem(f"Destination {dest.name} depends on unknown destination {dest.depends}")
        reported: set[str] = set()
        for dest in declared:
            chain = [dest.name]
            current = dest
            while current.depends is not None and current.depends in by_name:
                if current.depends in chain:
                    cycle = chain[chain.index(current.depends) :] + [current.depends]
                    if not reported.intersection(cycle):
                        self.problem("Dependency cycle: " + " -> ".join(cycle))
                        reported.update(cycle)
                    break
                chain.append(current.depends)
                current = by_name[current.depends]

    def _check_types(self, declared: list[Destination], by_name: Mapping[str, Destination]) -> None:
        for dest in declared:
            for spec in dest.names.values():
                if spec.type in BUILTIN_TYPES:
                    continue
                backing = by_name.get("value:" + spec.type)
                if backing is None or not backing.pseudo:
                    self.problem(
                        f"Unknown type {spec.type} for {dest.name}/{spec.name} "
                        f"(a custom type needs a pseudo destination value:{spec.type})"
                    )

    def _pseudo_destinations(
        self, declared: list[Destination], by_name: Mapping[str, Destination]
    ) -> list[Destination]:
        added: list[Destination] = []

        def add(dest: Destination) -> None:
            if dest.name not in by_name and all(a.name != dest.name for a in added):
                added.append(dest)

        if any(not d.pseudo for d in declared):
            add(_auto(LOAD_BY_REF, [NameSpec("ref", "ref")]))
        used = {spec.type for d in declared for spec in d.names.values()}
        if "person-name" in used:
            add(_auto(PERSON_NAME, [NameSpec(p, required=p == "last") for p in PERSON_NAME_PARTS]))
        if "postal-address" in used:
            add(_auto(POSTAL_ADDRESS, [NameSpec(p, required=p == "country") for p in POSTAL_ADDRESS_PARTS]))
        lookup_types: dict[str, str] = {}
        for dest in declared:
            for lookup in dest.lookup_names:
                spec = dest.names.get(lookup)
                if spec is None:
                    continue
                if lookup_types.setdefault(lookup, spec.type) != spec.type:
                    self.problem(f"Lookup name {lookup} has different types in different destinations")
                    continue
                add(_auto(LOAD_BY_PREFIX + lookup, [NameSpec(lookup, spec.type)]))
        return added
