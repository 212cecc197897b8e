"""Restarting this process (``restart``, ``restart_service``): who may ask, and the hook that stops the server.

``gateway serve`` attaches a stop function (it tells uvicorn to shut down gracefully): the
answer of the request that asked is sent first, then uvicorn closes the listening socket,
the app's lifespan stops the gateway as SIGTERM does (running batches and jobs reach a
record boundary and save their state, the store is closed and its lock released), and
``gateway serve`` replaces the process image with a fresh ``gateway serve`` with the same
arguments and environment (``os.execv``: same pid). A process not run by ``gateway serve``
(an app under another ASGI server, a test client) has nothing attached and cannot restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

SERVICES = ("http_workers",)
"""What ``restart_service`` restarts: the process's HTTP server, which here is the whole process."""
CLUSTERING_SERVICES = ("clustering_config", "clustering")
"""HarperDB's clustering services: this server has none."""


class RestartUnavailable(RuntimeError):
    """This process was not started by ``gateway serve``: nothing can restart it."""


class RestartControl:
    """The process's restart request: set once, read by ``gateway serve`` after the server stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._requested: str | None = None

    def attach(self, stop: Callable[[], None]) -> None:
        """Called by ``gateway serve``: ``stop`` begins a graceful shutdown of the server."""
        with self._lock:
            self._stop = stop

    def request(self, reason: str) -> None:
        """Ask for a restart (``reason``: what asked, for the log); the server begins to stop.

        Raises RestartUnavailable when no server is attached. A second request while the
        first is under way changes nothing.
        """
        with self._lock:
            stop = self._stop
            if stop is None:
                raise RestartUnavailable(
                    "this process was not started by 'gateway serve', so it cannot restart itself"
                )
            if self._requested is None:
                self._requested = reason
        stop()

    @property
    def requested(self) -> str | None:
        """What asked for a restart, or None."""
        with self._lock:
            return self._requested
