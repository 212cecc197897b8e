"""``get_backup``: a tar of a RocksDB checkpoint holding one database.

The whole store is checkpointed (hard links, consistent at one instant) into a
temporary directory under the root, the checkpoint is opened as a store of its
own and the one database (tables, records, index entries) is copied raw into a
fresh store, which therefore holds nothing of the other databases (the
``system`` database with users, roles and API keys included), not even in its
MANIFEST or WAL. That directory is sent as ``application/x-tar``. Untar it and open it with ``RocksRecordStore``
(or point a gateway's ``db/`` at it) to read the database back.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from gateway.operations import fields
from gateway.operations.registry import OperationContext, operation
from gateway.storage.errors import DatabaseNotFound
from gateway.storage.rocks import RocksRecordStore

_SKIPPED_FILES = ("LOCK", "LOG")


def write_database_backup(store: RocksRecordStore, database: str, work_dir: Path) -> Path:
    """Build ``<work_dir>/<database>.tar`` holding a fresh store with only ``database``; its path."""
    if not store.has_database(database):
        raise DatabaseNotFound(database)
    checkpoint = work_dir / "checkpoint"
    fresh = work_dir / "db"
    store.checkpoint(str(checkpoint))
    source = RocksRecordStore(checkpoint)
    try:
        target = RocksRecordStore(fresh)
        try:
            source.copy_database_to(database, target)
            target.flush()
        finally:
            target.close()
    finally:
        source.close()
    shutil.rmtree(checkpoint, ignore_errors=True)
    tar_path = work_dir / f"{database}.tar"
    with tarfile.open(tar_path, "w") as tar:
        for path in sorted(fresh.iterdir()):
            if path.name in _SKIPPED_FILES or path.name.startswith("LOG.old"):
                continue
            tar.add(path, arcname=f"{database}/{path.name}")
    shutil.rmtree(fresh, ignore_errors=True)
    return tar_path


@operation("get_backup", super_user=True, internal_name="getBackup")
def get_backup(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The tar of a checkpoint of the body's ``database`` (404 if it does not exist)."""
    database = fields.database_field(body)
    tmp_root = ctx.gateway.config.root / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="backup-", dir=tmp_root))
    try:
        tar_path = write_database_backup(ctx.gateway.store, database, work_dir)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return FileResponse(
        tar_path,
        media_type="application/x-tar",
        filename=f"{database}-{stamp}.tar",
        background=BackgroundTask(shutil.rmtree, work_dir, True),
    )
