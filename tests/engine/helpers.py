"""Helpers for engine tests: small models, running a batch in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine import BatchFile, BatchOutcome, Model, run_batch
from tests.engine.fakes import MemoryStore, memory_file


def use_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pieces and no keeping, so both passes and every cut path run on small data."""
    from engine.readers import base

    monkeypatch.setattr(base, "KEEP_LIMIT", -1)
    for module in (
        "engine.readers.base",
        "engine.readers.json_array",
        "engine.readers.text_readers",
        "engine.readers.xml_readers",
    ):
        monkeypatch.setattr(f"{module}.CHUNK_SIZE", 64)


def items_model(names: dict[str, Any] | None = None, **destination: Any) -> Model:
    """A one-destination dictionary model ``test:items`` (table ``item``)."""
    dest = {"name": "item", "kind": "dictionary", "table": "item", "names": names or {"a": {}}}
    dest.update(destination)
    return Model.from_json({"name": "test:items", "destinations": [dest]})


PERSON_MODEL: dict[str, Any] = {
    "name": "haplo:person",
    "database": "haplo_person",
    "types": ["person", "staff"],
    "destinations": [
        {
            "name": "profile",
            "kind": "object",
            "defaultType": "person",
            "lookupNames": ["email"],
            "names": {
                "title": {"type": "person-name", "required": True},
                "type": {"type": "object-type"},
                "email": {"type": "email-address", "multivalue": True},
                "job_title": {"type": "text", "multivalue": True},
                "address": {"type": "postal-address", "multivalue": True},
                "notes": {"type": "text-paragraph"},
                "code": {"type": "text"},
            },
        },
        {
            "name": "book",
            "kind": "object",
            "depends": "profile",
            "linkName": "author",
            "optional": True,
            "names": {"title": {"type": "text", "required": True}, "author": {"type": "ref"}},
        },
    ],
}


def person_model() -> Model:
    return Model.from_json(PERSON_MODEL)


@dataclass
class Result:
    outcome: BatchOutcome
    lines: list[str]
    store: MemoryStore
    progress: list[int] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.lines

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.store.rows(table)


def control_for(model: Model, instructions: list[Any], **extra: Any) -> dict[str, Any]:
    control: dict[str, Any] = {
        "dataImportControlFileVersion": 0,
        "model": model.name,
        "files": {"DEFAULT": {"read": "json"}},
        "instructions": instructions,
    }
    control.update(extra)
    return control


def run(
    model: Model,
    instructions: list[Any],
    records: list[Any] | None = None,
    *,
    files: list[BatchFile] | None = None,
    store: MemoryStore | None = None,
    dry_run: bool = False,
    control: dict[str, Any] | None = None,
    **options: Any,
) -> Result:
    """Run ``instructions`` over ``records`` (one JSON file named ``input``)."""
    store = store if store is not None else MemoryStore()
    if files is None:
        files = [memory_file("input", json.dumps(records if records is not None else [{}]))]
    lines: list[str] = []
    progress: list[int] = []
    outcome = run_batch(
        control if control is not None else control_for(model, instructions),
        model,
        files,
        store,
        dry_run=dry_run,
        log=lines.append,
        progress=progress.append,
        **options,
    )
    return Result(outcome, lines, store, progress)
