"""Hold a run mid-file when its file is in S3: a proxy in front of the S3 server that stops
forwarding one object's answer part-way.

:class:`tests.support.held_blob.HeldBlob` holds a run that reads from the filesystem; a
process whose uploaded files are in S3 reads them with GETs over HTTP instead. Give each
such process a :class:`HeldObjectProxy` of its own as its S3 endpoint
(``GATEWAY_BLOBS_S3_ENDPOINT_URL``): every connection is forwarded to the real server
(moto on loopback), and the answer to the ``nth`` GET of the object whose key holds
``name`` (a file's digest) is forwarded up to ``after`` bytes (headers included), then
held until :meth:`HeldObjectProxy.release` or :meth:`~tests.support.tcpproxy.TcpProxy.cut`.
A large file's run reads it twice (engine/readers/base.py): ``nth=2`` holds the records
pass, with the records before that point processed and none after it. ``held`` is set
once the answer is held, so with one proxy per process the proxy tells which process
holds the file. A GET that resumes the same object (after a dropped connection) is held
at once.

Requests are plain HTTP (moto on loopback), so a request line is read as it passes; the
client sends a request only after reading the answer to the one before, so an answer
belongs to the last request seen on its connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.tcpproxy import TcpProxy

LIMIT = 300.0  # seconds an answer may stay held before the proxy gives up holding it


class _Exchange:
    """What one forwarded connection is doing: whether its current answer is the held one."""

    def __init__(self) -> None:
        self.holding = False
        self.sent = 0


class HeldObjectProxy(TcpProxy):
    """Forwards to ``host:port`` (an S3 server), holding the ``nth`` GET of the object named ``name``."""

    def __init__(self, host: str, port: int, name: str, nth: int = 2, after: int = 256 * 1024) -> None:
        self.name = name.encode()
        self.nth = nth
        self.after = after
        self.gets = 0  # GETs of the object seen so far
        self.held = threading.Event()
        self._released = threading.Event()
        self._gets_lock = threading.Lock()
        super().__init__(host, port)

    @property
    def url(self) -> str:
        """The endpoint URL a process should use to reach the S3 server through this proxy."""
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        """Forward the rest of the held answer (and hold nothing more)."""
        self._released.set()

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        exchange = _Exchange()
        threading.Thread(target=self._requests, args=(client, upstream, exchange), daemon=True).start()
        threading.Thread(target=self._answers, args=(upstream, client, exchange), daemon=True).start()

    def _requests(self, source: socket.socket, sink: socket.socket, exchange: _Exchange) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if data.startswith(b"GET ") and self.name in data.split(b"\r\n", 1)[0]:
                    with self._gets_lock:
                        self.gets += 1
                        exchange.holding = self.gets >= self.nth and not self._released.is_set()
                        exchange.sent = self.after if self.gets > self.nth else 0
                elif data[:4] in (b"GET ", b"HEAD", b"PUT ", b"POST", b"DELE"):
                    exchange.holding = False
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _answers(self, source: socket.socket, sink: socket.socket, exchange: _Exchange) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if exchange.holding and not self._released.is_set():
                    room = max(0, self.after - exchange.sent)
                    if len(data) > room:
                        sink.sendall(data[:room])
                        exchange.sent += room
                        self.held.set()
                        if not self._released.wait(LIMIT):
                            return
                        data = data[room:]
                    exchange.sent += len(data)
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Release what is held, then refuse new connections and drop every forwarded one."""
        self._released.set()
        super().cut()
