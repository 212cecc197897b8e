"""Opening a backend imports only that backend's client libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CLIENTS = ("psycopg", "psycopg_pool", "procrastinate", "boto3", "botocore")


def _imported_after(code: str) -> list[str]:
    """The client libraries in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {_CLIENTS!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    imported: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return imported


def test_a_rocksdb_server_with_files_on_disk_loads_no_postgres_or_s3_client(tmp_path: Path) -> None:
    code = (
        "from gateway.app import create_app\n"
        "from gateway.config import load_config\n"
        "from gateway.storage.backends import open_blobs, open_storage, store_exists\n"
        f"config = load_config(root={str(tmp_path)!r}, environ={{}}, overrides={{}})\n"
        "create_app(config)\n"
        "store_exists(config)\n"
        "open_storage(config).close()\n"
        "open_blobs(config)"
    )
    assert _imported_after(code) == []


def test_the_postgres_and_s3_backends_are_imported_when_named(tmp_path: Path) -> None:
    code = (
        "from gateway.config import ConfigError, load_config\n"
        "from gateway.storage.backends import open_blobs, store_exists\n"
        "overrides = {'blobs.backend': 's3', 'storage.backend': 'postgres'}\n"
        f"config = load_config(root={str(tmp_path)!r}, environ={{}}, overrides=overrides)\n"
        "try:\n    open_blobs(config)\nexcept ConfigError:\n    pass  # no bucket set\n"
        "try:\n    store_exists(config)\nexcept Exception:\n    pass  # whether PostgreSQL answers does not matter here"
    )
    assert set(_imported_after(code)) == set(_CLIENTS)
