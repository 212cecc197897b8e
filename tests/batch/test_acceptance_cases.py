"""The Haplo-derived acceptance cases (../shared/haplo_cases), one test per case.

A real ``gateway serve`` subprocess is started once for the module and the
cases' own runner (``run_cases.py --json``) is run against it; each case then
becomes one test whose failure message lists the runner's reasons.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, start_server

REPO = Path(__file__).resolve().parents[2]
CASES = REPO.parent / "shared" / "haplo_cases"
RUNNER = CASES / "run_cases.py"


def case_names() -> list[str]:
    if not RUNNER.is_file():
        return []
    return sorted(p.name for p in CASES.iterdir() if (p / "expected.json").is_file())


CASE_NAMES = case_names()
PARAMS = CASE_NAMES or [
    pytest.param("none", marks=pytest.mark.skip(reason=f"acceptance cases not found at {CASES}"))
]


@pytest.fixture(scope="module")
def case_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run every case once against a fresh server; ``{case: {"ok", "reasons"}}``."""
    workdir = tmp_path_factory.mktemp("acceptance")
    server = start_server(workdir / "root")
    out = workdir / "results.json"
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(RUNNER),
                "--url",
                server.url,
                "--user",
                ADMIN_USER,
                "--password",
                ADMIN_PASSWORD,
                "--timeout",
                "60",
                "--json",
                str(out),
                str(CASES),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        server.stop()
    if not out.is_file():
        pytest.fail(f"run_cases.py wrote no results (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    results = json.loads(out.read_text("utf-8"))
    results["__output__"] = done.stdout
    yield results


@pytest.mark.slow
@pytest.mark.parametrize("case", PARAMS)
def test_case(case: str, case_results: dict[str, Any]) -> None:
    outcome = case_results.get(case)
    assert outcome is not None, f"run_cases.py did not report {case}:\n{case_results['__output__']}"
    assert outcome["ok"], f"{case} failed:\n  " + "\n  ".join(outcome["reasons"])
