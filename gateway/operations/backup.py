"""``get_backup``: an ``application/x-tar`` of one database, as the storage backend archives it.

On the embedded RocksDB backend the tar holds a fresh store with only that
database (see :mod:`gateway.storage.rocksdb.backup`): untar it and point a
gateway's ``db/`` at it to read the database back.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from gateway import fields
from gateway.operations.registry import OperationContext, operation
from gateway.storage.errors import RECORDS_STORE, OutOfSpace, is_no_space


@operation("get_backup", super_user=True, internal_name="getBackup")
def get_backup(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """The tar of a checkpoint of the body's ``database`` (404 if it does not exist)."""
    database = fields.database_field(body)
    tmp_root = ctx.gateway.config.root / "tmp"
    try:
        tmp_root.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(prefix="backup-", dir=tmp_root))
    except OSError as exc:
        if is_no_space(exc):
            raise OutOfSpace(RECORDS_STORE, "no room for the backup's working copy") from exc
        raise
    try:
        tar_path = ctx.gateway.storage.backup.database_archive(database, work_dir)
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
