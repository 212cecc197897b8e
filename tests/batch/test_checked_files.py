"""Checked files (gateway.imports.checked): a dry run then a real run of the same files reads each once.

Through the real app and runner, on each backend. The observable is how often the runner opens
a data file's blob: a large file is opened by the engine's check and again by its records pass,
and once when an earlier run's check of the same bytes and spec is remembered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from engine.readers import base
from gateway.imports.checked import CheckedFiles, check_key
from tests.batch.conftest import BatchApi, minimal_control, start_api
from tests.conftest import make_client
from tests.support.people import person_control
from tests.support.postgres import store_overrides

PEOPLE = [{"first": f"Ada{i}", "last": "Lovelace, {},[]", "email": f"ada{i}@example.com"} for i in range(400)]
DATA = json.dumps(PEOPLE, indent=1).encode()


@pytest.fixture(autouse=True)
def large_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over 1 KiB are large (not kept from the check), read in small pieces."""
    monkeypatch.setattr(base, "KEEP_LIMIT", 1024)
    monkeypatch.setattr("engine.readers.json_array.CHUNK_SIZE", 1024)
    monkeypatch.setattr("engine.readers.text_readers.CHUNK_SIZE", 1024)


class Opens:
    """Counts the runner's opens of each blob."""

    def __init__(self, api: BatchApi, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runner = api.client.app.state.gateway.imports.runner  # type: ignore[attr-defined]
        self.counts: dict[str, int] = {}
        blobs = self.runner.blobs
        opener = blobs.open

        def counted(digest: str) -> Any:
            self.counts[digest] = self.counts.get(digest, 0) + 1
            return opener(digest)

        monkeypatch.setattr(blobs, "open", counted)

    def take(self, *files: bytes) -> list[int]:
        """How often each of ``files`` was opened since the last take (the control file is not counted)."""
        counts = [self.counts.get(hashlib.sha256(data).hexdigest(), 0) for data in files]
        self.counts = {}
        return counts


@pytest.fixture
def opens(api: BatchApi, monkeypatch: pytest.MonkeyPatch) -> Opens:
    return Opens(api, monkeypatch)


def run(api: BatchApi, control: str, files: dict[str, bytes], mode: str | None = None) -> dict[str, Any]:
    batch = api.create_batch(control)
    for name, content in files.items():
        api.add_file(batch, name, content)
    api.schedule(batch, mode)
    return api.wait(batch)


def stored(client: TestClient) -> list[Any]:
    storage = client.app.state.gateway.storage  # type: ignore[attr-defined]
    rows = [
        {k: v for k, v in r.items() if k not in ("id",) and not k.startswith("__")}
        for r in storage.records.scan("haplo_person", "profile")
    ]
    return sorted(rows, key=lambda r: str(r["email"]))


def test_a_real_run_after_a_dry_run_of_the_same_files_skips_the_check(
    api: BatchApi, opens: Opens, root: Path, backend: str, tmp_path: Path
) -> None:
    control = api.upload_control(minimal_control())
    dry = run(api, control, {"people": DATA}, "dry-run")
    assert (dry["state"], dry["errors"], opens.take(DATA)) == ("dry-run", 0, [2])  # check + records
    real = run(api, control, {"people": DATA})  # another batch, same control and file
    assert (real["state"], real["errors"], opens.take(DATA)) == ("complete", 0, [1])  # records only
    assert real["progress"] == {"records_done": 400, "errors": 0, "percent": 100}
    hinted = stored(api.client)
    assert len(hinted) == 400
    # the same records as a real run on a fresh gateway, which checks
    with make_client(tmp_path / "other", **store_overrides(backend, tmp_path / "other")) as other:
        fresh = start_api(other)
        plain = run(fresh, fresh.upload_control(minimal_control()), {"people": DATA})
        assert plain["state"] == "complete"
        assert stored(other) == hinted
        assert [line.split(": ", 1)[0] for line in plain["log"].splitlines()] == [
            line.split(": ", 1)[0] for line in real["log"].splitlines()
        ]


def test_another_reader_spec_or_other_bytes_are_checked_again(api: BatchApi, opens: Opens) -> None:
    control = api.upload_control(minimal_control())
    assert run(api, control, {"people": DATA}, "dry-run")["state"] == "dry-run"
    assert opens.take(DATA) == [2]
    spec = person_control(
        files={"DEFAULT": {"read": "json", "singleRecord": False}}
    )  # same reader, other spec
    assert run(api, api.upload_control(spec), {"people": DATA}, "dry-run")["state"] == "dry-run"
    assert opens.take(DATA) == [2]
    other = json.dumps(PEOPLE[:-1], indent=1).encode()
    assert run(api, control, {"people": other}, "dry-run")["state"] == "dry-run"
    assert opens.take(other) == [2]
    # each of the three is now remembered
    assert run(api, control, {"people": other}, "dry-run")["state"] == "dry-run"
    assert opens.take(other) == [1]


def test_a_malformed_file_fails_in_both_runs(api: BatchApi, opens: Opens) -> None:
    control = api.upload_control(minimal_control())
    bad = DATA.rstrip(b"]\n") + b",\n]"  # a trailing comma at the very end
    first = run(api, control, {"people": bad}, "dry-run")
    second = run(api, control, {"people": bad})
    assert first["state"] == second["state"] == "error"
    exceptions = [
        [line for line in info["log"].splitlines() if line.startswith("EXCEPTION:")]
        for info in (first, second)
    ]
    assert exceptions[0] == exceptions[1] and "is not valid JSON" in exceptions[0][0]
    assert second["progress"]["records_done"] == 0  # failed in the check, before any record
    assert len(opens.runner.checked) == 0


def test_wrong_remembered_hints_give_the_same_records(api: BatchApi, opens: Opens) -> None:
    """Hints that do not fit the file (a cache gone wrong) are found out as they are used."""
    control = api.upload_control(minimal_control())
    assert run(api, control, {"people": DATA}, "dry-run")["state"] == "dry-run"
    checked = opens.runner.checked
    (key,) = list(checked._entries)  # noqa: SLF001
    hints = checked.get(key)
    assert isinstance(hints, dict) and len(hints["cuts"]) > 20
    digest = key.split("/")[0]
    assert key == check_key(digest, {"read": "json"})
    checked.put(key, {**hints, "cuts": [c + 3 for c in hints["cuts"]]})
    opens.take()
    real = run(api, control, {"people": DATA})
    assert (real["state"], real["errors"], opens.take(DATA)) == ("complete", 0, [1])
    rows = stored(api.client)
    got = sorted((r["title"]["first"], r["title"]["last"], r["email"]) for r in rows)
    assert got == sorted((p["first"], p["last"], [p["email"]]) for p in PEOPLE)


def test_csv_and_several_files(api: BatchApi, opens: Opens) -> None:
    spec = {"people": {"read": "json"}, "more": {"read": "csv"}}
    control = api.upload_control(person_control(files=spec))
    csv = (
        "first,last,email\n" + "".join(f'C{i},"Hopper, G",c{i}@example.com\n' for i in range(300))
    ).encode()
    files = {"people": DATA, "more": csv}
    assert run(api, control, files, "dry-run")["state"] == "dry-run"
    assert opens.take(DATA, csv) == [2, 2]
    real = run(api, control, files)
    assert (real["state"], real["progress"]["records_done"], opens.take(DATA, csv)) == (
        "complete",
        700,
        [1, 1],
    )


@pytest.fixture
def uncached(root: Path, backend: str) -> Iterator[BatchApi]:
    overrides = {**store_overrides(backend, root), "import.checked_files": 0}
    with make_client(root, **overrides) as client:
        yield start_api(client)


def test_off_with_zero_checked_files(uncached: BatchApi, monkeypatch: pytest.MonkeyPatch) -> None:
    opens = Opens(uncached, monkeypatch)
    control = uncached.upload_control(minimal_control())
    for mode in ("dry-run", None):
        assert run(uncached, control, {"people": DATA}, mode)["errors"] == 0
        assert opens.take(DATA) == [2]


def test_the_memory_is_bounded_least_recently_used_first_out() -> None:
    checked = CheckedFiles(max_entries=3, max_bytes=100)
    keys = [check_key(f"{i:064x}", {"read": "json"}) for i in range(5)]
    assert len(set(keys)) == 5 and check_key("", {"read": "json"}) is None and check_key("ab", None) is None
    for key in keys[:3]:
        checked.put(key, {"cuts": [1, 2]})
    assert checked.get(keys[0]) == {"cuts": [1, 2]}  # used: now the most recent
    checked.put(keys[3], {"cuts": [3]})
    assert [checked.get(k) is not None for k in keys[:4]] == [True, False, True, True]
    checked.put(keys[4], {"cuts": list(range(40))})  # over 100 bytes of JSON alone: not kept
    assert checked.get(keys[4]) is None and len(checked) == 3
    checked.put(keys[4], {"cuts": list(range(25))})  # 74 bytes: kept, pushing out the older entries past 100
    assert checked.get(keys[4]) is not None and len(checked) == 2
    assert check_key("ab", {"read": "json", "charset": "latin1"}) != check_key("ab", {"read": "json"})
    assert check_key("ab", {"b": 1, "a": 2}) == check_key("ab", {"a": 2, "b": 1})  # a stable hash
