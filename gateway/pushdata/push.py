"""Running a push (haplo-import.md §1.8): a definition's control file over one request body.

The body is the batch's single input file, named ``body``. The run is the batch runner's
engine entry (``prepare_batch`` → ``PreparedBatch.run``) over the import family's
``ModelTargetStore``, storing each complete record as soon as it is committed. Pushes to one
model database run one at a time in this process, so two pushes that load and replace the
same record never lose either's write (also across processes on a shared store:
:mod:`gateway.pushdata.lease`). Each commit's outcomes (the engine's NEW / UPDATED /
UNCHANGED) become the answer's ``actions``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import BatchError, BatchFile, Model, PreparedBatch, TargetWrite, prepare_batch
from engine.ports import NEW
from gateway.imports.target import ModelTargetStore, generated_key_tables
from gateway.pushdata.lease import LeaseBusy, PushLeases
from gateway.storage.ports import Storage
from gateway.storage.txlog import writing_as

EXCEPTION: str = "Exception when processing: "
BODY_FILE = "body"


@dataclass
class PushAnswer:
    """What a push answers: ``result`` is success, failure, error or not authorised."""

    result: str
    applied: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    error_count: int | None = None

    @property
    def count(self) -> int:
        """``errorCount``: the errors reported (past what ``errors`` lists too)."""
        return self.error_count if self.error_count is not None else len(self.errors)


def refusal(message: str) -> PushAnswer:
    """An ``error`` answer with one message (unknown or disabled API, a bad request)."""
    return PushAnswer("error", errors=[message])


class RecordingStore:
    """A TargetStore that passes everything to the model store and notes each commit's
    changes under the record being processed (counted from 0, as errors say ``(record N)``)."""

    def __init__(self, store: ModelTargetStore, destinations: Mapping[str, str]) -> None:
        self._store = store
        self._destinations = destinations
        self.record = 0
        self.actions: list[dict[str, Any]] = []

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        return self._store.get(table, key)

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        return self._store.find(table, attribute, value)

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        return self._store.scan(table)

    def tables(self) -> Mapping[str, str]:
        return self._store.tables()

    def preview(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        return self._store.preview(writes)

    def commit(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        outcomes = self._store.commit(writes)
        self._store.flush()  # a complete record is stored at once
        changed = [
            {
                "kind": "object:save",
                "destination": self._destinations.get(write.table, write.table),
                "ref": write.primary_key,
                "new": outcome == NEW,
            }
            for write, outcome in zip(writes, outcomes, strict=True)
        ]
        self.actions.append({"record": f"record {self.record}", "changed": changed})
        self.record += 1
        return outcomes

    def record_ended(self, committed: bool) -> None:
        """The engine's ``on_failed_record``: a record that was not committed still counts."""
        if not committed:
            self.record += 1


def _destination_names(model: Model) -> dict[str, str]:
    """Each stored table's destination name (the first destination writing it)."""
    names: dict[str, str] = {}
    for dest in model.stored_destinations:
        if dest.table is not None:
            names.setdefault(dest.table, dest.name)
    return names


class PushRunner:
    """Runs pushes; one at a time per model database (:class:`~gateway.pushdata.lease.PushLeases`)."""

    def __init__(
        self,
        storage: Storage,
        models: Callable[[], Mapping[str, Model]],
        max_errors: int,
        leases: PushLeases,
    ) -> None:
        self._storage = storage
        self._models = models
        self._max_errors = max_errors
        self._leases = leases

    def run(self, control: dict[str, Any], body: bytes, identifier: str) -> PushAnswer:
        """Run ``control`` over ``body``; the answer (never raises for the engine's errors)."""
        try:
            prepared = prepare_batch(control, self._models())
        except BatchError as exc:
            return refusal(EXCEPTION + exc.message)
        files = [BatchFile(BODY_FILE, lambda: io.BytesIO(body), len(body))]
        try:
            # its writes are logged as the push API's
            with self._leases.hold(prepared.model.database), writing_as(identifier, "push_data"):
                return self._run(prepared, files, identifier)
        except LeaseBusy as busy:
            return refusal(str(busy))

    def _run(self, prepared: PreparedBatch, files: list[BatchFile], identifier: str) -> PushAnswer:
        model = prepared.model
        lines: list[str] = []
        store = ModelTargetStore(self._storage, model.database, generated_keys=generated_key_tables(model))
        recording = RecordingStore(store, _destination_names(model))
        outcome = prepared.run(
            files,
            recording,
            dry_run=False,
            log=lines.append,
            max_errors=self._max_errors,
            batch_identifier=identifier,
            on_failed_record=recording.record_ended,
        )
        exception, applied = store.end_run(outcome.exception, outcome.committed)
        errors = list(lines)
        count = outcome.errors
        if exception is not None:
            errors.append(EXCEPTION + exception)
            count += 1
            result = "error"
        else:
            result = "failure" if outcome.records > applied else "success"
        return PushAnswer(result, applied, outcome.records - applied, errors, recording.actions, count)
