"""The acceptance cases of shared/haplo_cases, run in-process against the in-memory store.

Follows the procedure of haplo_cases/README.md: register the model, load
initial.json, "upload" the control file (JSON parse + validation, with the HTTP
body texts), run the batch, and compare state, error count, log lines and tables.
Without the cases folder the tests skip, naming the path; under ``CI=true`` they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine import BatchFile, Model, run_batch, validate_control
from tests.engine.fakes import MemoryStore
from tests.support.haplo_cases import case_params, check_case_folder, require_cases


def upload_error(raw: bytes, model: Model) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed control file, or the body of the 400 the upload endpoint would send."""
    try:
        control = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "Uploaded file is not JSON"
    errors = validate_control(control, {model.name})
    if errors:
        return None, "Invalid control file:" + "".join("\n  " + e for e in errors)
    return control, None


def _same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)


def matches(expected: Any, actual: Any, store: MemoryStore) -> bool:
    """The README's comparison, with the ``$any`` and ``$ref`` matchers."""
    if expected == "$any":
        return actual is not None
    if isinstance(expected, dict) and set(expected) == {"$ref"}:
        spec = expected["$ref"]
        rows = [
            r
            for r in store.rows(spec["table"])
            if all(k in r and matches(v, r[k], store) for k, v in spec["where"].items())
        ]
        return len(rows) == 1 and rows[0].get("id") == actual
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        keys = {k for k in actual if not k.startswith("__")}
        return keys == set(expected) and all(matches(v, actual[k], store) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(e, a, store) for e, a in zip(expected, actual, strict=True))
        )
    return _same_scalar(expected, actual)


def tables_match(expected: list[Any], actual: list[Any], store: MemoryStore) -> bool:
    """Unordered one-to-one matching of records (backtracking)."""
    if len(expected) != len(actual):
        return False
    if not expected:
        return True
    first, rest = expected[0], expected[1:]
    for i, candidate in enumerate(actual):
        if matches(first, candidate, store) and tables_match(rest, actual[:i] + actual[i + 1 :], store):
            return True
    return False


def batch_file(name: str, path: Path) -> BatchFile:
    return BatchFile(name, lambda: path.open("rb"), path.stat().st_size)


def check_ordered_lines(wanted: list[str], lines: list[str]) -> None:
    position = 0
    for text in wanted:
        while position < len(lines) and text not in lines[position]:
            position += 1
        assert position < len(lines), f"log line containing {text!r} not found in order in {lines!r}"
        position += 1


def test_case_folder_is_complete() -> None:
    check_case_folder()


@pytest.mark.parametrize("case", case_params())
def test_case(case: Path | None) -> None:
    require_cases()
    assert case is not None
    expected = json.loads((case / "expected.json").read_text())
    model = Model.from_json(json.loads((case / "model.json").read_text()))
    store = MemoryStore()
    tables = {d.table: d for d in model.stored_destinations}
    initial = case / "initial.json"
    if initial.exists():
        for table, records in json.loads(initial.read_text()).items():
            for record in records:
                store.insert(table, record, tables[table].primary_key if table in tables else "id")

    control, body = upload_error((case / "control.json").read_bytes(), model)
    if "upload_error" in expected:
        assert body is not None, "the control upload should have failed"
        assert expected["upload_error"]["status"] == 400
        for text in expected["upload_error"]["body_contains"]:
            assert text in body
    else:
        assert body is None, body
        assert control is not None
        files = [batch_file(f["name"], case / f["path"]) for f in expected["files"]]
        dry_run = expected.get("mode") == "dry-run"
        lines: list[str] = []
        outcome = run_batch(control, model, files, store, dry_run=dry_run, log=lines.append)
        if outcome.exception is not None:
            lines.append(f"EXCEPTION: Error during import: {outcome.exception}")
        state = "error" if outcome.exception is not None else ("dry-run" if dry_run else "complete")
        assert state == expected["state"], lines
        assert outcome.errors == expected["error_count"], lines
        check_ordered_lines(expected["errors"], lines)
        for text in expected.get("absent", []):
            assert not any(text in line for line in lines), f"{text!r} should not be logged"

    for table, wanted in expected["records"].items():
        actual = store.rows(table)
        assert tables_match(wanted, actual, store), f"{table}: expected {wanted}, got {actual}"
