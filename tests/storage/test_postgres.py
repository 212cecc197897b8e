"""What the PostgreSQL backend promises beyond the contract suite: index scans for look-ups,
several processes' Storage objects on one database, migrations, and naming the server it
cannot reach.

Each test has a schema of its own in the run's database (``postgres_dsn``).
"""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gateway.storage import keys as K
from gateway.storage.errors import NotSupported, StoreError, StoreUnavailable, TableNotFound
from gateway.storage.ports import Storage
from gateway.storage.postgres import open_postgres, postgres_store_exists
from gateway.storage.postgres.migrations import MIGRATIONS, Migration, latest, migrate
from gateway.storage.postgres.ranges import bounds
from gateway.storage.postgres.records import INDEX_PAGE, KEY_PAGE
from gateway.storage.records import AttributeInfo, FinalRecord, KeyRange
from tests.support.postgres import postgres_dsn, schema_for
from tests.support.tcpproxy import TcpProxy

__all__ = ["postgres_dsn"]  # the fixture


@pytest.fixture
def schema(tmp_path: Path) -> str:
    return schema_for(tmp_path)


@pytest.fixture
def opened(postgres_dsn: str, schema: str) -> Iterator[list[Storage]]:
    """Storage objects the test opens (``open_store``), closed at its end."""
    stores: list[Storage] = []
    yield stores
    for store in stores:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def open_store(postgres_dsn: str, schema: str, opened: list[Storage]) -> Any:
    def opener(**kwargs: Any) -> Storage:
        store = open_postgres(postgres_dsn, schema=schema, **kwargs)
        opened.append(store)
        return store

    return opener


@pytest.fixture
def conn(postgres_dsn: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        yield connection


def table_id(conn: psycopg.Connection[tuple[Any, ...]], schema: str, database: str, table: str) -> int:
    row = conn.execute(
        sql.SQL("SELECT id FROM {}.tables WHERE database = %s AND name = %s").format(sql.Identifier(schema)),
        [database, table],
    ).fetchone()
    assert row is not None
    return int(row[0])


def plan_of(conn: psycopg.Connection[tuple[Any, ...]], query: sql.Composable, params: list[Any]) -> str:
    rows = conn.execute(sql.SQL("EXPLAIN ") + query, params, binary=True).fetchall()
    return "\n".join(str(r[0]) for r in rows)


def test_an_indexed_look_up_is_a_btree_range_scan(open_store: Any, conn: Any, schema: str) -> None:
    store = open_store()
    store.catalog.create_table("d", "people")
    cities = [f"City {i:03d}" for i in range(50)]
    store.chunks.load_chunk(
        "d", "people", [{"id": i, "city": cities[i % 50]} for i in range(5_000)], "insert"
    )
    assert list(store.records.index_keys("d", "people", "city", KeyRange("City 007", True)))[:3] == [
        7,
        57,
        107,
    ]
    tid = table_id(conn, schema, "d", "people")
    index, records = sql.Identifier(schema, f"index_{tid}"), sql.Identifier(schema, f"records_{tid}")
    conn.execute(sql.SQL("ANALYZE {}, {}").format(index, records))
    attribute = conn.execute(
        sql.SQL("SELECT id FROM {}.attributes WHERE table_id = %s AND name = 'city'").format(
            sql.Identifier(schema)
        ),
        [tid],
    ).fetchone()[0]
    low, high = bounds(KeyRange("City 007", True))
    plan = plan_of(
        conn, sql.SQL(INDEX_PAGE).format(index=index, records=records), [attribute, low, high, 500]
    )
    assert f"Index Only Scan using index_{tid}_pkey" in plan and "Seq Scan" not in plan, plan
    low, high = bounds(KeyRange(lower=100, upper=200))
    plan = plan_of(conn, sql.SQL(KEY_PAGE).format(index=index, records=records), [low, high, 500])
    assert f"Index Only Scan using records_{tid}_pkey" in plan, plan


def test_keys_keep_their_type_in_bytea(open_store: Any, conn: Any, schema: str) -> None:
    store = open_store()
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": 5, "v": "n"}, {"id": "5", "v": "s"}], "insert")
    tid = table_id(conn, schema, "d", "t")
    keys = [
        bytes(r[0])
        for r in conn.execute(
            sql.SQL("SELECT k FROM {} ORDER BY k").format(sql.Identifier(schema, f"records_{tid}"))
        )
    ]
    assert keys == [K.encode_key(5), K.encode_key("5")]
    rows = conn.execute(
        sql.SQL("SELECT r::text FROM {} ORDER BY k").format(sql.Identifier(schema, f"records_{tid}"))
    ).fetchall()
    assert [r[0].split(",")[0] for r in rows] == ['{"id":5', '{"id":"5"']  # the record as written


def test_two_processes_see_each_others_catalog_changes(open_store: Any) -> None:
    a, b = open_store(), open_store()
    a.catalog.create_table("d", "t")
    assert b.catalog.table("d", "t").primary_key == "id"
    b.records.write("d", "t", [{"id": 1, "colour": "red"}], "insert")
    assert a.catalog.table("d", "t").attributes["colour"].indexed
    assert list(a.records.index_keys("d", "t", "colour", KeyRange("red", True))) == [1]
    a.catalog.create_table("d", "typed", "id", [AttributeInfo("code", False, "String")])
    b.records.write("d", "typed", [{"id": 1, "code": "A"}], "insert")  # b now knows 'code' unindexed
    assert a.catalog.index_attribute("d", "typed", "code") is True
    b.records.write("d", "typed", [{"id": 2, "code": "B"}], "insert")  # planned stale: noticed, planned again
    b.records.write("d", "typed", [{"id": 1, "code": "C"}], "update")
    assert list(a.records.index_items("d", "typed", "code")) == [("B", 2), ("C", 1)]
    assert b.catalog.is_indexed("d", "typed", "code")
    a.catalog.drop_table("d", "t")
    with pytest.raises(TableNotFound):
        b.records.write("d", "t", [{"id": 2}], "insert")
    a.catalog.create_table("d", "t", "key")
    assert b.records.write("d", "t", [{"key": "k"}], "insert").written == ["k"]
    assert [r["key"] for r in a.records.scan("d", "t")] == ["k"]
    a.catalog.drop_attribute("d", "typed", "code")
    b.records.write("d", "typed", [{"id": 3, "code": "again"}], "insert")  # registered anew by b
    assert (
        not a.catalog.is_indexed("d", "typed", "code") and "code" in a.catalog.table("d", "typed").attributes
    )


def test_concurrent_writers_in_two_processes_keep_exact_counts(open_store: Any) -> None:
    a, b = open_store(), open_store()
    a.catalog.create_table("d", "t")
    b.catalog.table("d", "t")
    errors: list[BaseException] = []

    def writer(store: Storage, offset: int) -> None:
        try:
            for round_ in range(25):
                keys = [(offset + round_ * 7 + i) % 300 for i in range(30)]
                store.records.write("d", "t", [{"id": k, f"w{offset % 3}": offset} for k in keys], "upsert")
                store.records.delete("d", "t", keys[::3])
                store.chunks.load_chunk("d", "t", [{"id": 1000 + offset * 100 + round_}], "insert")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(store, n * 31)) for n, store in enumerate((a, b, a, b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads), errors
    scanned = sum(1 for _ in a.records.scan("d", "t"))
    assert a.catalog.count("d", "t") == b.catalog.count("d", "t") == scanned
    assert {"w0", "w1", "w2"} <= set(b.catalog.table("d", "t").attributes)
    for attribute in ("w0", "w1", "w2"):  # every stored value is indexed, nothing else is
        indexed = sorted(key for _, key in a.records.index_items("d", "t", attribute))
        assert indexed == sorted(r["id"] for r in a.records.scan("d", "t") if attribute in r)


def test_an_import_group_planned_on_an_old_catalog_is_planned_again(open_store: Any) -> None:
    """A group is written in pipeline mode (one round trip); when another process changed the
    table meanwhile, the refusal still rolls it back whole and it is planned again, written once."""
    a, b = open_store(), open_store()
    a.catalog.create_table("d", "t")
    b.records.write("d", "t", [{"id": 1, "colour": "red"}], "insert")  # b knows t and 'colour'
    a.records.write("d", "t", [{"id": 2, "size": 3}], "insert")  # a adds 'size': b's plan is old

    def group(*keys: int) -> dict[str, dict[bytes, FinalRecord]]:
        records = [{"id": k, "colour": "blue", "size": k, "tags": ["x", "x", k]} for k in keys]
        return {"t": {K.encode_key(r["id"]): FinalRecord(r["id"], r, orjson.dumps(r), True) for r in records}}

    assert b.imports.write_records("d", group(3, 4)) == 2
    assert a.catalog.count("d", "t") == 4 == len(list(a.records.scan("d", "t")))
    assert list(a.records.index_keys("d", "t", "colour", KeyRange("blue", True))) == [3, 4]
    assert list(a.records.index_keys("d", "t", "size", KeyRange(4, True))) == [4]
    assert list(a.records.index_keys("d", "t", "tags", KeyRange("x", True))) == [3, 4]  # an entry per value
    a.catalog.drop_table("d", "t")
    with pytest.raises(TableNotFound):
        b.imports.write_records("d", group(5))


def test_an_import_group_the_server_refuses_leaves_nothing_and_a_clean_connection(
    open_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The group's BEGIN, statements and COMMIT go out in one pipeline: a statement the server
    refuses skips the rest, the open transaction is rolled back, and the pooled connection
    goes back idle (psycopg_pool would warn and roll back one returned mid-transaction)."""
    store = open_store()
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": 1, "colour": "red"}], "insert")

    def final(record: dict[str, Any], raw: bytes | None = None) -> FinalRecord:
        return FinalRecord(record["id"], record, raw or orjson.dumps(record), True)

    bad = {"id": 3, "colour": "blue"}
    refused = {
        "t": {
            K.encode_key(2): final({"id": 2, "colour": "blue"}),
            K.encode_key(3): final(bad, orjson.dumps(bad).replace(b"blue", b"bl\x00ue")),  # text holds no NUL
        }
    }
    caplog.set_level("WARNING", logger="psycopg.pool")
    for _ in range(3):  # more times than the pool has idle connections
        with pytest.raises(StoreError, match="SQLSTATE"):
            store.imports.write_records("d", refused)
    assert store.catalog.count("d", "t") == 1 == len(list(store.records.scan("d", "t")))
    assert list(store.records.index_keys("d", "t", "colour", KeyRange("blue", True))) == []
    assert store.imports.write_records("d", {"t": {K.encode_key(4): final({"id": 4, "colour": "blue"})}}) == 1
    assert list(store.records.index_keys("d", "t", "colour", KeyRange("blue", True))) == [4]
    assert store.catalog.count("d", "t") == 2
    assert not [r for r in caplog.records if "rolling back" in r.getMessage()]


def test_two_processes_creating_one_table_one_wins(open_store: Any) -> None:
    stores = [open_store(), open_store()]
    outcomes: list[str] = []

    def create(store: Storage) -> None:
        try:
            store.catalog.create_table("d", "same")
            outcomes.append("created")
        except StoreError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=create, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["TableExists", "created"]


def test_a_new_migration_upgrades_an_existing_store(open_store: Any, postgres_dsn: str, schema: str) -> None:
    store = open_store()
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": 1}], "insert")
    store.close()
    newer = (
        *MIGRATIONS,
        Migration(latest() + 1, "a later version's table", ("CREATE TABLE {schema}.later (x int)",)),
    )
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert migrate(conn, schema, newer) == latest() + 1
        assert migrate(conn, schema, newer) == latest() + 1  # applied once
        versions = conn.execute(
            sql.SQL("SELECT version FROM {}.schema_version ORDER BY version").format(sql.Identifier(schema))
        ).fetchall()
        assert [v[0] for v in versions] == list(range(1, latest() + 2))
    with pytest.raises(
        StoreError, match=f"is at version {latest() + 1}, newer than this gateway's {latest()}"
    ):
        open_store()


def test_processes_starting_together_create_the_schema_once(
    postgres_dsn: str, schema: str, opened: list[Storage]
) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_postgres(postgres_dsn, schema=schema))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(opened) == 4
    opened[0].catalog.create_table("d", "t")
    assert opened[3].catalog.list_databases() == ["d"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_named_without_the_password() -> None:
    dsn = f"postgresql://someone:s3cret-pw@127.0.0.1:{_free_port()}/somedb"
    with pytest.raises(StoreUnavailable) as raised:
        open_postgres(dsn)
    message = str(raised.value)
    assert message.startswith("PostgreSQL at someone@127.0.0.1:") and "/somedb is unavailable" in message
    assert "s3cret-pw" not in message
    with pytest.raises(StoreError, match="storage.postgres.dsn is not a PostgreSQL connection string") as bad:
        open_postgres("host=127.0.0.1 password=s3cret-pw dbname")
    assert "s3cret-pw" not in str(bad.value)


def test_a_server_that_goes_away_is_store_unavailable(
    postgres_dsn: str, schema: str, opened: list[Storage]
) -> None:
    params = conninfo_to_dict(postgres_dsn)
    proxy = TcpProxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
    store = open_postgres(
        make_conninfo(postgres_dsn, host="127.0.0.1", port=proxy.port), schema=schema, timeout=1
    )
    opened.append(store)
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": 1}], "insert")
    proxy.cut()
    for attempt in (
        lambda: store.records.get("d", "t", 1),
        lambda: store.records.write("d", "t", [{"id": 2}], "insert"),
        lambda: store.catalog.table("d", "t"),
    ):
        with pytest.raises(
            StoreUnavailable, match=rf"^PostgreSQL at \S+@127.0.0.1:{proxy.port}/\S+ is unavailable"
        ):
            attempt()


def test_an_import_group_on_a_dropped_connection_is_written_on_a_new_one(
    postgres_dsn: str, schema: str, opened: list[Storage]
) -> None:
    """A pooled connection the server (or the network) dropped while idle fails a group's one
    round trip; the connection is replaced and the group written once."""
    params = conninfo_to_dict(postgres_dsn)
    proxy = TcpProxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
    store = open_postgres(make_conninfo(postgres_dsn, host="127.0.0.1", port=proxy.port), schema=schema)
    opened.append(store)
    store.catalog.create_table("d", "t")
    store.records.write("d", "t", [{"id": 1, "colour": "red"}], "insert")
    proxy.drop()
    record = {"id": 2, "colour": "blue"}
    group = {"t": {K.encode_key(2): FinalRecord(2, record, orjson.dumps(record), True)}}
    assert store.imports.write_records("d", group) == 1
    assert store.catalog.count("d", "t") == 2 == len(list(store.records.scan("d", "t")))
    assert list(store.records.index_keys("d", "t", "colour", KeyRange("blue", True))) == [2]


def test_backups_name_pg_dump(open_store: Any, schema: str, tmp_path: Path) -> None:
    store = open_store()
    store.catalog.create_table("d", "t")
    with pytest.raises(NotSupported, match=f"pg_dump --schema={schema}"):
        store.backup.database_archive("d", tmp_path)


def _encoded(store: Storage, table: str, keys: list[int]) -> Any:
    from gateway.bulk.listencode import encode_columns

    names = ["id", "city"]
    plan = store.chunks.chunk_plan("d", table, names, store.now_ms())
    assert plan is not None
    chunk = encode_columns(names, [keys, [f"c{k % 3}" for k in keys]], plan)
    assert chunk is not None
    return chunk


def test_a_chunk_written_ahead_and_then_abandoned_leaves_nothing(open_store: Any) -> None:
    store = open_store()
    store.catalog.create_table("d", "t", "id", [AttributeInfo("city", True, "String")])
    chunk = _encoded(store, "t", list(range(1000)))
    store.chunks.stage_encoded("d", "t", chunk)  # its COPYs start on a connection of their own
    del chunk
    gc.collect()  # the loader dropped it unwritten: rolled back
    assert store.catalog.count("d", "t") == 0 and list(store.records.scan("d", "t")) == []
    store.catalog.drop_table("d", "t")  # no lock was left behind
    store.catalog.create_table("d", "t", "id", [AttributeInfo("city", True, "String")])
    store.chunks.stage_encoded("d", "t", _encoded(store, "t", [1, 2]))
    store.close()  # closes with a write begun ahead


def test_chunks_written_ahead_that_overlap_are_written_once(open_store: Any) -> None:
    store = open_store()
    store.catalog.create_table("d", "t", "id", [AttributeInfo("city", True, "String")])
    first, second = _encoded(store, "t", list(range(0, 600))), _encoded(store, "t", list(range(500, 900)))
    store.chunks.stage_encoded("d", "t", first)
    store.chunks.stage_encoded("d", "t", second)  # waits for the first's keys 500..599, then finds them
    assert store.chunks.write_encoded("d", "t", first, "insert") is True
    assert store.chunks.write_encoded("d", "t", second, "insert") is False  # the loader writes it as records
    assert store.catalog.count("d", "t") == 600 == len(list(store.records.scan("d", "t")))
    assert len(list(store.records.index_keys("d", "t", "city", KeyRange("c1", True)))) == 200


def test_a_chunk_written_ahead_is_refused_when_another_process_changed_the_table(open_store: Any) -> None:
    a, b = open_store(), open_store()
    a.catalog.create_table("d", "t")
    chunk = _encoded(a, "t", list(range(100)))
    a.chunks.write_encoded(
        "d", "t", _encoded(a, "t", [1000]), "insert"
    )  # 'city' registered: now staged ahead
    chunk = _encoded(a, "t", list(range(100)))
    a.chunks.stage_encoded("d", "t", chunk)
    b.records.write("d", "t", [{"id": "b", "colour": "red"}], "insert")  # a new attribute, unknown to a
    assert a.chunks.write_encoded("d", "t", chunk, "insert") is False  # planned for the old attributes
    assert a.catalog.count("d", "t") == 2 == len(list(a.records.scan("d", "t")))
    assert a.chunks.load_chunk("d", "t", [{"id": i, "city": "x"} for i in range(100)], "insert") == (100, 0)
    assert b.catalog.count("d", "t") == 102


def test_a_write_of_the_same_keys_by_the_loader_abandons_the_chunk_written_ahead(open_store: Any) -> None:
    store = open_store()
    store.catalog.create_table("d", "t", "id", [AttributeInfo("city", True, "String")])
    ahead = _encoded(store, "t", list(range(0, 600)))
    store.chunks.stage_encoded("d", "t", ahead)
    ahead.staged.prepared.future.result()  # its keys are inserted, not committed
    # the same thread now writes some of those keys as records: it must not wait for itself
    assert store.chunks.load_chunk("d", "t", [{"id": i, "city": "r"} for i in range(590, 610)], "insert") == (
        20,
        0,
    )
    assert store.chunks.write_encoded("d", "t", ahead, "insert") is False  # key 590 is stored now
    assert store.catalog.count("d", "t") == 20


def test_store_exists_looks_without_creating(open_store: Any, postgres_dsn: str, schema: str) -> None:
    assert not postgres_store_exists(postgres_dsn, schema)  # the CLI verbs refuse here
    assert not postgres_store_exists(postgres_dsn, schema)  # and looking created nothing
    open_store()
    assert postgres_store_exists(postgres_dsn, schema)
    unreachable = f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/nowhere?connect_timeout=2"
    with pytest.raises(StoreUnavailable) as refused:
        postgres_store_exists(unreachable, schema)
    assert "127.0.0.1" in str(refused.value) and "secret" not in str(refused.value)
