"""A batch run in a child process, its store served by the parent over one connection.

The parent owns the store and starts ``python -m engine.remote FD`` with one end of a
socket pair as FD; it sends one :data:`START` message (the control file, the model's
definition, the files as paths and the run's options), then serves the run until
:data:`DONE`. Parsing and the instructions run here, on a core of their own, while
the parent stores what they produce.

The store of this side, :class:`RemoteStore`, sends each read and each commit whose
outcome it cannot know, and waits for the answer. A record whose one write it knows is
new (an insert with an engine-generated key into a table named in ``known_new``) is
kept (the engine's own record, not a copy: the engine makes a record per target and leaves
it once committed; the encoder may stamp it in place), and sent with the next ones in a
group of up to :data:`GROUP_RECORDS` records, encoded in the store's own form by the function the parent names (``encoder``,
``module:function``, called with the table's layout, the records and ``clock_offset``;
``known_new`` maps a table to its primary key attribute and that layout): a ``b"G"`` frame. The parent stores a group as one write. It handles
messages in the order they were sent, so a read sees every commit before it (§7.2.5).
Log lines, reported errors, failed records, progress and each file's check hints (a
file's ``checked``, from the parent, spares the check an earlier run made) are sent as
they happen and not answered.

The parent may send :data:`STOP` (the run should stop: ``should_stop`` answers True)
or :data:`ABORT` with a message (its store failed: the run ends with that message,
as when the in-process ``progress`` raises).

Frames are pickled tuples, a tag first (a group: ``b"G"``, then the pickled
``(table, encoded records)``); only parent and child, started together, read them.
"""

from __future__ import annotations

import importlib
import pickle
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, BinaryIO, Final, cast

from engine.batch import BatchOutcome, PreparedBatch
from engine.changes import RunCounts
from engine.counting import CountingReader
from engine.errors import BatchError
from engine.models import Model
from engine.ports import NEW, BatchFile, StoreError, TargetWrite
from engine.report import ReportedError

GROUP_RECORDS: Final = 100
"""Known-new records sent together (the parent stores a table's records of a group as one write)."""
CREATED: Final = "__createdtime__"
UPDATED: Final = "__updatedtime__"
"""The store's time stamps: a record that carries one is not encoded here (the store decides)."""
_NEW_ONE: Final = (NEW,)
"""The outcome of a commit of one record kept to be sent in a group."""

# child → parent
START: Final = "start"
CALL: Final = "call"
LOG: Final = "log"
ERROR: Final = "error"
FAILED: Final = "failed"
PROGRESS: Final = "progress"
CHECKED: Final = "checked"
DONE: Final = "done"
GROUP: Final = b"G"
# parent → child
ANSWER: Final = "answer"
RAISE: Final = "raise"
STOP: Final = "stop"
ABORT: Final = "abort"

COUNT_FIELDS: Final = ("read", "complete", "dry_run", "tables", "destinations", "samples", "more")
"""What of a :class:`RunCounts` goes to the parent."""


def pack(*message: Any) -> bytes:
    """A frame: the message's tuple, pickled."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(frame: bytes) -> tuple[Any, ...]:
    """The tuple of a frame made by :func:`pack`."""
    message = pickle.loads(frame)
    assert isinstance(message, tuple)
    return message


def counts_state(counts: RunCounts) -> dict[str, Any]:
    """A run's counts as plain data."""
    return {name: getattr(counts, name) for name in COUNT_FIELDS}


def restore_counts(counts: RunCounts, state: Mapping[str, Any]) -> None:
    """Set ``counts`` to what :func:`counts_state` gave."""
    for name in COUNT_FIELDS:
        setattr(counts, name, state[name])


class RemoteFailure(Exception):
    """The parent's store failed with an error that is not the engine's (the message is kept)."""


def raised(kind: str, message: str, table: str | None) -> Exception:
    """The exception the parent reported, as this side raises it."""
    if kind == "StoreError":
        error = StoreError(message)
        if table is not None:
            error.table = table  # type: ignore[attr-defined]  # read with getattr by the engine
        return error
    if kind == "BatchError":
        return BatchError(message)
    return RemoteFailure(message)


class _Channel:
    """This side of the connection: what the parent has said besides answers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stop = False
        self.abort: str | None = None

    def send(self, frame: bytes) -> None:
        self.conn.send_bytes(frame)

    def _note(self, message: tuple[Any, ...]) -> None:
        if message[0] == STOP:
            self.stop = True
        elif message[0] == ABORT:
            self.abort = str(message[1])

    def should_stop(self) -> bool:
        """Whether the parent asked the run to stop; raises BatchError if its store failed."""
        while self.abort is None and self.conn.poll():
            self._note(unpack(self.conn.recv_bytes()))
        if self.abort is not None:
            raise BatchError(self.abort)
        return self.stop

    def answer(self) -> Any:
        """Wait for the answer to the call just sent."""
        while True:
            message = unpack(self.conn.recv_bytes())
            if message[0] == ANSWER:
                return message[1]
            if message[0] == RAISE:
                raise raised(message[1], message[2], message[3])
            self._note(message)


Encoder = Callable[[Any, list[dict[str, Any]], float], Any]
"""Encodes a table's new records for its store: (the table's layout, the records, the clock offset)."""


class RemoteStore:
    """The TargetStore of a run in a child process: the parent's store, over the connection."""

    def __init__(
        self,
        channel: _Channel,
        known_new: Mapping[str, tuple[str, Any]],
        generated_keys: frozenset[str],
        encode: Encoder,
        clock_offset: float,
    ) -> None:
        self._channel = channel
        self._known_new = known_new
        self._generated = generated_keys
        self._encode = encode
        self._clock_offset = clock_offset
        self._kept: dict[str, list[dict[str, Any]]] = {}
        self._count = 0

    def send_writes(self) -> None:
        """Send the records kept, encoded, a group per table."""
        if not self._count:
            return
        kept, self._kept, self._count = self._kept, {}, 0
        for table, records in kept.items():
            encoded = self._encode(self._known_new[table][1], records, self._clock_offset)
            self._channel.send(GROUP + pickle.dumps((table, encoded), protocol=pickle.HIGHEST_PROTOCOL))

    def _call(self, method: str, *args: Any) -> Any:
        self.send_writes()
        self._channel.send(pack(CALL, method, args))
        return self._channel.answer()

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._call("get", table, key)
        return found

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("find", table, attribute, value)
        return found

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("scan", table)
        return iter(found)

    def tables(self) -> Mapping[str, str]:
        found: dict[str, str] = self._call("tables")
        return found

    def commit(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        if len(writes) == 1:
            write = writes[0]
            known = self._known_new.get(write.table) if write.is_new else None
            if known is not None:
                # kept when it can be encoded as new (a non-empty string key, no store time stamps);
                # the record itself: the engine made it for this target and leaves it once committed
                record = write.record
                key = record.get(known[0])
                if type(key) is str and key and CREATED not in record and UPDATED not in record:
                    kept = self._kept.get(write.table)
                    if kept is None:
                        kept = self._kept[write.table] = []
                    kept.append(record)
                    self._count += 1
                    if self._count >= GROUP_RECORDS:
                        self.send_writes()
                    return _NEW_ONE
        outcomes: list[int] = self._call("commit", [_plain(w) for w in writes])
        return outcomes

    def preview(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        generated = self._generated
        if all(write.is_new and write.table in generated for write in writes):
            return [NEW] * len(writes)  # as the store answers them, without a read
        outcomes: list[int] = self._call("preview", [_plain(w) for w in writes])
        return outcomes


def _plain(write: TargetWrite) -> list[Any]:
    return [write.table, write.primary_key, write.record, write.is_new]


def target_write(plain: Sequence[Any]) -> TargetWrite:
    """A write as :func:`_plain` sent it."""
    table, primary_key, record, is_new = plain
    return TargetWrite(str(table), str(primary_key), dict(record), bool(is_new))


def _opener(path: str, on_read: Callable[[int], None]) -> Callable[[], BinaryIO]:
    def open_file() -> BinaryIO:
        return cast(BinaryIO, CountingReader(open(path, "rb"), on_read))  # noqa: SIM115 (the reader closes it)

    return open_file


def run_child(conn: Connection) -> None:
    """Run the batch the parent's START message describes, then send DONE."""
    channel = _Channel(conn)
    start = unpack(conn.recv_bytes())
    options: dict[str, Any] = start[1]
    model = Model.from_json(options["model"])
    prepared = PreparedBatch(options["control"], model)
    bytes_read = [0]

    def on_read(count: int) -> None:
        bytes_read[0] += count

    files = [
        BatchFile(name, _opener(path, on_read), size, checked)
        for name, path, size, checked in options["files"]
    ]
    module, _, function = str(options["encoder"]).partition(":")
    encode: Encoder = getattr(importlib.import_module(module), function)
    store = RemoteStore(
        channel, options["known_new"], frozenset(options["generated_keys"]), encode, options["clock_offset"]
    )
    counts = RunCounts()

    def log(line: str) -> None:
        store.send_writes()
        channel.send(pack(LOG, line))

    def on_error(error: ReportedError) -> None:
        store.send_writes()
        channel.send(pack(ERROR, error.message, error.record, error.source, error.source_record))

    def on_failed_record(committed: bool) -> None:
        store.send_writes()
        channel.send(pack(FAILED, committed))

    def on_checked(file: BatchFile, hints: object) -> None:
        channel.send(pack(CHECKED, file.name, hints))

    def progress(done: int) -> None:
        store.send_writes()
        channel.send(pack(PROGRESS, done, bytes_read[0], counts_state(counts)))

    outcome: BatchOutcome = prepared.run(
        files,
        store,
        dry_run=bool(options["dry_run"]),
        log=log,
        progress=progress,
        should_stop=channel.should_stop,
        max_errors=options["max_errors"],
        batch_identifier=options["batch_identifier"],
        on_error=on_error,
        on_failed_record=on_failed_record,
        counts=counts,
        on_checked=on_checked,
    )
    store.send_writes()
    result = (
        outcome.errors,
        outcome.records,
        outcome.committed,
        outcome.exception,
        outcome.skipped,
        outcome.checks_skipped,
    )
    channel.send(pack(DONE, result, bytes_read[0], counts_state(counts)))


def main(argv: Sequence[str]) -> int:
    """``python -m engine.remote FD``: run one batch over the socket FD.

    SIGINT and SIGTERM are ignored: a terminal's Ctrl-C or a service manager's stop reaches the
    parent too, which stops the run at a record boundary (STOP) and waits for this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(argv[1]))
    try:
        run_child(conn)
    except (EOFError, BrokenPipeError):
        return 1  # the parent went away
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
