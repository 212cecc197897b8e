"""Running a large batch's engine in a child process while this process stores its records.

A real run's time is about half the engine's (parsing, instructions) and half the
store's (committing, encoding, writing; RocksDB's write holds the GIL, so a thread
cannot overlap it). For batches of at least ``import.engine_process_min_bytes`` of
input, on a machine with a core to spare, :func:`run_in_child` runs the engine in
``python -m engine.remote`` (see :mod:`engine.remote` for the protocol) and serves
it from the run's thread: the child's reads and commits go to the run's own
``ModelTargetStore``, in the order the child made them, and its log lines, errors,
failed records and progress go to the runner's callbacks, as in process.

The child reads the batch's files through descriptors this process opened (the
blobs must be files on this machine: the ``fs`` blob store); otherwise, and for
small batches, the run stays in process (:func:`child_files` answers None).

A failure of this process's store (a flush that fails) ends the run as in process:
the child is told to stop with that message, and the commits it sent meanwhile are
not stored and not counted committed. A child that dies ends the run with an error
naming its exit status.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

import engine
from engine import BatchError, BatchFile, BatchOutcome, PreparedBatch, StoreError
from engine import remote as R
from engine.changes import RunCounts
from engine.report import ReportedError
from gateway.imports.target import ModelTargetStore
from gateway.storage.records import TableInfo

logger = logging.getLogger("gateway.imports")

ENGINE_HOME = str(Path(engine.__file__).resolve().parents[1])
"""The directory holding this process's ``engine`` package."""
ENCODER = "gateway.storage.newgroup:encode_new"
"""What encodes the child's new records for the store (see ``engine.remote``)."""
STOP_WAIT_SECONDS = 30.0
"""How long the child gets to exit after its run, before it is killed."""


@dataclass
class ChildFile:
    """A batch file open for the child: the engine's file (name, size, hints of an earlier check)
    and this process's open handle on its bytes."""

    file: BatchFile
    handle: BinaryIO


def worth_a_child(total_bytes: int, minimum: int) -> bool:
    """Whether a batch of ``total_bytes`` of input should run its engine in a child process:
    at least ``minimum`` bytes (0: never) and a second core. (Unlike the CSV parse worker's
    halves, the two are not equal: the engine is the larger, so the split gains even on a
    busy machine.)"""
    if minimum <= 0 or total_bytes < minimum:
        return False
    return (os.cpu_count() or 1) >= 2 and os.path.isdir("/proc/self/fd")


def child_files(opened: Sequence[tuple[BatchFile, BinaryIO]]) -> list[ChildFile] | None:
    """The files as the child can read them, or None (closing none of them) if one is not a
    file on this machine."""
    files = []
    for file, handle in opened:
        try:
            handle.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        files.append(ChildFile(file, handle))
    return files


def run_in_child(
    prepared: PreparedBatch,
    files: Sequence[ChildFile],
    store: ModelTargetStore,
    *,
    dry_run: bool,
    log: Callable[[str], None],
    progress: Callable[[int], None],
    should_stop: Callable[[], bool],
    max_errors: int | None,
    batch_identifier: str | None,
    on_error: Callable[[ReportedError], None],
    on_failed_record: Callable[[bool], None],
    counts: RunCounts,
    on_checked: Callable[[BatchFile, object], None] | None,
    on_read: Callable[[int], None],
) -> BatchOutcome:
    """What ``prepared.run`` does with these arguments, with the engine in a child process
    (``on_read`` gets the bytes of input read since its last call)."""
    parent_end, child_end = socket.socketpair()
    fds = [file.handle.fileno() for file in files]
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine.remote", str(child_end.fileno())],
            stdin=subprocess.DEVNULL,
            pass_fds=(child_end.fileno(), *fds),
            cwd=ENGINE_HOME,  # `-m` finds this process's engine first
        )
    finally:
        child_end.close()
    logger.info("batch %s: its engine runs in process %d", batch_identifier, process.pid)
    conn = Connection(parent_end.detach())
    server = _Server(conn, store, log, progress, should_stop, on_error, on_failed_record, counts, on_read)
    if on_checked is not None:
        by_name = {f.file.name: f.file for f in files}
        server.on_checked = lambda name, hints: on_checked(by_name[name], hints)
    done = False
    try:
        conn.send_bytes(
            R.pack(
                R.START,
                {
                    "control": prepared.control,
                    "model": prepared.model.to_json(),
                    "files": [
                        (f.file.name, f"/proc/self/fd/{fd}", f.file.size, f.file.checked)
                        for f, fd in zip(files, fds, strict=True)
                    ],
                    "dry_run": dry_run,
                    "max_errors": max_errors,
                    "batch_identifier": batch_identifier,
                    "known_new": {} if dry_run else _layouts(store.known_new_tables()),
                    "generated_keys": sorted(store.generated_keys),
                    "encoder": ENCODER,
                    "clock_offset": store.storage.clock() - time.time(),
                },
            )
        )
        outcome = server.serve()
        done = True
        return outcome
    except (EOFError, OSError):  # the child is gone (or closed its end)
        status = _ended(process, kill=False)
        reason = server.failure or f"the engine process ended unexpectedly (exit status {status})"
        logger.warning("batch %s: %s", batch_identifier, reason)
        # what reached this process is committed (what is still pending gets stored at the end)
        committed = store.committed + store.buffer.records
        return BatchOutcome(server.errors, max(counts.read, committed), committed, reason, 0, counts)
    finally:
        conn.close()
        _ended(process, kill=not done)


def _ended(process: subprocess.Popen[bytes], kill: bool) -> int:
    """The child's exit status, once it has exited (``kill``: now; else killed if it does not, soon)."""
    if kill and process.poll() is None:
        process.kill()
    try:
        return process.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class _Server:
    """This side of a child's run: answers its calls and relays what it reports."""

    def __init__(
        self,
        conn: Connection,
        store: ModelTargetStore,
        log: Callable[[str], None],
        progress: Callable[[int], None],
        should_stop: Callable[[], bool],
        on_error: Callable[[ReportedError], None],
        on_failed_record: Callable[[bool], None],
        counts: RunCounts,
        on_read: Callable[[int], None],
    ) -> None:
        self.conn = conn
        self.store = store
        self.log = log
        self.progress = progress
        self.should_stop = should_stop
        self.on_error = on_error
        self.on_failed_record = on_failed_record
        self.counts = counts
        self.on_read = on_read
        self.bytes_read = 0
        self.errors = 0
        self.failure: str | None = None
        """Why the run must end (this process's store failed); the child was told."""
        self.dropped = 0
        """Commits the child sent after the failure: not stored."""
        self.stop_sent = False
        self.on_checked: Callable[[str, object], None] | None = None
        """Relays a file's check hints (by the file's name)."""

    def serve(self) -> BatchOutcome:
        """Serve the child until it is done; the run's outcome."""
        recv = self.conn.recv_bytes
        while True:
            frame = recv()
            if frame[:1] == R.GROUP:
                self._write_group(frame)
                continue
            message = R.unpack(frame)
            kind = message[0]
            if kind == R.CALL:
                self._answer(message[1], message[2])
            elif kind == R.LOG:
                self.log(message[1])
            elif kind == R.ERROR:
                self.errors += 1
                self.on_error(ReportedError(*message[1:]))
            elif kind == R.FAILED:
                self.on_failed_record(bool(message[1]))
            elif kind == R.CHECKED:
                if self.on_checked is not None:
                    self.on_checked(message[1], message[2])
            elif kind == R.PROGRESS:
                self._progress(message[1], message[2], message[3])
            elif kind == R.DONE:
                return self._done(message[1], message[2], message[3])

    def _read(self, total: int) -> None:
        if total > self.bytes_read:
            self.on_read(total - self.bytes_read)
            self.bytes_read = total

    def _fail(self, reason: str) -> None:
        """This process's store failed: the run ends with ``reason`` (the first failure's)."""
        if self.failure is None:
            self.failure = reason
            self.conn.send_bytes(R.pack(R.ABORT, reason))

    def _write_group(self, frame: bytes) -> None:
        """A group of new records the child encoded: stored now, as one write."""
        table, records = pickle.loads(frame[1:])
        if self.failure is not None:
            self.dropped += len(records.keys)
            return
        try:
            self.store.write_new(table, records)
        except Exception as exc:  # the run ends, as in process (the child counted them committed)
            self.dropped += len(records.keys)
            self._fail(_reason(exc))

    def _answer(self, method: str, args: Sequence[Any]) -> None:
        if self.failure is not None:
            self.conn.send_bytes(R.pack(R.RAISE, "BatchError", self.failure, None))
            return
        store = self.store
        try:
            if method in ("commit", "preview"):
                answer: Any = getattr(store, method)([R.target_write(w) for w in args[0]])
            elif method == "scan":
                answer = list(store.scan(*args))
            elif method == "tables":
                answer = dict(store.tables())
            else:
                answer = getattr(store, method)(*args)
        except StoreError as exc:
            reply = R.pack(R.RAISE, "StoreError", str(exc), getattr(exc, "table", None))
        except BatchError as exc:
            reply = R.pack(R.RAISE, "BatchError", exc.message, None)
        except Exception as exc:  # the run ends with it, as in process
            logger.warning("batch run: the store failed for the engine process: %s", exc)
            reply = R.pack(R.RAISE, type(exc).__name__, str(exc) or type(exc).__name__, None)
        else:
            reply = R.pack(R.ANSWER, answer)
        self.conn.send_bytes(reply)

    def _progress(self, done: int, total_read: int, counts: dict[str, Any]) -> None:
        self._read(total_read)
        R.restore_counts(self.counts, counts)
        if self.failure is None:
            try:
                self.progress(done)
            except Exception as exc:  # as when the in-process progress raises: the run ends
                self._fail(str(exc) or type(exc).__name__)
        if not self.stop_sent and self.should_stop():
            self.stop_sent = True
            self.conn.send_bytes(R.pack(R.STOP))

    def _done(self, result: Sequence[Any], total_read: int, counts: dict[str, Any]) -> BatchOutcome:
        self._read(total_read)
        R.restore_counts(self.counts, counts)
        errors, records, committed, exception, skipped, checks_skipped = result
        if self.failure is not None:
            exception = exception or self.failure
        committed = max(0, committed - self.dropped)
        return BatchOutcome(errors, records, committed, exception, skipped, self.counts, checks_skipped)


def _reason(exc: Exception) -> str:
    """How the run ends when this process's store fails on records the child counted committed."""
    if isinstance(exc, BatchError):
        return exc.message
    logger.warning("batch run: storing the engine process's commits failed: %s", exc)
    return str(exc) or type(exc).__name__


def _layouts(tables: dict[str, TableInfo]) -> dict[str, tuple[str, TableInfo]]:
    """``known_new`` for the child: each table's primary key attribute and its info (the encoder's layout)."""
    return {name: (info.primary_key, info) for name, info in tables.items()}
