"""A loopback TCP proxy that a test can cut: a server that goes away, without stopping the server.

``TcpProxy(host, port)`` listens on 127.0.0.1 (a free port) and forwards every
connection to ``host:port``. ``cut()`` closes the listener and every forwarded
connection at once: clients see their connections drop and new ones refused, as
when the server's machine goes away. ``drop()`` closes the forwarded connections
only: new ones are forwarded again, as after a network blip.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards connections to ``host:port`` until :meth:`cut`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                cut = self._cut
            if cut:  # the wake-up connection of cut()
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._forward(client, upstream)

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        """Start copying both ways between a client and its upstream connection."""
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def drop(self) -> None:
        """Drop every forwarded connection; new ones are forwarded as before."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """Refuse new connections and drop every forwarded one."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        with contextlib.suppress(OSError):  # wakes the accepting thread (closing the listener does not)
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        self._thread.join(timeout=5)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
