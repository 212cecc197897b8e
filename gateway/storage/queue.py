"""The task queue port: background work (batch runs, bulk jobs) by name, and who runs it.

A family registers a task (a name and a function of ``(key, args)``) and enqueues
work for it: ``key`` names what the work is about (a batch identifier, a job id)
and ``args`` is JSON. Enqueueing can go with a :class:`Change` of one record of
the ``system`` database (a batch becoming ``scheduled``, a new job record): the
change and the enqueue are one atomic step, so a record never says "queued"
without its work being queued, nor the other way round.

Two implementations:

- the embedded queue (``gateway.jobs.embedded``, for the embedded store): work runs
  on the scheduler's threads in this process and is kept in memory only
  (``durable`` is False); at start each family queues again what its tables say is
  waiting and fails what was cut short;
- a backend's shared queue (``Storage.queue``; PostgreSQL: procrastinate on the
  store's own database, ``gateway.storage.postgres.queue``): work is kept in the
  database with the records (``durable`` is True) and run by any process that
  starts working (:meth:`TaskQueue.start`), each piece by exactly one of them. Work whose
  worker died (no heartbeat) is not :meth:`TaskQueue.alive`; the families fail
  what they recorded as running for it.

A task that raises :class:`Postponed` (its process is stopping before it began)
is run again later, by this process after a restart or by another one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Args = dict[str, Any]
"""A task's arguments: JSON (a shared queue stores them)."""
Apply = Callable[[dict[str, Any] | None], dict[str, Any] | None]
"""The stored record (None: there is none) → the record to store, or None to leave it as it is."""
Run = Callable[[str, Args], None]
"""A task's function: ``run(key, args)``."""


@dataclass(frozen=True)
class Change:
    """A change of one record of the ``system`` database, read and written atomically.

    ``apply`` may run more than once (a transaction that met a concurrent writer is run
    again) and must have no other effect; an exception it raises ends the step with
    nothing changed and nothing queued.
    """

    table: str
    key: str
    apply: Apply


class Postponed(Exception):
    """The task did not begin (its process is stopping): run it again later."""


class TaskQueue(Protocol):
    """Named background work, enqueued atomically with a record's change, run by workers."""

    @property
    def durable(self) -> bool:
        """Whether queued work outlives this process (and is shared by every process on the store)."""
        ...

    def register(self, task: str, run: Run) -> None:
        """Run ``run(key, args)`` for each piece of work enqueued under ``task``."""
        ...

    def enqueue(self, task: str, key: str, args: Args, change: Change | None = None) -> bool:
        """Queue ``task`` for ``key``; with ``change``, only if its ``apply`` returns a record, stored
        in the same atomic step. Whether it was queued."""
        ...

    def change(self, change: Change) -> dict[str, Any] | None:
        """Apply ``change`` atomically (no enqueue); the record stored, or None if left as it was."""
        ...

    def alive(self, task: str) -> set[str]:
        """Keys of ``task``'s work that is waiting or running on a live worker (read after the
        records that say "running", so that work which ends in between is not taken for lost)."""
        ...

    def start(self, concurrency: int) -> None:
        """Run queued work in this process, ``concurrency`` pieces at a time."""
        ...

    @property
    def working(self) -> bool:
        """Whether this process runs queued work (and still can: its worker is up)."""
        ...

    def stop(self) -> None:
        """Take no more work and wait for the running pieces (told to stop by their families) to end."""
        ...
