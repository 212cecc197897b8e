"""The "skip, or fail under CI=true" rule for missing external prerequisites (tests/support)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.support import haplo_cases, postgres
from tests.support.prerequisites import missing_prerequisite, require, under_ci


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("false", False), ("0", False), ("true", True), ("TRUE", True), ("1", True)],
)
def test_under_ci_reads_the_ci_variable(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert under_ci() is expected


def test_missing_prerequisite_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^no widget at /opt/widget$"):
        missing_prerequisite("no widget at /opt/widget")


def test_missing_prerequisite_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="^no widget at /opt/widget \\(CI=true: "):
        missing_prerequisite("no widget at /opt/widget")


def test_require_passes_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require(True, "never shown")
    require([1], "never shown")
    with pytest.raises(pytest.fail.Exception, match="empty list"):
        require([], "empty list")


def test_missing_case_folder_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    absent = tmp_path / "shared" / "haplo_cases"
    monkeypatch.setattr(haplo_cases, "CASES_DIR", absent)
    params = haplo_cases.case_params()
    assert [(p.values, p.id) for p in params] == [((None,), haplo_cases.MISSING_ID)]
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"expected the folder {re.escape(str(absent))}$"):
        haplo_cases.require_cases()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match=f"expected the folder {re.escape(str(absent))} \\(CI=true"
    ):
        haplo_cases.require_cases()
    with pytest.raises(
        pytest.fail.Exception, match=f"expected the folder {re.escape(str(absent))} \\(CI=true"
    ):
        haplo_cases.check_case_folder()


def test_case_folder_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(haplo_cases, "CASES_DIR", tmp_path)
    monkeypatch.setattr(haplo_cases, "RUNNER", tmp_path / "run_cases.py")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="holds no case folder"):
        haplo_cases.require_cases()
    for name in ("01_a", "02_b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "expected.json").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    assert [d.name for d in haplo_cases.check_case_folder()] == ["01_a", "02_b"]
    with pytest.raises(pytest.fail.Exception, match="runner not found: expected .*run_cases.py"):
        haplo_cases.require_cases(runner=True)
    (tmp_path / "README.md").write_text("# Cases\n\n3 acceptance cases for the engine.\n")
    with pytest.raises(AssertionError, match="states 3 acceptance cases; found 2"):
        haplo_cases.check_case_folder()
    (tmp_path / "03_c").mkdir()
    with pytest.raises(AssertionError, match=r"without expected.json .*\['03_c'\]"):
        haplo_cases.check_case_folder()


def test_no_postgres_server_says_how_to_point_the_tests_at_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(postgres.ENV, f"postgresql://postgres@127.0.0.1:{port}/postgres")
    monkeypatch.setattr(postgres, "_run", None)
    monkeypatch.setattr(postgres, "_missing", None)
    monkeypatch.delenv("CI", raising=False)
    expected = f"no PostgreSQL server lets the tests create a database at 127.0.0.1:{port} as postgres"
    with pytest.raises(pytest.skip.Exception, match=f"^{re.escape(expected)}.*point {postgres.ENV} at one"):
        postgres.run_dsn()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"^{re.escape(expected)}.*\\(CI=true"):
        postgres.store_overrides("postgres", Path("root"))
    assert postgres.store_overrides("rocksdb", Path("root")) == {"storage.backend": "rocksdb"}
