"""Configuration: defaults, the YAML file under the root, GATEWAY_* overrides.

Only keys present in the default configuration are honoured; an environment
variable ``GATEWAY_`` + the key path in upper snake case overrides a key
(``http.port`` → ``GATEWAY_HTTP_PORT``). YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_ROOT = "./gateway-data"


class ConfigError(Exception):
    """The configuration file or an override is invalid."""


def default_config() -> dict[str, Any]:
    """The shipped default configuration as a nested dict."""
    text = resources.files("gateway").joinpath("default-config.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (key path, value) of a nested mapping, depth first."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def env_name(path: tuple[str, ...]) -> str:
    """The environment variable that overrides a key path."""
    return "GATEWAY_" + "_".join(p.upper() for p in path)


def _coerce(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be an integer, not {raw!r}") from exc
    if isinstance(default, list):
        try:
            loaded = yaml.safe_load(raw)
        except yaml.YAMLError:
            loaded = None  # not YAML (e.g. "*"): split it like a path list below
        return loaded if isinstance(loaded, list) else [p for p in raw.split(os.pathsep) if p]
    return raw


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: tuple[str, ...] = ()) -> None:
    for key, value in override.items():
        if key not in base:
            continue  # only keys of the default configuration are honoured
        if isinstance(base[key], dict):
            if isinstance(value, Mapping):
                _merge(base[key], value, (*path, key))
        else:
            base[key] = value


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@dataclass
class Config:
    """The effective configuration of one gateway process."""

    root: Path
    data: dict[str, Any] = field(default_factory=default_config)
    file: Path | None = None

    def get(self, dotted: str) -> Any:
        """A value by dotted key path, e.g. ``config.get("http.port")``."""
        node: Any = self.data
        for part in dotted.split("."):
            node = node[part]
        return node

    @property
    def store_dir(self) -> Path:
        return self.root / "db"

    @property
    def blob_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def server_url_file(self) -> Path:
        """Where ``gateway serve`` writes the URL it serves on while it runs (read by the CLI verbs)."""
        return self.root / "server-url"

    def local_url(self) -> str:
        """The URL of this configuration's server as seen from this machine."""
        host = str(self.get("http.host"))
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{int(self.get('http.port'))}"

    @property
    def import_dirs(self) -> list[Path]:
        return [self.root / "import", *(Path(p) for p in self.get("bulk.import_directories"))]

    @property
    def export_dirs(self) -> list[Path]:
        return [self.root / "export", *(Path(p) for p in self.get("bulk.export_directories"))]

    def ensure_layout(self) -> None:
        """Create the root's directories."""
        for path in (self.root, self.blob_dir, self.log_dir, self.root / "import", self.root / "export"):
            path.mkdir(parents=True, exist_ok=True)


def load_config(
    root: str | Path | None = None,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults < YAML file < GATEWAY_* env < explicit overrides."""
    env = os.environ if environ is None else environ
    root_path = Path(root or env.get("GATEWAY_ROOT") or DEFAULT_ROOT).resolve()
    data = default_config()
    file = Path(config_file or env.get("GATEWAY_CONFIG") or root_path / "gateway-config.yaml")
    if file.exists():
        try:
            loaded = yaml.safe_load(file.read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML in {file}: {exc}") from exc
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{file} must contain a mapping")
        _merge(data, loaded)
    for path, default in list(leaves(default_config())):
        name = env_name(path)
        if name in env:
            _set(data, path, _coerce(env[name], default, name))
    for dotted, value in (overrides or {}).items():
        _set(data, tuple(dotted.split(".")), value)
    return Config(root=root_path, data=data, file=file)


def write_config_file(config: Config, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Persist changes (nested mapping) to the YAML file; they take effect on restart."""
    assert config.file is not None
    current: dict[str, Any] = {}
    if config.file.exists():
        current = yaml.safe_load(config.file.read_text("utf-8")) or {}
    merged = copy.deepcopy(current)

    def deep(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
        for k, v in src.items():
            if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
                deep(dst[k], v)
            else:
                dst[k] = v

    deep(merged, changes)
    config.file.parent.mkdir(parents=True, exist_ok=True)
    tmp = config.file.with_suffix(".tmp")
    try:
        tmp.write_text(yaml.safe_dump(merged, sort_keys=False), "utf-8")
        tmp.replace(config.file)
    except BaseException:  # a full device: the old file stays, no half-written copy
        tmp.unlink(missing_ok=True)
        raise
    return merged
