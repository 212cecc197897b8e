"""Start a real ``gateway serve`` subprocess on a free loopback port, or a ``gateway worker``, for
end-to-end tests."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-password"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_output(log_path: Path) -> str:
    """What a gateway subprocess has printed so far (its log file)."""
    return log_path.read_text("utf-8", errors="replace")


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Send ``sig`` to a gateway subprocess and wait (bounded; killed after ``timeout``); its exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return int(process.returncode)


@dataclass
class ServerProcess:
    """A running ``gateway serve`` and how to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    root: Path
    log_path: Path

    def auth_header(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def op(self, body: dict[str, Any], timeout: float = 30) -> tuple[int, Any]:
        """POST an operation as the admin; (status, decoded JSON)."""
        request = urllib.request.Request(
            self.url + "/",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": self.auth_header()},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def output(self) -> str:
        return read_output(self.log_path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Stop the server (SIGTERM by default, SIGKILL for crash tests); its exit code."""
        return stop_process(self.process, sig, timeout)


def _environment(extra_env: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        {
            "GATEWAY_ADMIN_USERNAME": ADMIN_USER,
            "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
    )
    return env


def start_server(
    root: Path,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30,
    args: Sequence[str] = (),
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``python -m gateway serve [args]`` on a free port and wait until /health answers (``cwd``: the
    directory it runs in; ``python -m`` imports the ``gateway`` package found there before PYTHONPATH's).

    Tests run in parallel (pytest-xdist): where another process took the chosen port before the server
    bound it, the server is started again on another free port."""
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(PORT_ATTEMPTS):
        try:
            return _start_server_on(free_port(), root, extra_env, timeout, args, cwd)
        except PortTaken:
            if attempt == PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


PORT_ATTEMPTS = 5


class PortTaken(RuntimeError):
    """``gateway serve`` could not bind its port: another process took it after :func:`free_port`."""


def _start_server_on(
    port: int,
    root: Path,
    extra_env: dict[str, str] | None,
    timeout: float,
    args: Sequence[str],
    cwd: Path | None,
) -> ServerProcess:
    log_path = root.parent / f"server-{port}.log"
    env = _environment(extra_env)
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--root",
            str(root),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    log_file.close()
    server = ServerProcess(process, f"http://127.0.0.1:{port}", root, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = server.output()
            if "address already in use" in output.lower():
                raise PortTaken(f"port {port} was taken:\n{output}")
            raise RuntimeError(f"gateway serve exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"gateway serve did not answer /health within {timeout}s:\n{server.output()}")


@dataclass
class WorkerProcess:
    """A running ``gateway worker``."""

    process: subprocess.Popen[bytes]
    root: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def output(self) -> str:
        return read_output(self.log_path)

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        """Wait until the worker has printed ``text`` (polling its output; bounded)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None and text not in self.output():
                raise RuntimeError(f"gateway worker exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"gateway worker did not print {text!r} within {timeout}s:\n{self.output()}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Stop the worker (SIGTERM: graceful; SIGKILL: a crash); its exit code."""
        return stop_process(self.process, sig, timeout)


WORKER_READY = "gateway: worker running"
"""What ``gateway worker`` prints once it takes work."""


def start_worker(
    root: Path, extra_env: dict[str, str] | None = None, concurrency: int = 1, timeout: float = 60
) -> WorkerProcess:
    """Start ``python -m gateway worker`` on ``root`` and wait until it takes work."""
    root.mkdir(parents=True, exist_ok=True)
    log_path = root.parent / f"worker-{uuid.uuid4().hex[:8]}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "worker", "--root", str(root), "--concurrency", str(concurrency)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=_environment(extra_env),
    )
    log_file.close()
    worker = WorkerProcess(process, root, log_path)
    try:
        worker.wait_for_output(WORKER_READY, timeout)
    except RuntimeError:
        worker.stop(signal.SIGKILL)
        raise
    return worker


@contextlib.contextmanager
def serving_with_model(
    root: Path, model: dict[str, Any], extra_env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """A ``gateway serve`` on ``root`` with ``model`` registered, stopped at the end."""
    running = start_server(root, extra_env)
    try:
        status, answer = running.op({"operation": "add_import_model", "model": model})
        assert status == 200, answer
        yield running
    finally:
        running.stop()
