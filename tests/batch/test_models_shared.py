"""Import models on a store several processes share: what one registers, replaces or drops is
what every other process (gateway or worker) sees at its next read, with no restart."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.imports.models import ModelRegistry
from gateway.storage.postgres import open_postgres
from tests.batch.conftest import person_model
from tests.support.postgres import postgres_dsn, schema_for

__all__ = ["postgres_dsn"]  # the fixture these tests use


def test_a_model_registered_by_one_process_is_known_to_the_others(tmp_path: Path, postgres_dsn: str) -> None:
    dsn = postgres_dsn  # the fixture skips (fails under CI=true) without a PostgreSQL server
    schema = schema_for(tmp_path)
    first, second = (open_postgres(dsn, time.time, schema=schema) for _ in range(2))
    try:
        gateway, worker = ModelRegistry(first, shared=True), ModelRegistry(second, shared=True)
        assert worker.get("haplo:person") is None
        model, _ = gateway.add(person_model())
        seen = worker.get("haplo:person")
        assert seen is not None and seen.name == model.name and "haplo:person" in worker.names()
        parsed = seen
        assert worker.get("haplo:person") is parsed  # unchanged definition: not parsed again

        changed = person_model()
        changed["description"] = "Changed on the first gateway"
        gateway.add(changed, replace=True)
        again = worker.get("haplo:person")
        assert again is not None and again is not parsed

        assert gateway.drop("haplo:person")
        assert worker.get("haplo:person") is None and worker.all() == {}
    finally:
        first.close()
        second.close()


def test_a_process_alone_on_its_store_reads_the_table_once(tmp_path: Path, postgres_dsn: str) -> None:
    dsn = postgres_dsn
    schema = schema_for(tmp_path)
    first, second = (open_postgres(dsn, time.time, schema=schema) for _ in range(2))
    try:
        alone, other = ModelRegistry(first), ModelRegistry(second, shared=True)
        other.add(person_model())
        assert alone.get("haplo:person") is None  # its copy is what it read at start
    finally:
        first.close()
        second.close()
