"""get_configuration and set_configuration.

get_configuration answers the effective configuration (defaults < YAML <
GATEWAY_* < command line) plus the HarperDB top-level keys that have a meaning
here (``rootPath``, ``storage``, ``operationsApi``, ``threads``); values of keys
that look like secrets are masked. set_configuration writes known keys to the
YAML file (``<root>/gateway-config.yaml`` unless ``--config``); they take effect
on restart. Keys may be nested objects, dotted (``http.port``) or HarperDB's
flattened form (``logging_level``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from gateway.config import default_config, leaves, write_config_file
from gateway.errors import OperationError
from gateway.fields import json_integer
from gateway.operations.registry import OperationContext, operation
from gateway.storage.errors import is_no_space

_SECRET = re.compile(r"(secret|password|access_key|private)", re.IGNORECASE)
MASK = "********"
RESTART_MESSAGE = (
    "Configuration successfully set. You must restart the gateway for new config settings to take effect."
)


def _mask(data: Any, key: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _mask(v, k) for k, v in data.items()}
    if _SECRET.search(key) and data not in (None, "", []):
        return MASK
    return data


def effective_configuration(ctx: OperationContext) -> dict[str, Any]:
    """The configuration as get_configuration shows it."""
    config = ctx.gateway.config
    out: dict[str, Any] = _mask(copy.deepcopy(config.data))
    out["rootPath"] = str(config.root)
    out["configFile"] = str(config.file) if config.file else None
    out["storage"] = {"path": str(config.store_dir), "blobPath": str(config.blob_dir)}
    out.setdefault("logging", {})["root"] = str(config.log_dir)
    out["operationsApi"] = {"network": {"host": config.get("http.host"), "port": config.get("http.port")}}
    out["threads"] = {"count": 1, "jobs": config.get("jobs.threads")}
    return out


def _check_value(path: tuple[str, ...], value: Any, default: Any) -> str | None:
    name = ".".join(path)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
        wanted = "a boolean"
    elif isinstance(default, int):
        ok = json_integer(value) is not None
        wanted = "an integer"
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        wanted = "an array of strings"
    else:
        ok = isinstance(value, str)
        wanted = "a string"
    return None if ok else f"'{name}' must be {wanted}"


def parse_changes(body: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """The body's settings as ``{key path: value}``; 400 listing unknown keys and wrong types.

    A key given in two spellings (``http.port`` and ``http_port``) takes the later value, and
    each value given must have the key's type.
    """
    defaults = dict(leaves(default_config()))
    flat = {"_".join(path): path for path in defaults}
    given: list[tuple[tuple[str, ...], Any]] = []
    unknown: list[str] = []
    for key, value in body.items():
        if key == "operation":
            continue
        if isinstance(value, Mapping) and (key,) not in defaults:
            nested = list(leaves(value, (key,)))
            if not nested:
                unknown.append(key)
            for path, leaf in nested:
                if path in defaults:
                    given.append((path, leaf))
                else:
                    unknown.append(".".join(path))
            continue
        path = tuple(key.split(".")) if "." in key else flat.get(key, (key,))
        if path in defaults:
            given.append((path, value))
        else:
            unknown.append(key)
    if unknown:
        raise OperationError(f"Unknown configuration keys: {', '.join(sorted(unknown))}")
    if not given:
        raise OperationError("set_configuration needs at least one configuration key")
    problems = [p for p in (_check_value(path, v, defaults[path]) for path, v in given) if p]
    if problems:
        raise OperationError("; ".join(dict.fromkeys(problems)))
    # 5.0 is the integer 5 (JSON does not tell them apart): written as 5
    return {
        path: json_integer(v)
        if isinstance(defaults[path], int) and not isinstance(defaults[path], bool)
        else v
        for path, v in given
    }


@operation("get_configuration", super_user=True, internal_name="getConfiguration")
def get_configuration(ctx: OperationContext, body: dict[str, Any]) -> Any:
    return effective_configuration(ctx)


@operation("set_configuration", super_user=True, internal_name="setConfiguration")
def set_configuration(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Persist known keys to the YAML file; effective after a restart."""
    changes = parse_changes(body)
    nested: dict[str, Any] = {}
    for path, value in changes.items():
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    if ctx.gateway.config.file is None:
        raise OperationError("this server has no configuration file to write", 409)
    try:
        write_config_file(ctx.gateway.config, nested)
    except OSError as exc:
        if is_no_space(exc):
            raise OperationError(
                f"no space left on the device (configuration file {ctx.gateway.config.file})", 507
            ) from exc
        raise
    return {"message": RESTART_MESSAGE}
