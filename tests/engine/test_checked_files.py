"""Checked files: a file whose check succeeded hands its hints to a later run, which skips the check.

Every reader takes them (spec §3; :mod:`engine.readers.base`). The observable is the number of
times a file is opened: a large file is opened by the check and again by the records pass, and
once when the check is skipped. Wrong or stale hints give the same records or a clean BatchError.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping
from typing import Any

import pytest

from engine import HINTS_VERSION, READERS, BatchError, BatchFile
from tests.engine.helpers import items_model, run, use_small_chunks

PEOPLE = [{"a": f"value {i}, with }},{{ and ]", "n": i, "nested": {"l": [i, {"x": ","}]}} for i in range(60)]

FILES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "json": (json.dumps(PEOPLE).encode(), {}),
    "json-indented": (json.dumps(PEOPLE, indent=2).encode(), {}),
    "json-single": (json.dumps({"a": 1, "b": [1, 2]}).encode(), {"singleRecord": True}),
    "jsonl": ("\n".join(json.dumps(p) for p in PEOPLE).encode(), {}),
    "csv": (("a,n\n" + "".join(f'"v {i}, x",{i}\n' for i in range(60))).encode(), {}),
    "tsv-with-name-row": (("a\tn\n" + "".join(f"v {i}\t{i}\n" for i in range(60))).encode(), {}),
    "xml-text-of-children": (
        ("<r>" + "".join(f"<p><a>v {i}</a><n>{i}</n></p>" for i in range(60)) + "</r>").encode(),
        {},
    ),
    "xml-attributes": (("<r>" + "".join(f'<p a="v {i}" n="{i}"/>' for i in range(60)) + "</r>").encode(), {}),
}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pieces and no keeping: every file is large, cut in many places."""
    use_small_chunks(monkeypatch)


class Opened:
    """A BatchFile over ``data`` that counts its opens."""

    def __init__(self, data: bytes, name: str = "f") -> None:
        self.data = data
        self.count = 0
        self.file = BatchFile(name, self.open, len(data))

    def open(self) -> Any:
        self.count += 1
        return io.BytesIO(self.data)


def reader_for(kind: str, file: BatchFile, spec: Mapping[str, Any]) -> Any:
    read = "json" if kind.startswith("json-") else kind
    return READERS[read](file, {"read": read, **spec})


def checked_once(kind: str) -> tuple[list[Any], object]:
    data, spec = FILES[kind]
    reader = reader_for(kind, Opened(data).file, spec)
    reader.check()
    hints = reader.checked()
    json.dumps(hints)  # JSON-serialisable
    return list(reader.records()), hints


@pytest.mark.parametrize("kind", sorted(FILES))
def test_every_reader_skips_its_check_on_its_own_hints(kind: str) -> None:
    records, hints = checked_once(kind)
    assert records and hints is not None
    data, spec = FILES[kind]
    opened = Opened(data)
    reader = reader_for(kind, opened.file, spec)
    assert reader.skip_check(hints)
    assert opened.count == 0
    assert list(reader.records()) == records
    assert opened.count == 1  # the records pass only


def test_json_hints_are_the_cut_offsets_at_commas() -> None:
    data = FILES["json"][0]
    _, hints = checked_once("json")
    assert isinstance(hints, dict)
    assert hints["version"] == HINTS_VERSION and hints["kind"] == "json" and hints["size"] == len(data)
    assert len(hints["cuts"]) > 10
    assert all(data[cut : cut + 1] == b"," for cut in hints["cuts"])


@pytest.mark.parametrize("kind", ["json", "csv", "xml-attributes"])
def test_hints_of_another_kind_version_or_size_are_refused(kind: str) -> None:
    _, hints = checked_once(kind)
    assert isinstance(hints, dict)
    data, spec = FILES[kind]
    other = "jsonl" if kind != "jsonl" else "csv"
    for wrong in (
        {**hints, "version": HINTS_VERSION + 1},
        {**hints, "kind": other},
        {**hints, "size": len(data) + 1},
        [hints],
        "checked",
    ):
        reader = reader_for(kind, Opened(data).file, spec)
        assert not reader.skip_check(wrong)
        assert not reader.hinted


@pytest.mark.parametrize(
    "cuts",
    [None, "1,2", [1.5], [5, 5], [9, 3], [0], [10**9], [-1]],
)
def test_json_cuts_that_cannot_be_offsets_are_refused(cuts: Any) -> None:
    _, hints = checked_once("json")
    assert isinstance(hints, dict)
    data, spec = FILES["json"]
    reader = reader_for("json", Opened(data).file, spec)
    assert not reader.skip_check({**hints, "cuts": cuts})


def shifted(cuts: list[int], by: int) -> list[int]:
    return [c + by for c in cuts]


@pytest.mark.parametrize(
    "change",
    [
        lambda cuts: shifted(cuts, 1),  # off the comma
        lambda cuts: shifted(cuts, -3),  # a comma inside a string or value, or none
        lambda cuts: cuts[: len(cuts) // 2] + shifted(cuts[len(cuts) // 2 :], 7),  # wrong from the middle
        lambda cuts: [cuts[0], *range(cuts[0] + 5, cuts[-1], 13)],  # every comma-ish place
        lambda cuts: cuts[::3],  # fewer cuts: bigger pieces
        lambda cuts: [],  # none: one piece
    ],
)
@pytest.mark.parametrize("kind", ["json", "json-indented"])
def test_json_wrong_cuts_give_the_same_records(kind: str, change: Any) -> None:
    records, hints = checked_once(kind)
    assert isinstance(hints, dict)
    data, spec = FILES[kind]
    reader = reader_for(kind, Opened(data).file, spec)
    if reader.skip_check({**hints, "cuts": change(hints["cuts"])}):
        assert list(reader.records()) == records


def test_json_cuts_of_a_file_with_commas_in_strings_at_those_places_give_the_same_records() -> None:
    """Cuts of another file that fall on commas inside this file's strings are found out."""
    inner = [{"s": "x" * 20 + ", " + "y" * 20} for _ in range(40)]
    data = json.dumps(inner).encode()
    commas_in_strings = [i for i, byte in enumerate(data) if byte == 0x2C and data[i + 1 : i + 2] == b" "]
    reader = reader_for("json", Opened(data).file, {})
    assert reader.skip_check(
        {"version": HINTS_VERSION, "kind": "json", "size": len(data), "cuts": commas_in_strings}
    )
    assert list(reader.records()) == inner


def test_stale_hints_of_a_malformed_file_fail_cleanly() -> None:
    """Hints of a good file used for a malformed one of the same size: a BatchError, as a check would give."""
    _, hints = checked_once("json")
    data = bytearray(FILES["json"][0])
    data[-40] = ord("@")
    reader = reader_for("json", Opened(bytes(data)).file, {})
    assert reader.skip_check(hints)
    with pytest.raises(BatchError, match="JSON file f is not valid JSON"):
        list(reader.records())


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_stale_hints_still_refuse_records_nested_too_deeply(kind: str) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    records = [{"a": i} for i in range(30)] + [{"deep": deep}]
    data = json.dumps(records).encode() if kind == "json" else "\n".join(map(json.dumps, records)).encode()
    hints = {"version": HINTS_VERSION, "kind": kind, "size": len(data)}
    if kind == "json":  # the cuts of the first pass over the good part, as a stale check would leave
        good = json.dumps(records[:-1]).encode()
        hints["cuts"] = [i for i in range(len(good)) if good[i : i + 3] == b", {"][:-1]
    reader = reader_for(kind, Opened(data).file, {})
    assert reader.skip_check(hints)
    with pytest.raises(BatchError, match="nests arrays and objects more than 128 levels deep"):
        list(reader.records())


def test_run_reports_checks_and_skips_them_with_the_hints() -> None:
    """run_batch: on_checked gets each file checked; handing the hints back skips the check."""
    model = items_model()
    good = Opened(json.dumps([{"a": i} for i in range(50)]).encode(), "input")
    instructions = [
        {"action": "new", "destination": "item"},
        {"source": "a", "destination": "item", "name": "a"},
    ]
    reported: list[tuple[BatchFile, object]] = []
    first = run(model, instructions, files=[good.file], on_checked=lambda f, h: reported.append((f, h)))
    assert first.outcome.exception is None and first.outcome.checks_skipped == 0
    assert [f for f, _ in reported] == [good.file] and good.count == 2
    again = Opened(good.data, "input")
    hinted = dataclasses.replace(again.file, checked=reported[0][1])
    second = run(model, instructions, files=[hinted], on_checked=lambda f, h: reported.append((f, h)))
    assert second.outcome.exception is None and second.outcome.checks_skipped == 1
    assert again.count == 1 and len(reported) == 1  # not checked, nothing new reported
    values = [[r["a"] for r in result.store.rows("item")] for result in (first, second)]
    assert values[0] == values[1] == [str(i) for i in range(50)]


def test_a_malformed_file_reports_no_hints_and_fails() -> None:
    model = items_model()
    bad = Opened(b'[{"a": 1}, {"a": ]', "input")
    reported: list[object] = []
    instructions = [
        {"action": "new", "destination": "item"},
        {"source": "a", "destination": "item", "name": "a"},
    ]
    result = run(model, instructions, files=[bad.file], on_checked=lambda f, h: reported.append(h))
    assert result.outcome.exception is not None and result.outcome.exception.startswith(
        "JSON file input is not valid"
    )
    assert reported == [] and result.outcome.records == 0
