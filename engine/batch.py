"""Running one batch (spec §1.5 step 3, §3, §5, §8): the engine's public entry points.

Setup, once per run: :func:`prepare_batch` validates the control file and selects
its model (control-file errors end the run before anything else). Then
:meth:`PreparedBatch.run`: compile the instructions against the run's store (setup
errors are reported) → create every reader and decode/parse every file → apply the
record processor → transform each record; a complete record's targets are committed
with one ``store.commit`` call in a real run (in a dry run ``store.preview`` says what it
would do), and what the writes did is counted per table (:class:`engine.changes.RunCounts`,
:attr:`BatchOutcome.counts`). Exceptions that end the batch (§8.1)
become :attr:`BatchOutcome.exception`; neither ``run`` nor :func:`run_batch` (both
steps in one call) raises them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.changes import RunCounts
from engine.compile import Compiler
from engine.control import validate_control
from engine.errors import BatchError
from engine.filters import FilterContext, FilterSet
from engine.instructions import INSTRUCTIONS
from engine.jsvalues import EMPTY_CONTEXT, js_string
from engine.keys import uuid4_keys
from engine.models import Model
from engine.ports import BatchFile, StoreError, TargetStore, TargetWrite
from engine.processors import RECORD_PROCESSORS, RecordSource
from engine.readers import READERS, Reader
from engine.report import MAX_ERRORS_TO_REPORT, ReportedError, Reporter
from engine.transform import BatchEnv, Transformation

logger = logging.getLogger(__name__)

PROGRESS_EVERY: Final = 1000
STOP_CHECK_EVERY: Final = 100
STOPPED_MESSAGE: Final = "Batch stopped: server shutting down"


@dataclass
class BatchOutcome:
    """The result of :func:`run_batch`."""

    errors: int
    """Errors reported (counted even past the cap, and up to an exception)."""
    records: int
    """Records processed."""
    committed: int
    """Records committed (always 0 in a dry run)."""
    exception: str | None
    """The message of the exception that ended the batch, or None if it finished."""
    skipped: int = 0
    """Dry run: complete records that a real run would have committed (0 in a real run)."""
    counts: RunCounts | None = None
    """What the run's writes did (would do) per table; None if the run never began."""
    checks_skipped: int = 0
    """Files whose check pass was skipped on an earlier check's hints (:attr:`BatchFile.checked`)."""

    @property
    def failed(self) -> int:
        """Records processed but neither committed nor skipped (incomplete, or their commit failed)."""
        return max(0, self.records - self.committed - self.skipped)


@dataclass(frozen=True)
class PreparedBatch:
    """A validated control file and the model it names, ready to run (see :func:`prepare_batch`)."""

    control: dict[str, Any]
    model: Model

    def run(
        self,
        files: Sequence[BatchFile],
        store: TargetStore,
        *,
        dry_run: bool,
        log: Callable[[str], None],
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        max_errors: int | None = MAX_ERRORS_TO_REPORT,
        batch_identifier: str | None = None,
        on_error: Callable[[ReportedError], None] | None = None,
        on_failed_record: Callable[[bool], None] | None = None,
        counts: RunCounts | None = None,
        on_checked: Callable[[BatchFile, object], None] | None = None,
    ) -> BatchOutcome:
        """Run the batch over ``files`` against ``store`` (the model's database).

        ``log`` receives each error line; ``progress`` is called with the number of
        records done every 1000 records and at the end; ``should_stop`` is checked every
        100 records and stops the batch with an exception. ``max_errors`` caps the errors
        logged (see :class:`Reporter`; None or 0: no cap). ``on_error`` receives every
        error, uncapped, with the file and record it belongs to; ``on_failed_record`` is
        called at the end of each record that had errors, with whether it was committed
        (a conversion error drops the value and the record can still be committed).
        ``counts`` (a new one if not given) is kept up to date at every progress report,
        for callers that show it live. ``on_checked`` receives each file whose check pass
        succeeded in this run, with what it found: hand that back as the file's
        :attr:`BatchFile.checked` in a later run over the same bytes and spec to skip it.
        """
        reporter = Reporter(log, max_errors=max_errors, on_error=on_error)
        counts = counts if counts is not None else RunCounts()
        run = _Run(self.control, self.model, files, store, reporter, dry_run, batch_identifier, counts)
        run.failed_record = on_failed_record
        run.on_checked = on_checked
        exception: str | None = None
        try:
            run.execute(progress, should_stop)
        except Exception as error:  # every failure ends the batch (§8.1)
            exception = _failure(error, batch_identifier)
        finally:
            reporter.record = None
        if progress is not None:
            try:  # the last report may be where a store that writes behind fails: the run's exception too
                progress(run.records)
            except Exception as error:
                exception = exception or _failure(error, batch_identifier)
        skipped = run.complete if dry_run else 0
        return BatchOutcome(
            reporter.count,
            run.records,
            run.complete - skipped,
            exception,
            skipped,
            counts,
            run.checks_skipped,
        )


def prepare_batch(control: object, models: Mapping[str, Model]) -> PreparedBatch:
    """Validate a parsed control file, once, and select its model among ``models`` (by name).

    Raises :class:`BatchError` ``Errors in control file:`` with validation's messages,
    one per indented line.
    """
    errors = validate_control(control, models)
    if errors:
        raise BatchError("Errors in control file:\n  " + "\n  ".join(errors))
    assert isinstance(control, dict)  # validation rejects anything else
    return PreparedBatch(control, models[control["model"]])


def run_batch(
    control: dict[str, Any],
    model: Model,
    files: Sequence[BatchFile],
    store: TargetStore,
    *,
    dry_run: bool,
    log: Callable[[str], None],
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_errors: int | None = MAX_ERRORS_TO_REPORT,
    batch_identifier: str | None = None,
    models: Mapping[str, Model] | None = None,
    on_error: Callable[[ReportedError], None] | None = None,
    on_failed_record: Callable[[bool], None] | None = None,
    on_checked: Callable[[BatchFile, object], None] | None = None,
) -> BatchOutcome:
    """:func:`prepare_batch` then :meth:`PreparedBatch.run`; control-file errors become the exception.

    The control file names ``model``, or any of ``models`` (all registered models) if given.
    """
    try:
        prepared = prepare_batch(control, models if models is not None else {model.name: model})
    except Exception as error:
        if progress is not None:
            progress(0)
        return BatchOutcome(0, 0, 0, _failure(error, batch_identifier))
    return prepared.run(
        files,
        store,
        dry_run=dry_run,
        log=log,
        progress=progress,
        should_stop=should_stop,
        max_errors=max_errors,
        batch_identifier=batch_identifier,
        on_error=on_error,
        on_failed_record=on_failed_record,
        on_checked=on_checked,
    )


def reader_spec(control: Mapping[str, Any], name: str) -> Any:
    """The control file's specification of file ``name`` (or its ``DEFAULT``), as a run reads it; None if neither."""
    files = control.get("files")
    specs: Mapping[str, Any] = files if isinstance(files, dict) else {}
    spec = specs.get(name)
    return spec if spec is not None else specs.get("DEFAULT")


def _failure(error: Exception, batch_identifier: str | None) -> str:
    """The message of an exception that ends the batch (unexpected ones are logged with their trace)."""
    if isinstance(error, BatchError):
        return error.message
    logger.exception("Unexpected error in import batch %s", batch_identifier)
    return str(error) or type(error).__name__


class _Run:
    """The state of one batch run."""

    def __init__(
        self,
        control: dict[str, Any],
        model: Model,
        files: Sequence[BatchFile],
        store: TargetStore,
        reporter: Reporter,
        dry_run: bool,
        batch_identifier: str | None,
        counts: RunCounts,
    ) -> None:
        self.control = control
        self.model = model
        self.files = files
        self.store = store
        self.reporter = reporter
        self.dry_run = dry_run
        self.external_data = {"batchIdentifier": batch_identifier}  # Haplo's external data of a batch
        self.records = 0
        self.complete = 0
        self.counts = counts
        self.failed_record: Callable[[bool], None] | None = None
        self.on_checked: Callable[[BatchFile, object], None] | None = None
        self.checks_skipped = 0

    def _readers(self) -> list[tuple[BatchFile, Reader]]:
        latest: dict[str, BatchFile] = {}
        for file in self.files:  # a repeated name keeps its first position, with the later content
            latest[file.name] = file
        readers = []
        for name, file in latest.items():
            spec = reader_spec(self.control, name)
            if spec is None:
                raise BatchError(
                    f"Could not find file specification in control file for file {name} "
                    "(and DEFAULT file entry does not exist)"
                )
            readers.append((file, READERS[js_string(spec["read"])](file, spec)))
        return readers

    def _check(self, readers: list[tuple[BatchFile, Reader]]) -> None:
        """Check every file (before any record is read), unless its reader takes an earlier check's hints."""
        for file, reader in readers:
            if file.checked is not None and reader.skip_check(file.checked):
                self.checks_skipped += 1
                continue
            reader.check()
            if self.on_checked is not None:
                hints = reader.checked()
                if hints is not None:
                    self.on_checked(file, hints)

    def execute(self, progress: Callable[[int], None] | None, should_stop: Callable[[], bool] | None) -> None:
        model = self.model
        self.counts.start(model.stored_destinations, self.store, self.dry_run)
        env = BatchEnv(model, self.store, self.reporter, uuid4_keys(), self.counts)
        mappings = self.control.get("mapping")
        compiler = Compiler(
            env,
            FilterSet(FilterContext(model, self.store)),
            mappings if isinstance(mappings, dict) else {},
            INSTRUCTIONS,
        )
        program = compiler.program(self.control["instructions"], self.dry_run)
        readers = self._readers()
        self._check(readers)
        sources: list[RecordSource] = [(file.name, reader.records()) for file, reader in readers]
        processor = self.control.get("recordProcessor")
        if processor is not None:
            sources = RECORD_PROCESSORS[js_string(processor)](sources)
        reporter = self.reporter
        for name, records in sources:
            reporter.source, reporter.source_start = name, self.records
            self._transform_all(env, program, records, progress, should_stop)
        reporter.source = None

    def _transform_all(
        self,
        env: BatchEnv,
        program: Callable[[Transformation, dict[str, Any]], list[TargetWrite] | None],
        records: Iterable[Any],
        progress: Callable[[int], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        reporter = self.reporter
        failed_record = self.failed_record
        dry_run = self.dry_run
        write = self.store.preview if dry_run else self.store.commit
        counts = self.counts
        tables = counts.tables
        sample = counts.sample if dry_run else None
        tr = Transformation()
        targets, pseudo, queued = tr.targets, tr.pseudo, tr.queued
        count, complete = self.records, self.complete
        next_report = (count // PROGRESS_EVERY + 1) * PROGRESS_EVERY if progress is not None else -1
        next_stop_check = count + STOP_CHECK_EVERY if should_stop is not None else -1
        try:
            for record in records:
                reporter.record = count
                errors_before = reporter.count
                targets.clear()
                if pseudo:
                    pseudo.clear()
                if queued:
                    queued.clear()
                tr.complete = True
                out = program(tr, record if type(record) is dict else EMPTY_CONTEXT)
                if out is not None:
                    if out:
                        try:
                            outcomes = write(out)
                        except StoreError as error:
                            if not dry_run:  # a dry run reports no commit-time errors (§7.2.5)
                                reporter(f"Could not commit {_failed_destinations(env, out, error)}: {error}")
                            out = None
                        else:
                            if len(out) == 1:
                                tables[out[0].table][outcomes[0]] += 1
                            else:
                                for w, outcome in zip(out, outcomes, strict=True):
                                    tables[w.table][outcome] += 1
                            if sample is not None:
                                sample(out, outcomes)
                    if out is not None:
                        complete += 1
                if failed_record is not None and reporter.count != errors_before:
                    failed_record(out is not None)
                count += 1
                if count == next_report:
                    next_report += PROGRESS_EVERY
                    counts.read, counts.complete = count, complete
                    progress(count)  # type: ignore[misc]
                if count == next_stop_check:
                    next_stop_check += STOP_CHECK_EVERY
                    if should_stop():  # type: ignore[misc]
                        raise BatchError(STOPPED_MESSAGE)
        finally:
            self.records, self.complete = count, complete
            counts.read, counts.complete = count, complete


def _failed_destinations(env: BatchEnv, writes: list[TargetWrite], error: StoreError) -> str:
    """The destinations a failed commit was writing (only the failing table's, if the store says)."""
    table = getattr(error, "table", None)
    names = [
        dest.name
        for dest in env.stored_destinations
        if any(w.table == dest.table for w in writes) and (table is None or dest.table == table)
    ]
    return ", ".join(names) if names else ", ".join(dict.fromkeys(w.table for w in writes))
