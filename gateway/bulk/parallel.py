"""Parsing a large CSV file in a worker process while this process writes it.

A load is two halves of about equal cost: read, parse and cast (the parse
worker, ``gateway.bulk.parseworker``) and encode and write (the loader, which
owns the store). Running the first half in a child process lets them overlap
on two cores. The child inherits the already opened (confined) file
descriptor, sends parts over a pipe (bounded: it blocks when the loader is
behind, so memory stays flat) and is killed if the load stops early.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import BinaryIO

from gateway.bulk.arrowcsv import arrow_parts
from gateway.bulk.errors import SourceError
from gateway.bulk.parseworker import read_frames
from gateway.bulk.prepare import Part
from gateway.jobs.progress import Progress


def worker_parts(handle: BinaryIO, progress: Progress) -> Iterator[Part]:
    """Parts of the CSV file open as ``handle``: pyarrow's reader, or else a worker process."""
    parts = arrow_parts(handle, progress)
    if parts is not None:
        yield from parts
        return
    yield from _process_parts(handle, progress)


def _process_parts(handle: BinaryIO, progress: Progress) -> Iterator[Part]:
    """Parts of the CSV file open as ``handle``, parsed by a worker process."""
    fd = handle.fileno()
    os.lseek(fd, 0, os.SEEK_SET)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.bulk.parseworker", f"fd:{fd}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(fd,),
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        try:
            for bytes_read, part in read_frames(process.stdout):
                progress.bytes_read = bytes_read
                if part is None:
                    break
                yield part
        except EOFError as exc:
            process.wait(timeout=30)
            detail = process.stderr.read().decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"the CSV parse worker failed: {detail[-1] if detail else exc}") from exc
        if process.wait(timeout=30) != 0:
            raise SourceError(f"the CSV parse worker exited with status {process.returncode}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def worth_a_worker(size: int, minimum: int) -> bool:
    """Whether to parse in a worker: a file of at least ``minimum`` bytes and a core to spare.

    The two halves only overlap when a second core is idle; on a machine already
    busy (1-minute load above cores - 1) the extra process costs more than it gives.
    """
    if minimum <= 0 or size < minimum:
        return False
    cores = os.cpu_count() or 1
    if cores < 2:
        return False
    try:
        load = os.getloadavg()[0]
    except OSError:
        return True
    return load <= cores - 1
