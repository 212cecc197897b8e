"""CLI verbs of the import family: ``create-key``, ``revoke-key``, ``add-model``.

Each verb works on the root's store directly when no server holds it. When a
running server has the store locked, the verb is sent to that server's
Operations API instead (``--url``; by default the URL the server wrote into
``<root>/server-url``, else the configuration's http.host/http.port),
authenticated with ``GATEWAY_ADMIN_USERNAME`` / ``GATEWAY_ADMIN_PASSWORD``;
without them it says so and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.audit import AuditLog
from gateway.auth.api_keys import DEFAULT_PATH, ApiKeyRequestError, ApiKeyService
from gateway.auth.secret_store import open_secrets
from gateway.config import Config, load_config
from gateway.imports.models import ModelRegistry, ModelRejected
from gateway.storage.backends import missing_store, open_storage, store_exists
from gateway.storage.errors import StoreLocked
from gateway.storage.ports import Storage


class CliFailure(Exception):
    """A verb failed; the message is printed and the exit status is 1."""


Command = Callable[[argparse.Namespace], int]


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> dict[str, Command]:
    """Add this family's sub-commands to the ``gateway`` parser; their handlers by name."""
    create = sub.add_parser("create-key", help="create an API key for the batch API (printed once)")
    common(create)
    create.add_argument("--name", default="Batch Data Import", help="key name (default: Batch Data Import)")
    create.add_argument(
        "--path", default=DEFAULT_PATH, help=f"path rule: a prefix, or =/exact/path (default {DEFAULT_PATH})"
    )
    create.add_argument("--expires", help="expiry as ISO-8601 (optional)")
    create.add_argument("--url", help="server URL when the store is in use (default from the configuration)")
    revoke = sub.add_parser("revoke-key", help="revoke an API key by id (its first 16 characters)")
    common(revoke)
    revoke.add_argument("id")
    revoke.add_argument("--url", help="server URL when the store is in use (default from the configuration)")
    model = sub.add_parser("add-model", help="register an import model from a JSON file")
    common(model)
    model.add_argument("file")
    model.add_argument("--replace", action="store_true", help="replace a registered model of the same name")
    model.add_argument("--url", help="server URL when the store is in use (default from the configuration)")
    return {
        "create-key": _guarded(cmd_create_key),
        "revoke-key": _guarded(cmd_revoke_key),
        "add-model": _guarded(cmd_add_model),
    }


def _guarded(command: Command) -> Command:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CliFailure as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return 1

    return run


def _config(args: argparse.Namespace) -> Config:
    return load_config(root=args.root, config_file=args.config)


def _server_url(args: argparse.Namespace, config: Config) -> str:
    """``--url``, else the URL the running server wrote into the root, else the configuration's."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    try:
        written = config.server_url_file.read_text(encoding="utf-8").strip()
    except OSError:
        written = ""
    return written.rstrip("/") or config.local_url()


def remote_operation(url: str, body: dict[str, Any]) -> Any:
    """POST an operation to a running server as the admin from the environment."""
    user = os.environ.get("GATEWAY_ADMIN_USERNAME")
    password = os.environ.get("GATEWAY_ADMIN_PASSWORD")
    if not user or not password:
        raise CliFailure(
            "the store is in use by a running server; set GATEWAY_ADMIN_USERNAME and "
            f"GATEWAY_ADMIN_PASSWORD to send this to it at {url}, or stop the server first"
        )
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url + "/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Basic " + token},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            message = json.loads(raw).get("error", raw.decode("utf-8", "replace"))
        except (ValueError, AttributeError):
            message = raw.decode("utf-8", "replace")
        raise CliFailure(f"the server at {url} answered {err.code}: {message}") from err
    except OSError as err:
        raise CliFailure(f"the store is in use, and the server at {url} cannot be reached: {err}") from err


def _with_store(
    args: argparse.Namespace, local: Callable[[Config, Storage], Any], remote: dict[str, Any]
) -> Any:
    """Run ``local`` on the store, or send ``remote`` to the server that holds it (or ``--url``).

    Where there is no store at all, the verb refuses (nothing is created), unless ``--url``
    names the server to send it to."""
    config = _config(args)
    if not store_exists(config):
        if getattr(args, "url", None):
            return remote_operation(_server_url(args, config), remote)
        raise CliFailure(missing_store(config, args.command, url=True))
    try:
        storage = open_storage(config)
    except StoreLocked:
        return remote_operation(_server_url(args, config), remote)
    try:
        return local(config, storage)
    finally:
        storage.close()


def cmd_create_key(args: argparse.Namespace) -> int:
    """Create a key and print it (stdout) once; details go to stderr."""

    def local(config: Config, storage: Storage) -> Any:
        keys = ApiKeyService(
            storage, AuditLog(storage), open_secrets(storage, config.root / "keys").api_key_secret
        )
        try:
            return keys.create(args.name, args.path, args.expires)
        except ApiKeyRequestError as exc:
            raise CliFailure(str(exc)) from exc

    body = {"operation": "create_api_key", "name": args.name, "path": args.path}
    if args.expires:
        body["expires"] = args.expires
    created = _with_store(args, local, body)
    print(
        f"API key {created['id']} ({created['name']}, path {created['path']}) created; "
        "this is the only time it is shown:",
        file=sys.stderr,
    )
    print(created["key"])
    return 0


def cmd_revoke_key(args: argparse.Namespace) -> int:
    """Revoke a key by id."""

    def local(config: Config, storage: Storage) -> Any:
        keys = ApiKeyService(
            storage, AuditLog(storage), open_secrets(storage, config.root / "keys").api_key_secret
        )
        if not keys.revoke(args.id):
            raise CliFailure(f"API key '{args.id}' not found")
        return {"message": f"API key '{args.id}' successfully revoked"}

    result = _with_store(args, local, {"operation": "revoke_api_key", "id": args.id})
    print(result["message"])
    return 0


def cmd_add_model(args: argparse.Namespace) -> int:
    """Register a model from a JSON file (creates its database and tables)."""
    try:
        data = json.loads(Path(args.file).read_text("utf-8"))
    except OSError as exc:
        raise CliFailure(f"cannot read {args.file}: {exc}") from exc
    except ValueError as exc:
        raise CliFailure(f"{args.file} is not JSON: {exc}") from exc

    def local(config: Config, storage: Storage) -> Any:
        try:
            model, tables = ModelRegistry(storage).add(data, replace=args.replace)
        except ModelRejected as exc:
            raise CliFailure("invalid model:\n  " + "\n  ".join(exc.problems)) from exc
        verb = "replaced" if args.replace else "added"
        return {
            "message": f"Model '{model.name}' successfully {verb}",
            "database": model.database,
            "tables": tables,
        }

    result = _with_store(
        args, local, {"operation": "add_import_model", "model": data, "replace": args.replace}
    )
    print(f"{result['message']} (database {result['database']}, tables {', '.join(result['tables'])})")
    return 0
