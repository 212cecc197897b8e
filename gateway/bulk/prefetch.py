"""Producing the next parts of a load in a background thread while the current one is written.

Reading, casting and encoding a chunk is mostly pyarrow and numpy work that runs
without the GIL, so a producer thread a couple of chunks ahead overlaps it with
the writer's Python and RocksDB work on the other core. The queue is bounded
and neither thread keeps an item once it has handed it on (memory stays flat:
``depth`` items, one being produced and one being used), an error in the producer is raised in the consumer, and the
producer is stopped and joined before the consumer returns, so the source file
is never read after the load ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL_SECONDS = 0.1


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead."""
    slots: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    close_iterator(items)  # stopped early: the source's own clean-up runs now, in this thread
                    return
                del item  # not held while the next one is produced
            offer((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer((_END, exc))

    thread = threading.Thread(target=produce, name="bulk-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
            del item  # not held while waiting for the next one
    finally:
        stop.set()
        thread.join()


def close_iterator(items: Iterator[object]) -> None:
    """Close ``items`` if it is a generator (or anything else with ``close``)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()
