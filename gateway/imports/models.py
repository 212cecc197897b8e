"""Registry of import models (haplo-import.md §7.4) in the system table ``import_model``.

A model is stored as its JSON definition and held in memory as an engine
``Model``. Registering a model creates its database and one table per
non-pseudo destination; dropping it forgets the definition only (data stays).

Model tables are dynamic tables (``__createdtime__``/``__updatedtime__`` kept and
indexed) whose attributes are declared at registration: every Name the engine
writes, indexed only where the engine looks records up (lookup names, the link
name, ``code``), so a batch writes three or four index entries per record instead
of one per attribute. Attributes first written by other means are indexed as in
any dynamic table; a non-indexed attribute is still searchable (by a scan).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from engine import Model, ModelError
from engine.lookups import CODE_ATTRIBUTE
from gateway.storage.errors import AttributeExists, DatabaseExists, DatabaseNotFound, TableNotFound
from gateway.storage.names import FORBIDDEN_IN_NAMES, MAX_NAME_LENGTH, name_problem
from gateway.storage.ports import Catalog, Storage
from gateway.storage.records import TableInfo
from gateway.storage.system import SYSTEM_DB, SystemTable, ensure_table
from gateway.timestamps import iso_now

MODEL_TABLE = "import_model"
log = logging.getLogger("gateway.imports")


def attribute_plan(model: Model) -> dict[str, dict[str, bool]]:
    """Per table: the attributes the engine writes (Names, type name) and whether each needs an index.

    Indexed: lookup names (``load``), the link name (dependents found from their
    parent) and ``code`` (code-to-ref look-ups); the primary key is left out.
    """
    plan: dict[str, dict[str, bool]] = {}
    for dest in model.stored_destinations:
        attributes = plan.setdefault(dest.table or dest.name, {})
        looked_up = {*dest.lookup_names, CODE_ATTRIBUTE}
        if dest.link_name is not None:
            looked_up.add(dest.link_name)
        for name in (*dest.names, dest.type_name):
            if name != dest.primary_key:
                attributes[name] = attributes.get(name, False) or name in looked_up
    return plan


def name_problems(model: Model) -> list[str]:
    """One problem per database, table or attribute name of the model the store cannot take.

    Every name: no control character. Database and table names also follow the operations'
    rule (at most 250 characters, no ``/`` or backtick), and the database may not be the
    gateway's own ``system`` database.
    """
    problems: list[str] = []
    if model.database == SYSTEM_DB:
        problems.append(f"Model database '{SYSTEM_DB}' is reserved for the gateway's own tables")
    containers: dict[str, str] = {model.database: "Model database"}
    names: dict[str, str] = {}
    for dest in model.stored_destinations:
        containers.setdefault(dest.table or dest.name, f"Destination {dest.name}: table")
        for name in (dest.primary_key, *dest.names, dest.type_name):
            names.setdefault(name, f"Destination {dest.name}: name")
    for name, what in containers.items():
        if len(name) > MAX_NAME_LENGTH:
            problems.append(f"{what} '{name[:40]}…' is longer than {MAX_NAME_LENGTH} characters")
        elif any(ch in FORBIDDEN_IN_NAMES for ch in name):
            problems.append(f"{what} '{name}' cannot include backticks or forward slashes")
    for name, what in {**containers, **names}.items():
        problem = name_problem(name, what)
        if problem is not None:
            problems.append(problem)
    return problems


class ModelRejected(Exception):
    """A model definition cannot be registered; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ModelRegistry:
    """The registered models, by name.

    The store is the truth. A process alone on its store (embedded) reads it once and then
    keeps its copy in step with its own writes; where several processes share the store, each
    read looks at the table again (a model added through one gateway is known at once to
    every other and to every worker), re-parsing only the definitions that changed.
    """

    def __init__(self, storage: Storage, shared: bool = False) -> None:
        self._catalog: Catalog = storage.catalog
        self._table = SystemTable(storage, MODEL_TABLE, "name")
        self._lock = threading.RLock()
        self._shared = shared
        self._models: dict[str, Model] = {}
        self._sources: dict[str, bytes] = {}  # name → the definition the model was parsed from
        self._invalid: dict[str, bytes] = {}  # name → a stored definition that does not parse
        self._load()

    def _load(self) -> None:
        """(Re)read the table; definitions that did not change keep their parsed model."""
        models: dict[str, Model] = {}
        sources: dict[str, bytes] = {}
        for row in self._table.scan():
            name = str(row["name"])
            source = orjson.dumps(row["model"], option=orjson.OPT_SORT_KEYS)
            if self._sources.get(name) == source:
                models[name], sources[name] = self._models[name], source
                continue
            try:
                models[name] = Model.from_json(row["model"])
            except ModelError as exc:
                if self._invalid.get(name) != source:  # said once per definition
                    log.warning("stored model %s is no longer valid: %s", name, exc)
                    self._invalid[name] = source
                continue
            sources[name] = source
        self._models, self._sources = models, sources

    def _current(self) -> dict[str, Model]:
        with self._lock:
            if self._shared:
                self._load()
            return self._models

    # -- reads ----------------------------------------------------------------

    def names(self) -> set[str]:
        """Names of the registered models."""
        return set(self._current())

    def get(self, name: str) -> Model | None:
        """The model with this name, or None."""
        return self._current().get(name)

    def all(self) -> dict[str, Model]:
        """A snapshot of every registered model."""
        return dict(self._current())

    def definition(self, name: str) -> dict[str, Any] | None:
        """The stored JSON definition and its metadata, or None."""
        return self._table.get(name)

    # -- writes ---------------------------------------------------------------

    def add(self, data: Any, replace: bool = False) -> tuple[Model, list[str]]:
        """Validate and register a model, creating its database and tables.

        Returns the model and the names of its tables; raises ModelRejected.
        """
        if not isinstance(data, Mapping):
            raise ModelRejected(["'model' must be an object (the model definition)"])
        try:
            model = Model.from_json(dict(data))
        except ModelError as exc:
            raise ModelRejected(list(exc.problems) or [str(exc)]) from exc
        problems = name_problems(model)
        if problems:
            raise ModelRejected(problems)
        with self._lock:
            if model.name in self._current() and not replace:
                raise ModelRejected([f"Model '{model.name}' already exists (use replace: true)"])
            tables = self._table_plan(model)
            self._create_tables(model.database, tables, attribute_plan(model))
            row = {"name": model.name, "model": dict(data), "created": iso_now()}
            self._table.write([row], "upsert")
            self._models[model.name] = model
            self._sources[model.name] = orjson.dumps(row["model"], option=orjson.OPT_SORT_KEYS)
        return model, [name for name, _ in tables]

    def _table_plan(self, model: Model) -> list[tuple[str, str]]:
        """(table, primary key) per stored destination; problems if an existing table disagrees."""
        plan: list[tuple[str, str]] = []
        problems: list[str] = []
        for destination in model.destinations:
            if destination.pseudo:
                continue
            table, key = destination.table or destination.name, destination.primary_key
            try:
                existing = self._catalog.table(model.database, table)
            except (DatabaseNotFound, TableNotFound):
                plan.append((table, key))
                continue
            if existing.primary_key != key:
                problems.append(
                    f"Table '{model.database}.{table}' exists with primary key "
                    f"'{existing.primary_key}', not '{key}'"
                )
            plan.append((table, key))
        if problems:
            raise ModelRejected(problems)
        return plan

    def _create_tables(
        self, database: str, tables: list[tuple[str, str]], attributes: dict[str, dict[str, bool]]
    ) -> None:
        with contextlib.suppress(DatabaseExists):
            self._catalog.create_database(database)
        for table, key in tables:
            info = ensure_table(self._catalog, table, key, database=database)
            self._declare_attributes(info, attributes.get(table, {}))

    def _declare_attributes(self, info: TableInfo, wanted: dict[str, bool]) -> None:
        """Add the model's attributes a table lacks; index those the engine looks up by."""
        for name, indexed in wanted.items():
            known = info.attributes.get(name)
            if known is None:
                with contextlib.suppress(AttributeExists):
                    self._catalog.add_attribute(info.database, info.name, name, indexed=indexed)
            elif indexed and not known.indexed:
                self._catalog.index_attribute(info.database, info.name, name)

    def drop(self, name: str) -> bool:
        """Forget a model (its data stays); False if it was not registered."""
        with self._lock:
            known = name in self._models or self.definition(name) is not None
            if not known:
                return False
            self._table.delete([name])
            self._models.pop(name, None)
            self._sources.pop(name, None)
            return True
