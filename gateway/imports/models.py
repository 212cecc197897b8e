"""Registry of import models (haplo-import.md §7.4) in the system table ``import_model``.

A model is stored as its JSON definition and parsed into an engine ``Model``
once per definition; the table is read again on every use, so that a model added
or dropped through one process is known at once to every other on a shared store. Registering a model creates its database and one table per
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
    """The registered models, by name."""

    def __init__(self, storage: Storage) -> None:
        self._catalog: Catalog = storage.catalog
        self._table = SystemTable(storage, MODEL_TABLE, "name")
        self._lock = threading.RLock()
        self._parsed: dict[str, tuple[Any, Model | None]] = {}
        self._refresh()

    def _refresh(self) -> dict[str, Model]:
        """The stored models, read again on every call: other processes on a shared store (the
        gateways and workers on PostgreSQL) add and drop them. Each definition is parsed once."""
        with self._lock:
            parsed: dict[str, tuple[Any, Model | None]] = {}
            for row in self._table.scan():
                name, definition = str(row["name"]), row.get("model")
                known = self._parsed.get(name)
                if known is not None and known[0] == definition:
                    parsed[name] = known
                    continue
                try:
                    parsed[name] = (definition, Model.from_json(definition))
                except ModelError as exc:
                    log.warning("stored model %s is no longer valid: %s", name, exc)
                    parsed[name] = (definition, None)
            self._parsed = parsed
            return {name: model for name, (_, model) in parsed.items() if model is not None}

    # -- reads ----------------------------------------------------------------

    def names(self) -> set[str]:
        """Names of the registered models."""
        return set(self._refresh())

    def get(self, name: str) -> Model | None:
        """The model with this name, or None."""
        return self._refresh().get(name)

    def all(self) -> dict[str, Model]:
        """A snapshot of every registered model."""
        return self._refresh()

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
            if model.name in self._refresh() and not replace:
                raise ModelRejected([f"Model '{model.name}' already exists (use replace: true)"])
            tables = self._table_plan(model)
            self._create_tables(model.database, tables, attribute_plan(model))
            row = {"name": model.name, "model": dict(data), "created": iso_now()}
            self._table.write([row], "upsert")
            self._parsed[model.name] = (row["model"], model)
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
            if self.definition(name) is None:
                return False
            self._table.delete([name])
            self._parsed.pop(name, None)
            return True
