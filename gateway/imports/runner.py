"""Running a batch in the background (haplo-import.md §1.5, §1.6, §8).

One task-queue job (``imports.run``, keyed by the batch identifier) per scheduled
batch, run by whichever worker takes it. The job moves the batch ``scheduled`` →
``running`` (atomically: a second run of the same batch finds it no longer
scheduled and does nothing), writes ``START:``, audits the start,
runs the engine (each complete record committed atomically on its own, stored
through a write-behind buffer flushed at every progress report; a dry run
writes nothing), appends an ``EXCEPTION:`` line if the run stopped, audits
the end, writes ``END:`` and stores state, error count and log. Progress lives
in memory while the batch runs; the log and error count are checkpointed to the
batch row every few seconds so that a crash keeps them. A full device ends the
run in ``error`` (``EXCEPTION: Error during import: … no space left on the device
(records store)``), also when the run cannot even be started; the end state is
stored once the store takes writes again (``BatchService.finish_run``).
Every error (past the text log's cap too) is also kept with its file and record in the
batch error log (``gateway.imports.errorlog``), cleared when the run begins; at the end
delimited text files' errors get their lines and the error summary is saved.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from engine import BatchError, BatchFile, prepare_batch
from engine.changes import RunCounts
from engine.counting import CountingReader
from engine.readers.base import KEEP_LIMIT
from engine.rerun import rerun_problem
from gateway.audit import AuditLog
from gateway.config import Config
from gateway.imports import summary as summaries
from gateway.imports.checked import CheckedFiles
from gateway.imports.engine_process import ChildFile, child_files, run_in_child, worth_a_child
from gateway.imports.errorlog import ErrorRecorder
from gateway.imports.models import ModelRegistry
from gateway.imports.rejects import DELIMITED, RejectsUnavailable, add_lines, file_spec
from gateway.imports.service import RUN_TASK, BatchService, Progress, parse_control_bytes
from gateway.imports.target import ModelTargetStore, generated_key_tables
from gateway.jobs import Jobs
from gateway.storage.errors import BlobNotFound, OutOfSpace, StoreFailure
from gateway.storage.ports import BatchErrorLog, Blobs, Storage
from gateway.storage.queue import Args, Postponed
from gateway.storage.txlog import writing_as
from gateway.timestamps import iso_now

log = logging.getLogger("gateway.imports")

EXCEPTION_PREFIX = "EXCEPTION: Error during import: "
STOPPED_MESSAGE = "The server stopped during the run; records committed before the stop are kept"
CHECKPOINT_SECONDS = 2.0


@dataclass(frozen=True)
class RunResult:
    """What a run ended with: error count, records processed, the exception message if any, and
    records committed (stored) and skipped (dry run)."""

    errors: int
    records: int
    exception: str | None = None
    committed: int = 0
    skipped: int = 0


def _expected_reads(size: int, checked: bool = False) -> int:
    """Bytes the engine reads from a file: once if small or checked before, twice (check, then records)
    if large."""
    return size if size <= KEEP_LIMIT or checked else 2 * size


class _Run:
    """The mutable state of one batch run: log lines, error count, progress."""

    def __init__(
        self, identifier: str, service: BatchService, total_bytes: int, recorder: ErrorRecorder
    ) -> None:
        self.identifier = identifier
        self.service = service
        self.recorder = recorder
        self.lines: list[str] = []
        self.errors = 0
        self.total_bytes = max(total_bytes, 0)
        self.bytes_read = 0
        self.progress = Progress()
        self._lock = threading.Lock()
        self._saving = threading.Lock()
        self._last_checkpoint = time.monotonic()
        self._dirty = False
        self.stopped_early = False
        self.started = iso_now()
        self.clock = time.monotonic()
        self.dry_run = False
        self.counts: RunCounts | None = None
        self.rerun_problem: str | None = None
        self.lost: Callable[[], int] = lambda: 0

    def should_stop(self, stopping: Callable[[], bool]) -> Callable[[], bool]:
        """``stopping`` for the engine, remembering whether it ever answered True."""

        def check() -> bool:
            if stopping():
                self.stopped_early = True
            return self.stopped_early

        return check

    def log(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            self.errors += 1
            self.progress.errors = self.errors
            self._dirty = True
        self._maybe_checkpoint()

    def changed(self) -> None:
        """Mark the run's state changed since the last checkpoint."""
        with self._lock:
            self._dirty = True

    def records(self, done: int) -> None:
        with self._lock:
            self.progress.records_done = int(done)
            self._dirty = True
        self._maybe_checkpoint()

    def read(self, count: int) -> None:
        self.bytes_read += count
        if self.total_bytes:
            self.progress.percent = min(99.9, 100.0 * self.bytes_read / self.total_bytes)

    def _maybe_checkpoint(self) -> None:
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Save the log, error count and records done to the batch row, if they changed since the
        last save (so that a crash keeps them, and other processes show them)."""
        with self._saving:
            with self._lock:
                if not self._dirty:
                    return
                self._dirty = False
                self._last_checkpoint = time.monotonic()
                lines, errors, records = list(self.lines), self.errors, self.progress.records_done
                partial = self.summary(None, None)
            self.service.checkpoint(self.identifier, lines, errors, records, partial)
            self.recorder.flush()

    def summary(self, finished: str | None, result: RunResult | None) -> dict[str, Any]:
        """The run's summary: final with the result, else partial (the counts of the last progress report)."""
        counts = self.counts
        if result is not None:
            read, committed, skipped, errors = result.records, result.committed, result.skipped, result.errors
        else:
            read = counts.read if counts is not None else 0
            complete = counts.complete if counts is not None else 0
            skipped = complete if self.dry_run else 0
            committed, errors = max(0, complete - skipped - self.lost()), self.errors
        if result is not None and result.exception is None:
            percent = 100.0
        else:
            percent = min(self.progress.percent, 99.9) if read or self.bytes_read else 0.0
        return summaries.build(
            dry_run=self.dry_run,
            started=self.started,
            finished=finished,
            seconds=time.monotonic() - self.clock if finished is not None else None,
            counts=counts,
            read=read,
            committed=committed,
            skipped=skipped,
            errors=errors,
            percent=percent,
            exception=result.exception if result is not None else None,
            rerun_problem=self.rerun_problem,
        )

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS


class BatchRunner:
    """Runs scheduled batches taken from the task queue; fails runs whose worker is gone."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        audit: AuditLog,
        jobs: Jobs,
        service: BatchService,
        blobs: Blobs,
        models: ModelRegistry,
        errors: BatchErrorLog,
    ) -> None:
        self.config = config
        self.errors = errors
        self.storage = storage
        self.jobs = jobs
        self.service = service
        self.blobs = blobs
        self.models = models
        self.audit = audit
        self._running: dict[str, _Run] = {}
        self.checked = CheckedFiles(int(config.get("import.checked_files") or 0))
        self.engine_process_min_bytes = int(config.get("import.engine_process_min_bytes") or 0)
        """Files whose check succeeded in this process: a later run of the same bytes skips it."""
        jobs.queue.register(RUN_TASK, self._task)

    def _task(self, identifier: str, args: Args) -> None:
        self.run(identifier)

    def stopping(self) -> bool:
        """Whether the process is shutting down."""
        return self.jobs.stopping()

    def _wait_start_delay(self) -> bool:
        """Honour ``import.job_start_delay`` (seconds); False if the server stops meanwhile."""
        delay = float(self.config.get("import.job_start_delay") or 0)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self.stopping():
                return False
            self.jobs.scheduler.stopping.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return not self.stopping()

    def run(self, identifier: str) -> None:
        """The background job: run one scheduled batch to an end state (Postponed, leaving it
        scheduled, when the process stops before the run begins)."""
        if not self._wait_start_delay():
            log.info("batch %s left scheduled: the server is stopping", identifier)
            raise Postponed
        started = iso_now()
        start_line = f"START: {started}"
        try:
            row = self.service.start_run(identifier, [start_line])
        except RuntimeError as exc:
            log.warning("%s", exc)
            return
        except OutOfSpace as exc:
            log.warning("batch %s cannot start: %s", identifier, exc)
            unstarted = _Run(identifier, self.service, 0, ErrorRecorder(identifier, self.errors))
            unstarted.started = started
            result = RunResult(0, 0, str(exc))
            finished = iso_now()
            summary = unstarted.summary(finished, result)
            lines = [start_line, EXCEPTION_PREFIX + str(exc), f"END: {finished}", *summaries.lines(summary)]
            self.service.finish_run(identifier, "error", 0, lines, 0, summary)
            return
        files = list(row.get("files") or [])
        total = sum(_expected_reads(int((f.get("file") or {}).get("fileSize") or 0)) for f in files)
        self.errors.clear(
            identifier
        )  # nothing is left there unless an earlier start of this run was cut short
        state = _Run(identifier, self.service, total, ErrorRecorder(identifier, self.errors))
        state.started = started
        state.lines.append(start_line)
        self.service.progress[identifier] = state.progress
        data = {"batch": identifier, "control": row.get("control")}
        self.audit.record_quietly("haplo_data_import_batch:start", data)
        log.info("batch %s started", identifier)
        dry_run = bool(row.get("dry_run"))
        state.dry_run = dry_run
        self._running[identifier] = state
        try:
            with writing_as(f"batch:{identifier}", "import_batch"):  # whom its writes are logged for
                outcome = self._execute(row, files, state, dry_run)
        except Exception as exc:  # anything unexpected ends the batch in 'error', never silently
            log.exception("batch %s failed", identifier)
            partial = state.summary(None, None)
            outcome = RunResult(
                state.errors,
                int(partial["records_read"]),
                str(exc) or type(exc).__name__,
                int(partial["records_committed"]),
                int(partial["records_skipped"]),
            )
        finally:
            self._running.pop(identifier, None)
        if outcome.exception is None and state.stopped_early:
            outcome = RunResult(
                outcome.errors, outcome.records, STOPPED_MESSAGE, outcome.committed, outcome.skipped
            )
        if outcome.exception is not None:
            state.lines.append(EXCEPTION_PREFIX + outcome.exception)
            final = "error"
        else:
            final = "dry-run" if dry_run else "complete"
        self.audit.record_quietly("haplo_data_import_batch:end", data)
        finished = iso_now()
        summary = state.summary(finished, outcome)
        state.lines.append(f"END: {finished}")
        state.lines.extend(summaries.lines(summary))
        self.service.finish_run(identifier, final, outcome.errors, state.lines, outcome.records, summary)

    def _execute(
        self, row: dict[str, Any], files: list[dict[str, Any]], state: _Run, dry_run: bool
    ) -> RunResult:
        try:
            control = parse_control_bytes(self.blobs.read_bytes(str(row.get("control"))))
        except BlobNotFound:
            return RunResult(0, 0, f"Control file not found: {row.get('control')}")
        except (UnicodeDecodeError, ValueError) as exc:
            return RunResult(0, 0, f"Control file is not JSON: {exc}")
        try:
            prepared = prepare_batch(control, self.models.all())
        except BatchError as exc:  # the engine's one validation of the control file
            return RunResult(0, 0, exc.message)
        model = prepared.model
        state.rerun_problem = rerun_problem(prepared.control, model)
        batch_files, on_checked = self._checked_batch_files(prepared.control, files, state)
        store = ModelTargetStore(
            self.storage,
            model.database,
            read_only=dry_run,
            generated_keys=generated_key_tables(model),
        )
        counts = state.counts = RunCounts()
        state.lost = lambda: store.buffer.lost
        state.changed()  # the partial summary (with the re-run rule) is saved before any record
        state.checkpoint()

        stored_done = [0]

        def progress(done: int) -> None:
            """Records reported done are stored: this report's if the flush is done when it returns,
            else (it goes on behind) the previous report's, whose groups it waited for."""
            everything = store.flush_behind()
            state.records(done if everything else stored_done[0])
            stored_done[0] = done

        cap = int(self.config.get("import.max_errors") or 0)
        run_options: dict[str, Any] = {
            "dry_run": dry_run,
            "log": state.log,
            "progress": progress,
            "should_stop": state.should_stop(self.stopping),
            "max_errors": cap,
            "batch_identifier": state.identifier,
            "on_error": state.recorder,
            "on_failed_record": state.recorder.record_ended,
            "counts": counts,
            "on_checked": on_checked,
        }
        with contextlib.ExitStack() as opened:
            # a dry run writes nothing: no store work to overlap with the engine's
            child = None if dry_run else self._child_files(batch_files, files, opened)
            if child is not None:
                outcome = run_in_child(prepared, child, store, **run_options, on_read=state.read)
            else:
                outcome = prepared.run(batch_files, store, **run_options)
        if outcome.checks_skipped:
            log.info(
                "batch %s: %d file(s) checked before, read once", state.identifier, outcome.checks_skipped
            )
        self._keep_errors(state, control, batch_files, cap)
        # the last flush is normally done by the engine's last progress report
        exception, committed = store.end_run(outcome.exception, outcome.committed)
        return RunResult(outcome.errors, outcome.records, exception, committed, outcome.skipped)

    def _keep_errors(self, state: _Run, control: dict[str, Any], files: list[BatchFile], cap: int) -> None:
        """Store the run's last errors, give delimited files' errors their lines, save the error summary."""
        recorder = state.recorder
        processor = control.get("recordProcessor") is not None
        try:
            recorder.flush(everything=True)
            if not processor:
                for file in files:
                    if file.name in recorder.failed.files:
                        try:
                            spec = file_spec(control, file.name)
                        except RejectsUnavailable:
                            continue
                        if spec.get("read") in DELIMITED:
                            add_lines(self.errors, state.identifier, file, spec)
            self.errors.save_summary(state.identifier, recorder.summary(cap or None, processor))
        except (StoreFailure, BlobNotFound) as exc:  # the run's outcome stands; its error list is incomplete
            log.warning("batch %s: its errors could not all be kept: %s", state.identifier, exc)

    def _checked_batch_files(
        self, control: dict[str, Any], files: list[dict[str, Any]], state: _Run
    ) -> tuple[list[BatchFile], Callable[[BatchFile, object], None]]:
        """The row's files for the engine, with the hints of an earlier check of the same bytes and
        reader spec (:mod:`gateway.imports.checked`), and the ``on_checked`` that keeps new ones.
        A file checked before is read once: the run's expected bytes say so."""
        batch_files, on_checked = self.checked.batch_files(
            control, files, [self._batch_file(entry, state) for entry in files]
        )
        state.total_bytes = sum(_expected_reads(f.size, f.checked is not None) for f in batch_files)
        return batch_files, on_checked

    def _child_files(
        self, batch_files: list[BatchFile], files: list[dict[str, Any]], opened: contextlib.ExitStack
    ) -> list[ChildFile] | None:
        """The batch's files open for an engine process (``import.engine_process_min_bytes``), or
        None: the run stays in this process (a small batch, no core to spare, blobs not on disk)."""
        if not self.storage.imports.takes_new_records:
            return None
        if not worth_a_child(sum(file.size for file in batch_files), self.engine_process_min_bytes):
            return None
        handles = []
        try:
            for file, entry in zip(batch_files, files, strict=True):
                handle = opened.enter_context(self.blobs.open(str((entry.get("file") or {}).get("digest"))))
                handles.append((file, handle))
        except BlobNotFound:
            return None  # the run in this process reports it
        return child_files(handles)

    def _batch_file(self, entry: dict[str, Any], state: _Run) -> BatchFile:
        file = entry.get("file") or {}
        digest = str(file.get("digest"))

        def opener() -> BinaryIO:
            return cast(BinaryIO, CountingReader(self.blobs.open(digest), state.read))

        return BatchFile(name=str(entry.get("name")), open=opener, size=int(file.get("fileSize") or 0))

    def save_progress(self) -> None:
        """Checkpoint the runs whose progress has not been saved for a while (housekeeping: a run
        held up between progress reports still shows its latest progress everywhere)."""
        for state in list(self._running.values()):
            if state.checkpoint_due():
                state.checkpoint()

    # -- recovery -------------------------------------------------------------------

    def recover(self) -> tuple[int, int]:
        """At start: fail runs that are gone; on the embedded queue, queue ``scheduled`` batches
        again (a shared queue still holds them). (requeued, failed)."""
        failed = self.fail_lost()
        requeued = 0
        if not self.jobs.queue.durable:
            for row in self.service.rows_in_state("scheduled"):
                self.jobs.queue.enqueue(RUN_TASK, str(row["identifier"]), {})
                requeued += 1
        return requeued, failed

    def fail_lost(self) -> int:
        """Batches ``running`` whose run the task queue no longer has alive (cut short by a stop, a
        crash or a dead worker) end ``error`` with an ``EXCEPTION:`` line; how many."""
        rows = self.service.rows_in_state("running")
        if not rows:
            return 0
        alive = self.jobs.queue.alive(RUN_TASK)  # read after the rows: a run ending meanwhile is not lost
        failed = 0
        for row in rows:
            identifier = str(row["identifier"])
            if identifier in alive or identifier in self.service.progress:
                continue
            ended = self.service.fail_interrupted(identifier, EXCEPTION_PREFIX + STOPPED_MESSAGE)
            if ended is None:
                continue
            data = {"batch": identifier, "control": ended.get("control")}
            self.audit.record_quietly("haplo_data_import_batch:end", data)
            failed += 1
        if failed:
            log.warning("%d batch run(s) were cut short (a stop or a dead worker) and ended in error", failed)
        return failed
