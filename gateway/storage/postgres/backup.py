"""The Backup port on PostgreSQL: not this gateway's job.

A PostgreSQL store is backed up the way its operators back up any PostgreSQL
database (``pg_dump``, base backups with WAL archiving, a managed service's
snapshots), which are consistent while gateways keep writing. Both methods answer
:class:`~gateway.storage.errors.NotSupported` naming ``pg_dump`` and the schema to dump;
``get_backup`` then answers 400 with that message.
"""

from __future__ import annotations

from pathlib import Path

from gateway.storage.errors import DatabaseNotFound, NotSupported
from gateway.storage.postgres.database import PgDatabase


class PgBackup:
    """Refuses, saying how to back the store up instead."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database

    def _advice(self) -> str:
        return (
            f"backups of the PostgreSQL store are made with pg_dump, not by the gateway: "
            f"pg_dump --schema={self._db.schema} --format=custom (on {self._db.where}), "
            f"restored with pg_restore"
        )

    def checkpoint(self, directory: str) -> None:
        raise NotSupported(self._advice())

    def database_archive(self, database: str, work_dir: Path) -> Path:
        self._db.refresh()
        if database not in self._db.databases():
            raise DatabaseNotFound(database)
        raise NotSupported(self._advice())
