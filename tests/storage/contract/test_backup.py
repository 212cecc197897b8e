"""Contract of the Backup port: a whole-store checkpoint and a one-database archive.

A backend without archives (``factory.features.archives`` false) documents another
way to back it up: both methods answer NotSupported with a message saying which.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from gateway.storage.errors import DatabaseNotFound, NotSupported
from gateway.storage.ports import Storage
from gateway.storage.records import KeyRange
from tests.storage.contract.conftest import StoreFactory


def test_without_archives_both_methods_say_what_to_use_instead(factory: StoreFactory, tmp_path: Path) -> None:
    if factory.features.archives:
        pytest.skip("this backend makes archives (the tests below)")
    storage = factory.open()
    storage.catalog.create_table("keep", "t")
    for attempt in (
        lambda: storage.backup.checkpoint(str(tmp_path / "checkpoint")),
        lambda: storage.backup.database_archive("keep", tmp_path),
    ):
        with pytest.raises(NotSupported) as refused:
            attempt()
        assert len(str(refused.value)) > 20
    with pytest.raises(DatabaseNotFound):
        storage.backup.database_archive("nope", tmp_path)
    assert not (tmp_path / "checkpoint").exists()


def test_a_database_archive_holds_that_database_only(
    factory: StoreFactory, storage: Storage, tmp_path: Path
) -> None:
    if not factory.features.archives:
        pytest.skip("this backend makes no archives (documented: see the test above)")
    storage.catalog.create_table("keep", "t")
    storage.catalog.create_table("secret", "t")
    storage.records.write("keep", "t", [{"id": 1, "v": "kept-value"}], "insert")
    storage.records.write("secret", "t", [{"id": 1, "v": "zz-secret-marker"}], "insert")
    work = tmp_path / "work"
    work.mkdir()
    archive = storage.backup.database_archive("keep", work)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert names and all(name.startswith("keep/") for name in names)
    assert b"zz-secret-marker" not in contents
    with pytest.raises(DatabaseNotFound):
        storage.backup.database_archive("nope", work)
    assert storage.records.get("keep", "t", 1) is not None  # the store is still in use


def test_a_checkpoint_is_a_copy_of_the_whole_store(factory: StoreFactory, tmp_path: Path) -> None:
    if not factory.features.archives:
        pytest.skip("this backend makes no checkpoints (documented: see the first test)")
    storage = factory.open()
    storage.catalog.create_table("d", "t")
    storage.catalog.create_table("e", "u")
    storage.records.write("d", "t", [{"id": 1, "v": "x"}], "insert")
    target = tmp_path / "checkpoint"
    storage.backup.checkpoint(str(target))
    storage.records.write("d", "t", [{"id": 2}], "insert")  # later writes are not in the copy
    copy = factory.open_at(target)
    assert copy.catalog.list_databases() == ["d", "e"]
    assert [r["id"] for r in copy.records.scan("d", "t")] == [1]
    assert list(copy.records.index_keys("d", "t", "v", KeyRange("x", True))) == [1]
