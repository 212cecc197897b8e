"""The ``gateway`` command: serve, backup, and the key/model verbs."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from gateway.app import create_app, open_gateway
from gateway.config import Config, ConfigError, load_config
from gateway.http.server import uvicorn_options
from gateway.imports import cli as import_verbs
from gateway.storage.backends import open_storage
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
    return load_config(root=args.root, config_file=args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP server, scheduler and store in this process."""
    config = _config(args)
    options = uvicorn_options(config)
    try:
        gateway = open_gateway(config)
    except StoreLocked as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    app = create_app(gateway=gateway)
    host = str(gateway.config.get("http.host"))
    port = int(gateway.config.get("http.port"))
    print(f"gateway: serving on http://{host}:{port} (root {gateway.config.root})", flush=True)
    url_file = gateway.config.server_url_file
    url_file.write_text(gateway.config.local_url() + "\n", encoding="utf-8")
    stops = _StopSignals()
    try:
        uvicorn.run(
            app, host=host, port=port, workers=1, log_level="warning", timeout_graceful_shutdown=30, **options
        )
    finally:
        stops.restore()
        url_file.unlink(missing_ok=True)
    return 0


class _StopSignals:
    """SIGTERM/SIGINT handlers that do nothing, installed around ``uvicorn.run``.

    uvicorn handles the signal itself (a graceful shutdown), then raises it again
    for the handler it found. With these, that second delivery lets ``serve``
    return normally, so the server-url file is removed and a graceful stop exits
    0 (not -15 or a KeyboardInterrupt).
    """

    def __init__(self) -> None:
        self._previous = {sig: signal.signal(sig, self._ignore) for sig in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def _ignore(signum: int, frame: object) -> None:
        """Nothing: uvicorn has already stopped the server for this signal."""

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def cmd_backup(args: argparse.Namespace) -> int:
    """A checkpoint of the (stopped) server's store in DIR."""
    config = _config(args)
    target = Path(args.dir).resolve()
    if target.exists():
        print(f"gateway: backup directory {target} already exists", file=sys.stderr)
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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The ``gateway`` parser and the handler of each verb (the families' verbs included)."""
    parser = argparse.ArgumentParser(prog="gateway", description="Batch import gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="bind address (env GATEWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env GATEWAY_PORT, default 9925)")
    backup = sub.add_parser(
        "backup",
        help="write a checkpoint of a stopped server's store (embedded store; PostgreSQL: use pg_dump)",
    )
    _common(backup)
    backup.add_argument("dir")
    commands: dict[str, Command] = {"serve": cmd_serve, "backup": cmd_backup}
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
