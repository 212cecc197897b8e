"""Contract of the BatchErrorLog port on every backend: ordered pages, replacement, summaries, clearing."""

from __future__ import annotations

import pytest

from gateway.storage import batch_errors
from gateway.storage.batch_errors import open_error_log
from gateway.storage.ports import BatchErrorLog, Storage
from gateway.storage.records import ErrorEntry
from tests.storage.contract.conftest import StoreFactory


def _log(storage: Storage) -> BatchErrorLog:
    return open_error_log(storage)


def test_entries_come_back_in_order_with_their_fields(storage: Storage) -> None:
    log = _log(storage)
    entries = [
        ErrorEntry(0, "Invalid email address for input field email: x", "people", 3, 3, 5),
        ErrorEntry(1, "abort", "people", 4, 4),
        ErrorEntry(2, "Unknown destination in new: x"),
    ]
    log.put("b1", entries)
    log.put("b2", [ErrorEntry(0, "other batch", "staff", 0, 0)])
    assert list(log.entries("b1")) == entries
    assert [e.message for e in log.entries("b2")] == ["other batch"]
    assert list(log.entries("b1", start=1)) == entries[1:]
    assert list(log.entries("missing")) == []


def test_many_entries_are_read_in_pages_past_ten_and_a_thousand(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(storage)
    monkeypatch.setattr(batch_errors, "BLOCK", 7)  # several blocks and reads, seq numbers of several digits
    monkeypatch.setattr(batch_errors, "READ_BLOCKS", 3)
    log.put("b", [ErrorEntry(i, f"error {i}", "f", i, i) for i in range(1005)])
    assert [e.seq for e in log.entries("b")] == list(range(1005))
    assert [e.seq for e in log.entries("b", start=999)] == list(range(999, 1005))
    log.put("b", [ErrorEntry(500, "again", "f", 500, 500, 9)])  # one entry of a stored block replaced
    assert [e for e in log.entries("b", start=499)][:3] == [
        ErrorEntry(499, "error 499", "f", 499, 499),
        ErrorEntry(500, "again", "f", 500, 500, 9),
        ErrorEntry(501, "error 501", "f", 501, 501),
    ]
    assert log.clear("b") == 1005


def test_put_replaces_an_entry_of_the_same_seq_and_keeps_the_others(storage: Storage) -> None:
    log = _log(storage)
    log.put("b", [ErrorEntry(0, "m", "f", 2, 2), ErrorEntry(1, "n", "f", 3, 3)])
    log.put("b", [ErrorEntry(2, "o")])  # a later flush into the same block
    log.put("b", [ErrorEntry(0, "m", "f", 2, 2, line=4)])
    assert list(log.entries("b")) == [
        ErrorEntry(0, "m", "f", 2, 2, 4),
        ErrorEntry(1, "n", "f", 3, 3),
        ErrorEntry(2, "o"),
    ]


def test_summary_is_kept_apart_from_the_entries_and_cleared_with_them(storage: Storage) -> None:
    log = _log(storage)
    assert log.summary("b") is None
    log.put("b", [ErrorEntry(i, "m") for i in range(3)])
    log.save_summary("b", {"total": 3, "files": {"people": {"records": 2}}})
    assert log.summary("b") == {"total": 3, "files": {"people": {"records": 2}}}
    assert len(list(log.entries("b"))) == 3  # the summary is not an entry
    log.put("b2", [ErrorEntry(0, "kept")])
    assert log.clear("b") == 3
    assert list(log.entries("b")) == [] and log.summary("b") is None
    assert [e.message for e in log.entries("b2")] == ["kept"]


def test_entries_survive_a_reopen(factory: StoreFactory) -> None:
    first = factory.open()
    _log(first).put("b", [ErrorEntry(0, "kept", "f", 1, 1, 3)])
    first.close()
    second = factory.open()
    assert list(_log(second).entries("b")) == [ErrorEntry(0, "kept", "f", 1, 1, 3)]
