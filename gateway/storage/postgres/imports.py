"""The ImportWrites port on PostgreSQL: key checks, attribute registration, and a group of final
records written in one transaction (the commit buffer of a batch run).

A group of new records (``fresh`` keys) takes one round trip whatever its size: the
transaction runs in pipeline mode, so its begin, the relation locks, the inserts of
records and index entries, the record counts and the commit go out together.
Records that may be stored already are read (and locked) in one more, as are
attributes first seen. The commit does not wait for the disk
(``synchronous_commit`` off, as the embedded store's import writes do not sync its
log): a killed worker loses nothing committed, a crash of the server loses whole
groups only, and the run's next progress checkpoint, a synchronous commit, makes
every group before it durable (PostgreSQL's log is flushed in order), so the
records a batch reports done are on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.storage.postgres.database import Connection, PgDatabase
from gateway.storage.postgres.staging import Plan, begin, bump_versions, finish, read_stored, register
from gateway.storage.postgres.txlog import append, logs
from gateway.storage.records import FinalRecord, NewRecords, WriteMode
from gateway.storage.txlog import import_entry
from gateway.storage.writeplan import keys_for_write


class PgImportWrites:
    """Prepared writes: the records arrive final and encoded; only index changes are computed here."""

    group_records = 1_000
    """A group costs a round trip and a commit: a thousand records make that small beside the
    records' own work (a hundred made the run ~1.5x slower: bench/workers.py)."""
    write_behind = True
    """The server writes a group while the engine prepares the next (bench/workers.py)."""
    takes_new_records = False
    """A group's writes wait on the server: a thread writes behind instead (``write_behind``)."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database

    def check_keys(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> list[Any]:
        return keys_for_write(self._db.table(database, table).info, records, mode)

    def ensure_attributes(self, database: str, table: str, names: Iterable[str]) -> None:
        db = self._db
        wanted = set(names)
        if wanted.issubset(db.table(database, table).info.attributes):
            return

        def work(conn: Connection) -> None:
            plan = Plan(db.table(database, table))
            register(conn, db, plan, wanted)
            if plan.registered:
                bump_versions(conn, db, [plan.table.id])

        db.transact(work)
        db.refresh()

    def write_new(self, database: str, table: str, records: NewRecords) -> bool:
        """Not taken here: a batch run on PostgreSQL writes behind in a thread instead (its groups
        wait on the server, and the engine goes on meanwhile)."""
        return False

    def write_records(self, database: str, tables: Mapping[str, Mapping[bytes, FinalRecord]]) -> int:
        """Every table is looked up before anything is written (TableNotFound writes nothing)."""
        db = self._db
        for table in tables:
            db.table(database, table)
        if not any(tables.values()):
            return 0

        def work(conn: Connection) -> tuple[int, bool]:
            plans = {table: Plan(db.table(database, table)) for table in tables}
            begin(conn, [plan.table for plan in plans.values()], deferred=True)
            for table, plan in sorted(plans.items(), key=lambda item: item[1].table.id):
                items = tables[table]
                register(conn, db, plan, {n for item in items.values() for n in item.record})
                read_stored(conn, plan, [ekey for ekey, item in items.items() if not item.fresh])
                for ekey, item in items.items():
                    plan.final[ekey] = item.record
                    plan.raw[ekey] = item.raw
            finish(conn, db, plans.values())
            for table, plan in plans.items():
                if logs(db, plan.table):
                    stamp = db.now_ms()
                    append(
                        conn,
                        db,
                        plan.table,
                        stamp,
                        import_entry(stamp, tables[table], plan.stored, db.txlog.audit),
                    )
            return sum(len(items) for items in tables.values()), any(p.registered for p in plans.values())

        written, registered = db.transact(work, pipelined=True)
        if registered:
            db.refresh()
        return written
