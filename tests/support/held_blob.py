"""Hold a running batch mid-file: serve a stored upload through a FIFO that the test feeds.

Uploaded files are content-addressed blobs, ``<root>/blobs/ab/<sha256>``
(gateway/storage/blobs.py), and a batch run opens that path to read the file.
:class:`HeldBlob` replaces the blob with a FIFO and feeds it from a thread:

* the engine reads a file larger than ``KEEP_LIMIT`` twice (engine/readers/base.py):
  first in full to check it, then again for its records. The check pass gets the
  whole file. With ``checked=True`` the server remembers an earlier check of the file
  (a real run after a dry run of it, gateway/imports/checked.py) and reads it once:
  there is no check pass;
* the records pass gets only the first ``held_at`` bytes; the write end then stays
  open, so the run is blocked in a read mid-file, with the records before that point
  processed and none after it, for as long as the test wants;
* :meth:`HeldBlob.release` writes the rest and closes, so the run can finish;
  :meth:`HeldBlob.release_when` does that once an event is set (say, the server's
  "stopping"), and then does not mind if the run stops reading before the end.

The reader may be one of several processes (``gateway worker`` processes sharing the root):
pass their pids, and :meth:`HeldBlob.holder` tells which one holds the file.

With ``gated=True`` nothing is served (the run waits in its first ``open``) until
:meth:`HeldBlob.serve`. Nothing here depends on how fast the server is: every wait is
for an event, bounded by a generous time limit only so that a broken server cannot
hang the test. On leaving the ``with`` block (or at :meth:`HeldBlob.close`, for a
test whose server outlives the block it would need) the regular file is put back.

The feeder needs Linux's ``/proc``: between the two passes it waits until the server
process no longer has the FIFO open, so that the second pass's ``open`` (not the
first pass's still-open descriptor) gets the prefix.
"""

from __future__ import annotations

import errno
import hashlib
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from engine.readers.base import KEEP_LIMIT
from tests.support.prerequisites import require

POLL = 0.01
LIMIT = 300.0  # seconds any one wait of the feeder may take before it gives up


class _Stopped(Exception):
    """The test left the ``with`` block: the feeder stops where it is."""


def blob_path(root: Path, data: bytes) -> Path:
    """Where the gateway on ``root`` stores an upload of ``data``."""
    digest = hashlib.sha256(data).hexdigest()
    return root / "blobs" / digest[:2] / digest


class HeldBlob:
    """Feeds the stored copy of ``data`` under ``root`` to the server process ``reader_pid`` (or to
    whichever of several processes opens it)."""

    def __init__(
        self,
        root: Path,
        data: bytes,
        reader_pid: int | Sequence[int],
        held_at: int,
        gated: bool = False,
        checked: bool = False,
    ) -> None:
        if len(data) <= KEEP_LIMIT:
            raise ValueError(
                f"{len(data)} bytes are read in one pass (KEEP_LIMIT is {KEEP_LIMIT}): "
                "no record would be processed before the whole file is read"
            )
        if not 0 < held_at < len(data):
            raise ValueError(f"held_at must be inside the file (0 < {held_at} < {len(data)})")
        self.path = blob_path(root, data)
        self.data = data
        self.reader_pids = [reader_pid] if isinstance(reader_pid, int) else list(reader_pid)
        self.held_at = held_at
        self.checked = checked
        self.opens = 0  # how many times the server opened the FIFO (as seen by the feeder)
        self.error: BaseException | None = None
        self._start = threading.Event()
        self._held = threading.Event()
        self._release = threading.Event()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._release_on: threading.Event | None = None
        self._unread_ok = False
        self._started = False
        self._fifo: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="held-blob", daemon=True)
        if not gated:
            self._start.set()

    # -- the test's side ------------------------------------------------------

    def __enter__(self) -> HeldBlob:
        return self.start()

    def start(self) -> HeldBlob:
        """Put the FIFO in place of the stored file and start feeding it."""
        require(Path(f"/proc/{self.reader_pids[0]}/fd").is_dir(), "no /proc/<pid>/fd: HeldBlob needs Linux")
        assert self.path.is_file(), f"no stored upload at {self.path}"
        assert self.path.read_bytes() == self.data, f"{self.path} does not hold the data"
        self.path.unlink()
        os.mkfifo(self.path)
        st = self.path.stat()
        self._fifo = (st.st_dev, st.st_ino)
        self._thread.start()
        self._started = True
        return self

    def serve(self) -> None:
        """With ``gated=True``: start feeding (until then the run waits in its first ``open``)."""
        self._start.set()

    def wait_held(self, timeout: float = 120) -> None:
        """Wait until the records pass has been given the prefix (the run is then held mid-file)."""
        self._wait(self._held, timeout, "the records pass never opened the file")

    def release(self, timeout: float = 120) -> None:
        """Write the rest of the file and close it, so that the run can finish; wait until written."""
        self._release.set()
        self._wait(self._done, timeout, "the rest of the file was not read")

    def release_when(self, event: threading.Event) -> None:
        """Write the rest of the file once ``event`` is set (the run may stop reading before the end)."""
        self._unread_ok = True
        self._release_on = event

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(check=kind is None)

    def close(self, check: bool = True) -> None:
        """Stop feeding and put the regular file back; with ``check``, raise what the feeder failed on."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the feeder thread did not stop"
        restored = self.path.with_name(self.path.name + ".restore")
        restored.write_bytes(self.data)
        os.replace(restored, self.path)  # the regular file again, for whatever runs next
        if check and self.error is not None:
            raise AssertionError(f"the feeder failed: {self.error!r}") from self.error

    def _wait(self, event: threading.Event, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not event.wait(POLL):
            if self.error is not None:
                raise AssertionError(f"the feeder failed: {self.error!r}") from self.error
            assert self._thread.is_alive(), "the feeder thread ended"
            assert time.monotonic() < deadline, f"{what} within {timeout}s (opens seen: {self.opens})"

    # -- the feeder thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            self._until(self._start.is_set, "serve()")
            if not self.checked:
                fd = self._open_for_writing()  # the check pass
                self._write(fd, self.data)
                os.close(fd)
                self._until(lambda: not self._reader_has_it_open(), "the check pass to close the file")
            fd = self._open_for_writing()  # the records pass
            try:
                self._write(fd, self.data[: self.held_at])
                self._held.set()
                self._until(self._released, "release()")
                try:
                    self._write(fd, self.data[self.held_at :])
                except BrokenPipeError:  # the run stopped reading and closed the file
                    if not self._unread_ok:
                        raise
            finally:
                os.close(fd)
            self._done.set()
        except _Stopped:
            pass
        except BaseException as exc:  # reported to the test by _wait / __exit__
            self.error = exc

    def _released(self) -> bool:
        event = self._release_on
        return self._release.is_set() or (event is not None and event.is_set())

    def _until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + LIMIT
        while not condition():
            if self._stop.wait(POLL):
                raise _Stopped
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {LIMIT}s for {what}")

    def _open_for_writing(self) -> int:
        """Open the FIFO's write end once the server opens it for reading (non-blocking writes)."""
        deadline = time.monotonic() + LIMIT
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
            else:
                self.opens += 1
                return fd
            if self._stop.wait(POLL):
                raise _Stopped
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not open {self.path} within {LIMIT}s")

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + LIMIT
        while view:
            if self._stop.is_set():
                raise _Stopped
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server stopped reading {self.path}")
            _, writable, _ = select.select([], [fd], [], 0.05)
            if not writable:
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue

    def holder(self) -> int | None:
        """The pid of the reader process that holds the FIFO open now, if any."""
        for pid in self.reader_pids:
            try:
                if self._has_it_open(pid):
                    return pid
            except FileNotFoundError:  # that process is gone
                continue
        return None

    def _reader_has_it_open(self) -> bool:
        """Whether a reader process holds a descriptor on the FIFO (Linux ``/proc``)."""
        gone = 0
        for pid in self.reader_pids:
            try:
                if self._has_it_open(pid):
                    return True
            except FileNotFoundError:
                gone += 1
        if gone == len(self.reader_pids):
            raise RuntimeError(f"the reader process(es) {self.reader_pids} are gone")
        return False

    def _has_it_open(self, pid: int) -> bool:
        entries = list(os.scandir(Path(f"/proc/{pid}/fd")))  # FileNotFoundError: the process is gone
        for entry in entries:
            try:
                st = os.stat(entry.path)
            except OSError:  # closed meanwhile
                continue
            if (st.st_dev, st.st_ino) == self._fifo:
                return True
        return False
