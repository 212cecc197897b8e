"""The ``gateway`` command: serve, worker, backup, and the key/model verbs."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from gateway.app import create_app, open_gateway, start_gateway, stop_gateway
from gateway.config import Config, ConfigError, load_config
from gateway.http.operations_protocol import http_protocol
from gateway.http.server import uvicorn_options
from gateway.imports import cli as import_verbs
from gateway.storage.backends import missing_store, open_storage, store_exists
from gateway.storage.errors import StoreError, StoreLocked

Command = Callable[[argparse.Namespace], int]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", help="data directory (env GATEWAY_ROOT, default ./gateway-data)")
    parser.add_argument(
        "--config", help="YAML configuration (env GATEWAY_CONFIG, default <root>/gateway-config.yaml)"
    )


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["http.host"] = args.host
    if getattr(args, "port", None):
        overrides["http.port"] = args.port
    if getattr(args, "concurrency", None):
        overrides["jobs.threads"] = args.concurrency
    return load_config(root=args.root, config_file=args.config, overrides=overrides)


NO_SHARED_QUEUE = (
    "needs a job queue shared by several processes, which only storage.backend: postgres has "
    "(on the embedded store, gateway serve runs its batches and bulk jobs itself)"
)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP server and store in this process, and (unless --no-worker) queued work."""
    config = _config(args)
    options = uvicorn_options(config)
    try:
        gateway = open_gateway(config)
    except StoreLocked as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    if args.no_worker and not gateway.jobs.queue.durable:
        gateway.storage.close()
        print(f"gateway: serve --no-worker {NO_SHARED_QUEUE}", file=sys.stderr)
        return 1
    app = create_app(gateway=gateway, work=not args.no_worker)
    options["http"] = http_protocol(config, app)
    host = str(gateway.config.get("http.host"))
    port = int(gateway.config.get("http.port"))
    print(f"gateway: serving on http://{host}:{port} (root {gateway.config.root})", flush=True)
    url_file = gateway.config.server_url_file
    url_file.write_text(gateway.config.local_url() + "\n", encoding="utf-8")
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, workers=1, log_level="warning", timeout_graceful_shutdown=30, **options
        )
    )
    gateway.restart.attach(lambda: setattr(server, "should_exit", True))
    stops = _StopSignals()
    try:
        server.run()
    finally:
        stops.restore()
        restarting = gateway.restart.requested is not None and not stops.received and server.started
        if not restarting:
            url_file.unlink(missing_ok=True)
    if not server.started:
        return STARTUP_FAILURE
    if restarting:
        _start_again(serve_argv(args))
    return 0


STARTUP_FAILURE = 3
"""``gateway serve``'s exit status when uvicorn could not start (the port taken): uvicorn's own."""


def serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``gateway serve`` arguments that started this process, as parsed."""
    argv = ["serve"]
    for flag in ("root", "config", "host", "port"):
        value = getattr(args, flag, None)
        if value is not None:
            argv += [f"--{flag}", str(value)]
    if getattr(args, "no_worker", False):
        argv.append("--no-worker")
    return argv


def _start_again(argv: list[str]) -> None:
    """Replace this process with ``python -m gateway <argv>`` (same pid, environment and directory).

    Called once the server has stopped: the listening socket is closed and the store closed
    (its lock released), so the new image binds the same port and opens the same store.
    """
    print("gateway: restarting", flush=True)
    logging.shutdown()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "gateway", *argv])


class _StopSignals:
    """SIGTERM/SIGINT handlers that only note the signal, installed around the uvicorn server's ``run``.

    uvicorn handles the signal itself (a graceful shutdown), then raises it again
    for the handler it found. With these, that second delivery lets ``serve``
    return normally, so the server-url file is removed and a graceful stop exits
    0 (not -15 or a KeyboardInterrupt).
    """

    def __init__(self) -> None:
        self.received = False
        """Whether a stop signal came (then a restart asked for meanwhile does not happen)."""
        self._previous = {sig: signal.signal(sig, self._ignore) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _ignore(self, signum: int, frame: object) -> None:
        """Nothing but note it: uvicorn has already stopped the server for this signal."""
        self.received = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run queued batches and bulk jobs (no HTTP) until SIGTERM or SIGINT, then stop at a record boundary."""
    config = _config(args)
    if str(config.get("storage.backend")) != "postgres":  # before anything is opened (or created)
        print(f"gateway: worker {NO_SHARED_QUEUE}", file=sys.stderr)
        return 1
    if not store_exists(config):
        print(f"gateway: {missing_store(config, 'worker')}", file=sys.stderr)
        return 1
    try:
        gateway = open_gateway(config)
    except StoreLocked as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    if not gateway.jobs.queue.durable:
        gateway.storage.close()
        print(f"gateway: worker {NO_SHARED_QUEUE}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        username = os.environ.get("GATEWAY_ADMIN_USERNAME")
        generated = start_gateway(
            gateway, username, os.environ.get("GATEWAY_ADMIN_PASSWORD"), work=True, role="worker"
        )
        if generated:
            print(f"Created super user 'admin' with password: {generated}", flush=True)
        concurrency = int(gateway.config.get("jobs.threads"))
        print(
            f"gateway: worker running {concurrency} job(s) at a time (root {gateway.config.root})", flush=True
        )
        while not stop.wait(1.0):
            pass
        print("gateway: worker stopping: running work ends at its next record boundary", flush=True)
    finally:
        stop_gateway(gateway)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("gateway: worker stopped", flush=True)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A checkpoint of the (stopped) server's store in DIR."""
    config = _config(args)
    target = Path(args.dir).resolve()
    if target.exists():
        print(f"gateway: backup directory {target} already exists", file=sys.stderr)
        return 1
    if not store_exists(config):
        print(f"gateway: {missing_store(config, 'backup')}", file=sys.stderr)
        return 1
    try:
        storage = open_storage(config)
    except StoreLocked as exc:
        print(f"gateway: {exc}; use the get_backup operation on a running server", file=sys.stderr)
        return 1
    try:
        storage.backup.checkpoint(str(target))
    finally:
        storage.close()
    print(f"gateway: backup written to {target}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create the root's directories and an empty store (what ``serve`` does at its first start)."""
    config = _config(args)
    existed = store_exists(config)
    config.ensure_layout()
    try:
        storage = open_storage(config)
    except StoreLocked as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    storage.close()
    state = "already has a store" if existed else "now has an empty store"
    print(f"gateway: root {config.root} {state} ({config.get('storage.backend')})")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The ``gateway`` parser and the handler of each verb (the families' verbs included)."""
    parser = argparse.ArgumentParser(prog="gateway", description="Batch import gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="bind address (env GATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env GATEWAY_PORT, default 9925)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="serve HTTP only; gateway worker processes run the batches and bulk jobs (postgres)",
    )
    worker = sub.add_parser("worker", help="run queued batches and bulk jobs (storage.backend postgres)")
    _common(worker)
    worker.add_argument(
        "--concurrency", type=int, help="batches and jobs run at a time (default jobs.threads, 2)"
    )
    backup = sub.add_parser(
        "backup",
        help="write a checkpoint of a stopped server's store (embedded store; PostgreSQL: use pg_dump)",
    )
    _common(backup)
    backup.add_argument("dir")
    init = sub.add_parser(
        "init", help="create a new, empty store at the root (the other verbs never create one)"
    )
    _common(init)
    commands: dict[str, Command] = {
        "serve": cmd_serve,
        "worker": cmd_worker,
        "backup": cmd_backup,
        "init": cmd_init,
    }
    commands.update(import_verbs.add_parsers(sub, _common))
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except (ConfigError, StoreError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
