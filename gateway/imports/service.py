"""Control files and batches in system tables (haplo-import.md §1.3, §1.4, §1.10).

``BatchService`` is the one place that changes a batch row; the HTTP API, the
operations, the admin pages and the background run all go through it. The
batch table is the source of truth. Scheduling a batch changes its row and queues
its run (task ``imports.run``) in one atomic step of the task queue, and a run
begins only by moving the row from ``scheduled`` to ``running`` (atomically too), so
a batch runs once however many workers there are. A run's end state that cannot be
stored (a full device) is kept in memory, shown by every read, and stored by
``save_unsaved`` once the store takes writes again.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine import model_warnings, validate_control
from engine.limits import CONTROL_TOO_DEEP
from gateway.auth.api_keys import haplo_random_identifier
from gateway.imports import summary as summaries
from gateway.imports.models import ModelRegistry
from gateway.storage.errors import OutOfSpace
from gateway.storage.names import name_problem
from gateway.storage.ports import Blobs, Storage
from gateway.storage.queue import Change, TaskQueue
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SystemTable
from gateway.timestamps import iso_now

logger = logging.getLogger("gateway.imports")

CONTROL_TABLE = "import_control_file"
BATCH_TABLE = "import_batch"
UNNAMED_CONTROL = "Unnamed control file"
UNNAMED_BATCH = "Unnamed batch"
STATES = ("uploading", "ready", "scheduled", "running", "complete", "dry-run", "error")
END_STATES = ("complete", "dry-run", "error")
RUN_TASK = "imports.run"
"""The task queue's name for batch runs (key: the batch identifier)."""


class BatchRequestError(Exception):
    """A request about a control file or batch is refused; the message is the 400 text body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_file_names(name: str, filename: str) -> None:
    """BatchRequestError when a batch file's name or its uploaded file name has a control character.

    ``File name "data\u00000" contains a control character (U+0000)``; the uploaded
    name is ``Uploaded file name …``.
    """
    problem = name_problem(name, "File name") or name_problem(filename, "Uploaded file name")
    if problem is not None:
        raise BatchRequestError(problem)


def timestamp() -> str:
    """Current UTC time, ISO-8601 with microseconds and ``Z`` (sorts by time)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ControlTooDeep(ValueError):
    """A control file nests too deeply to be parsed (far beyond ``engine.limits.MAX_CONTROL_DEPTH``)."""

    def __init__(self) -> None:
        super().__init__(CONTROL_TOO_DEEP)


def parse_control_bytes(data: bytes) -> Any:
    """Decode UTF-8 and parse JSON as JavaScript's JSON.parse would; ValueError if not
    (ControlTooDeep when it nests beyond what the parser's recursion allows)."""
    text = data.decode("utf-8")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ControlTooDeep() from None


def json_problem(error: ValueError) -> str:
    """Where and why a JSON text failed to parse: ``line 3, column 5: Expecting value``."""
    if isinstance(error, json.JSONDecodeError):
        before = error.doc[: error.pos].rstrip()
        if before.endswith(",") and error.doc[error.pos : error.pos + 1] in ("]", "}"):
            comma = len(before) - 1  # point at the comma, not at the bracket after it
            line = before.count("\n") + 1
            return f"line {line}, column {comma - before.rfind(chr(10))}: trailing comma"
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 (byte {error.start + 1})"
    return str(error)


@dataclass
class Progress:
    """Live progress of a running batch (kept in memory only)."""

    records_done: int = 0
    errors: int = 0
    percent: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"records_done": self.records_done, "errors": self.errors, "percent": round(self.percent, 1)}


class BatchService:
    """Control files and batches."""

    def __init__(
        self,
        storage: Storage,
        blobs: Blobs,
        models: ModelRegistry,
        queue: TaskQueue,
        check_file_names: bool = True,
    ) -> None:
        self.blobs = blobs
        # Ours: a data file's name must be one the control file lists (or it has DEFAULT).
        # Off (import.check_file_names: false), Haplo's way: the run fails instead (§8.1).
        self.check_file_names = check_file_names
        self._listed: dict[str, tuple[str, ...] | None] = {}
        self.models = models
        self.queue = queue
        self.lock = threading.RLock()
        self.progress: dict[str, Progress] = {}
        # Haplo's notify-batch-complete hook (§1.5 step 5): called with the identifier of a
        # batch that reached an end state. Listener failures are logged, never raised.
        self.on_finished: builtins.list[Callable[[str], None]] = []
        # Rows whose last change (a run's end) could not be stored for lack of space.
        self._unsaved: dict[str, dict[str, Any]] = {}
        self._controls = SystemTable(
            storage, CONTROL_TABLE, "id", [AttributeInfo("digest", True), AttributeInfo("created", True)]
        )
        self._batches = SystemTable(
            storage, BATCH_TABLE, "identifier", [AttributeInfo("state", True), AttributeInfo("created", True)]
        )

    # -- control files --------------------------------------------------------

    def check_control(self, data: bytes) -> Any:
        """The parsed control file, or BatchRequestError with the §1.2.1 text."""
        try:
            control = parse_control_bytes(data)
        except ControlTooDeep as exc:
            raise BatchRequestError(f"Invalid control file:\n  {exc}") from exc
        except ValueError as exc:  # UnicodeDecodeError included
            raise BatchRequestError(f"Uploaded file is not JSON: {json_problem(exc)}") from exc
        errors = validate_control(control, self.models.names())
        if errors:
            raise BatchRequestError("Invalid control file:" + "".join("\n  " + e for e in errors))
        return control

    def control_warnings(self, control: Any) -> builtins.list[str]:
        """What a run of this (valid) control file would report as setup errors: destinations
        and Names its model does not have (Haplo finds them only at run time)."""
        model = self.models.get(str(control.get("model"))) if isinstance(control, dict) else None
        return model_warnings(control, model) if model is not None else []

    def upload_control(self, data: bytes, comment: str | None, dedupe: bool = True) -> dict[str, Any]:
        """Validate and store a control file; its row (an identical API re-upload reuses the row)."""
        self.check_control(data)
        with self.blobs.stage_bytes(data).kept() as (digest, size):  # no row, no blob
            return self.add_control_row(digest, size, comment, dedupe)

    def add_control_row(self, digest: str, size: int, comment: str | None, dedupe: bool) -> dict[str, Any]:
        """The control row for a stored, validated file (new unless deduplicated)."""
        effective = comment if comment else UNNAMED_CONTROL
        with self.lock:
            if dedupe:
                for row in self._controls_with_digest(digest):
                    if row.get("comment") == effective:
                        return self._control_view(row)
            row = {
                "id": str(uuid.uuid4()),
                "created": timestamp(),
                "digest": digest,
                "file_size": size,
                "comment": effective,
            }
            self._controls.write([row], "insert")
        return self._control_view(row)

    def _controls_with_digest(self, digest: str) -> list[dict[str, Any]]:
        rows = self._controls.find("digest", KeyRange(digest, True))
        rows.sort(key=lambda r: (str(r.get("created")), str(r.get("id"))))
        return rows

    @staticmethod
    def _control_view(row: dict[str, Any]) -> dict[str, Any]:
        return {k: row.get(k) for k in ("id", "digest", "file_size", "comment", "created")}

    def list_controls(self) -> list[dict[str, Any]]:
        """Every control row, newest first."""
        rows = [self._control_view(r) for r in self._controls.scan()]
        rows.sort(key=lambda r: (str(r["created"]), str(r["id"])), reverse=True)
        return rows

    def get_control(self, control_id: str) -> dict[str, Any] | None:
        """One control row by id, or None."""
        row = self._controls.get(control_id) if isinstance(control_id, str) else None
        return self._control_view(row) if row is not None else None

    def control_bytes(self, digest: str) -> bytes:
        """The stored control file (BlobNotFound if missing)."""
        return self.blobs.read_bytes(digest)

    def listed_file_names(self, control_digest: str) -> tuple[str, ...] | None:
        """The names the control file's ``files`` lists, in its order; None when any name
        will do (it has ``DEFAULT``, the check is off, or the file cannot be read)."""
        if not self.check_file_names:
            return None
        if control_digest not in self._listed:
            try:
                files = parse_control_bytes(self.control_bytes(control_digest)).get("files")
            except Exception:  # noqa: BLE001 - a control file that cannot be read is the run's error
                files = None
            names = tuple(str(n) for n in files) if isinstance(files, dict) else None
            if len(self._listed) >= 256:
                self._listed.clear()
            self._listed[control_digest] = None if names is None or "DEFAULT" in names else names
        return self._listed[control_digest]

    def check_listed(self, control_digest: str, name: str) -> None:
        """BatchRequestError when the control file neither lists ``name`` nor has ``DEFAULT``."""
        listed = self.listed_file_names(control_digest)
        if listed is not None and name not in listed:
            shown = ", ".join(listed) if listed else "no files"
            raise BatchRequestError(f"File name not in control file: {name} (it lists: {shown})")

    # -- batches --------------------------------------------------------------

    def create_batch(
        self,
        control_digest: str,
        comment: str | None,
        state: str = "uploading",
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A new batch linked to the oldest control row with this digest."""
        if state not in ("uploading", "ready"):
            raise ValueError(f"a new batch is 'uploading' or 'ready', not {state!r}")
        controls = self._controls_with_digest(control_digest) if isinstance(control_digest, str) else []
        if not controls:
            raise BatchRequestError(f"Control file not found: {control_digest}")
        entries = [self._file_entry(f) for f in files or []]
        names = [e["name"] for e in entries]
        for name in names:
            if names.count(name) > 1:
                raise BatchRequestError(f"Duplicate file name: {name}")
        row = {
            "identifier": haplo_random_identifier(),
            "created": timestamp(),
            "control_id": controls[0]["id"],
            "control": control_digest,
            "comment": comment if comment else UNNAMED_BATCH,
            "files": entries,
            "state": state,
            "errors": None,
            "log": None,
            "dry_run": None,
            "records": None,
            "summary": None,
        }
        with self.lock:
            self._batches.write([row], "insert")
        return self._batch_view(row)

    @staticmethod
    def _file_entry(entry: dict[str, Any]) -> dict[str, Any]:
        file = entry.get("file") or {}
        check_file_names(str(entry["name"]), str(file.get("filename", "")))
        return {
            "name": str(entry["name"]),
            "file": {
                "digest": str(file["digest"]),
                "fileSize": int(file.get("fileSize", file.get("size", 0))),
                "filename": str(file.get("filename", "")),
            },
        }

    def _row(self, identifier: str) -> dict[str, Any] | None:
        if not isinstance(identifier, str) or not identifier:
            return None
        unsaved = self._unsaved.get(identifier)
        if unsaved is not None:
            return dict(unsaved)
        return self._batches.get(identifier)

    def _save(self, row: dict[str, Any]) -> None:
        self._batches.write([row], "replace")
        self._unsaved.pop(str(row["identifier"]), None)

    def _with_unsaved(
        self, rows: builtins.list[dict[str, Any]], state: str | None
    ) -> builtins.list[dict[str, Any]]:
        """Stored rows with the unsaved ones laid over them (only those in ``state``, if given)."""
        unsaved = dict(self._unsaved)
        if not unsaved:
            return rows
        merged = {str(r.get("identifier")): unsaved.get(str(r.get("identifier")), r) for r in rows}
        for identifier, row in unsaved.items():
            merged.setdefault(identifier, row)
        return [dict(r) for r in merged.values() if state is None or r.get("state") == state]

    def save_unsaved(self) -> int:
        """Store the rows kept in memory because the store was full; how many were stored."""
        stored = 0
        with self.lock:
            for row in builtins.list(self._unsaved.values()):
                try:
                    self._save(row)
                except OutOfSpace:
                    break
                stored += 1
        return stored

    def check_can_add(self, identifier: str, name: str, filename: str = "") -> None:
        """BatchRequestError unless a file called ``name`` (uploaded as ``filename``) may be added now."""
        check_file_names(name, filename)
        row = self._row(identifier)
        if row is None:
            raise BatchRequestError(f"Batch not found: {identifier}")
        if row.get("state") != "uploading":
            raise BatchRequestError(f"Batch {identifier} is not in the 'uploading' state")
        if any(f.get("name") == name for f in row.get("files") or []):
            raise BatchRequestError(f"Duplicate file name: {name}")
        self.check_listed(str(row.get("control")), name)

    def add_file(self, identifier: str, name: str, digest: str, size: int, filename: str) -> None:
        """Append a stored file to an ``uploading`` batch under a new name."""
        with self.lock:
            self.check_can_add(identifier, name, filename)
            row = self._row(identifier)
            assert row is not None
            entry = {"name": name, "file": {"digest": digest, "fileSize": size, "filename": filename}}
            row["files"] = [*(row.get("files") or []), entry]
            self._save(row)

    def schedule(
        self, identifier: str, dry_run: bool, allowed_states: tuple[str, ...] = ("uploading", "ready")
    ) -> None:
        """Move a batch to ``scheduled`` and queue its run, in one step."""

        def scheduled(row: dict[str, Any] | None) -> dict[str, Any]:
            if row is None:
                raise BatchRequestError(f"Batch not found: {identifier}")
            if row.get("state") not in allowed_states:
                if "uploading" in allowed_states:
                    raise BatchRequestError(f"Batch {identifier} is not in the 'uploading' state")
                raise BatchRequestError("Batch is in the wrong state")
            return {**row, "state": "scheduled", "dry_run": bool(dry_run)}

        if not isinstance(identifier, str) or not identifier:
            raise BatchRequestError(f"Batch not found: {identifier}")
        with self.lock:
            self.queue.enqueue(RUN_TASK, identifier, {}, Change(BATCH_TABLE, identifier, scheduled))

    def copy(self, identifier: str) -> dict[str, Any]:
        """A new ``ready`` batch with the same control and files, comment + `` (copy)``."""
        row = self._row(identifier)
        if row is None:
            raise BatchRequestError(f"Batch not found: {identifier}")
        return self.create_batch(
            str(row["control"]),
            f"{row.get('comment') or UNNAMED_BATCH} (copy)",
            state="ready",
            files=list(row.get("files") or []),
        )

    def get(self, identifier: str) -> dict[str, Any] | None:
        """The batch with its live progress, or None."""
        row = self._row(identifier)
        return self._batch_view(row) if row is not None else None

    def _batch_view(self, row: dict[str, Any]) -> dict[str, Any]:
        view = {
            k: row.get(k)
            for k in ("identifier", "state", "errors", "log", "comment", "control", "control_id", "files")
        }
        view["created"] = row.get("created")
        view["dry_run"] = row.get("dry_run")
        view["progress"] = self.progress_of(row)
        view["summary"] = row.get("summary") if row.get("state") in (*END_STATES, "running") else None
        return view

    def progress_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """Records done, errors so far and percent: live while running (as last saved when another
        process runs it), final afterwards: the records read and the percent of the input read
        (100 only for a run that finished; see :mod:`gateway.imports.summary`)."""
        state = row.get("state")
        live = self.progress.get(str(row.get("identifier")))
        if state == "running" and live is not None:
            return live.as_dict()
        records, errors = int(row.get("records") or 0), int(row.get("errors") or 0)
        if state == "running":
            return Progress(records, errors).as_dict()
        summary = row.get("summary")
        if state in END_STATES and isinstance(summary, dict):
            return Progress(records, errors, float(summary.get("percent") or 0.0)).as_dict()
        if state in ("complete", "dry-run"):  # a batch that ended before summaries were kept
            return Progress(records, errors, 100.0).as_dict()
        return Progress(records, errors).as_dict()

    # -- transitions used by the run -------------------------------------------

    def rows_in_state(self, state: str) -> list[dict[str, Any]]:
        """Raw rows of one state, oldest first (for recovery)."""
        rows = self._with_unsaved(self._batches.find("state", KeyRange(state, True)), state)
        rows.sort(key=lambda r: (str(r.get("created")), str(r.get("identifier"))))
        return rows

    def start_run(self, identifier: str, log: Sequence[str]) -> dict[str, Any]:
        """``scheduled`` → ``running`` with the log so far (one atomic step: one run begins); the row.
        Raises RuntimeError if the batch is in another state."""

        def running(row: dict[str, Any] | None) -> dict[str, Any] | None:
            if row is None or row.get("state") != "scheduled":
                return None
            return {**row, "state": "running", "log": "\n".join(log), "errors": 0}

        with self.lock:
            started = self.queue.change(Change(BATCH_TABLE, identifier, running))
            if started is None:
                raise RuntimeError(f"Batch ID {identifier} is in an unexpected state")
            self.progress[identifier] = Progress()
            return started

    def checkpoint(
        self,
        identifier: str,
        log: Sequence[str],
        errors: int,
        records: int,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Save the log, error count, records done and partial summary of a running batch (so a crash
        keeps them).

        Skipped while the store is full: the next checkpoint or the run's end stores them.
        """
        with self.lock:
            row = self._row(identifier)
            if row is None or row.get("state") != "running":
                return
            row.update(log="\n".join(log), errors=errors, records=records)
            if summary is not None:
                row["summary"] = summary
            try:
                self._save(row)
            except OutOfSpace as exc:
                logger.warning("batch %s: checkpoint skipped: %s", identifier, exc)

    def finish_run(
        self,
        identifier: str,
        state: str,
        errors: int,
        log: Sequence[str],
        records: int,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Store the end state, error count, log, record count and summary of a run.

        If the store is full the row is kept in memory (reads show it) until ``save_unsaved``.
        """
        with self.lock:
            row = self._row(identifier)
            if row is None:
                return
            row.update(state=state, errors=errors, log="\n".join(log), records=records, summary=summary)
            try:
                self._save(row)
            except OutOfSpace as exc:
                self._unsaved[identifier] = row
                logger.warning("batch %s ended %s; storing it waits for space: %s", identifier, state, exc)
            self.progress.pop(identifier, None)
        logger.info("batch %s finished: %s, %d error(s), %d record(s)", identifier, state, errors, records)
        self._notify_finished(identifier)

    def fail_interrupted(self, identifier: str, exception_line: str) -> dict[str, Any] | None:
        """A batch recorded as ``running`` whose run is gone (a stop, a crash, a dead worker) ends
        ``error``: its log so far, ``exception_line``, an ``END:`` line and its summary (how far it
        got as last checkpointed); records committed before stay. One atomic step, so only one
        process does it. The row, or None if the batch was not running."""
        finished = iso_now()
        end = f"END: {finished}"

        def failed(row: dict[str, Any] | None) -> dict[str, Any] | None:
            if row is None or row.get("state") != "running":
                return None
            lines = [line for line in str(row.get("log") or "").split("\n") if line]
            if not any(line.startswith("START:") for line in lines):
                lines.insert(0, f"START: {iso_now()}")
            partial = row.get("summary") if isinstance(row.get("summary"), dict) else None
            if partial is None:
                partial = {"started": lines[0].removeprefix("START: "), "dry_run": bool(row.get("dry_run"))}
                partial["records_read"] = int(row.get("records") or 0)
                partial["errors"] = int(row.get("errors") or 0)
            reason = exception_line.removeprefix("EXCEPTION: Error during import: ")
            summary = summaries.interrupted(partial, reason, finished)
            log = "\n".join([*lines, exception_line, end, *summaries.lines(summary)])
            return {**row, "state": "error", "log": log, "summary": summary}

        with self.lock:
            try:
                row = self.queue.change(Change(BATCH_TABLE, identifier, failed))
            except OutOfSpace as exc:  # shown at once, stored once the store takes writes
                row = failed(self._row(identifier))
                if row is not None:
                    self._unsaved[identifier] = row
                    logger.warning("batch %s ended error; storing it waits for space: %s", identifier, exc)
            if row is None:
                return None
            self.progress.pop(identifier, None)
        logger.info("batch %s: its run was cut short; it ends in error", identifier)
        self._notify_finished(identifier)
        return row

    def _notify_finished(self, identifier: str) -> None:
        for listener in list(self.on_finished):
            try:
                listener(identifier)
            except Exception:
                logger.exception("batch completion listener failed for %s", identifier)

    # -- listing (last: the name ``list`` shadows the builtin in this class body) --

    def list(self, state: str | None = None, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        """Batches, newest first, optionally of one state and at most ``limit`` (their summaries without
        a dry run's sampled changes: ``get`` has them)."""
        if state is not None:
            rows = self._batches.find("state", KeyRange(state, True))
        else:
            rows = list(self._batches.scan())
        rows = self._with_unsaved(rows, state)
        rows.sort(key=lambda r: (str(r.get("created")), str(r.get("identifier"))), reverse=True)
        if limit is not None:
            rows = rows[: max(0, limit)]
        return [summaries.without_samples(self._batch_view(r)) for r in rows]
