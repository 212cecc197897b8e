"""Where the Haplo-derived acceptance cases live (``../shared/haplo_cases``) and which there are.

Both the in-process run (tests/engine) and the run against a real server (tests/batch)
take their cases from here. When the folder is missing, the parametrisation holds one
placeholder (``None``); the test then calls :func:`require_cases`, which skips, or fails
under ``CI=true``, naming the path that was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.prerequisites import require

CASES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "haplo_cases"
RUNNER = CASES_DIR / "run_cases.py"
MISSING_ID = "haplo-cases-missing"
_STATED_COUNT = re.compile(r"^(\d+) acceptance cases\b", re.MULTILINE)


def case_dirs() -> list[Path]:
    """Every case folder (each subfolder of the cases folder), sorted; [] if the folder is missing."""
    if not CASES_DIR.is_dir():
        return []
    return sorted(p for p in CASES_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def case_params() -> list[Any]:
    """``pytest.param`` per case folder (id: its name), or one ``None`` placeholder if there are none."""
    dirs = case_dirs()
    if not dirs:
        return [pytest.param(None, id=MISSING_ID)]
    return [pytest.param(d, id=d.name) for d in dirs]


def require_cases(runner: bool = False) -> None:
    """Skip (fail under ``CI=true``) unless the case folder, and with ``runner`` its run_cases.py, exist."""
    __tracebackhide__ = True
    require(CASES_DIR.is_dir(), f"acceptance cases not found: expected the folder {CASES_DIR}")
    require(case_dirs(), f"acceptance cases not found: the folder {CASES_DIR} holds no case folder")
    if runner:
        require(RUNNER.is_file(), f"acceptance case runner not found: expected {RUNNER}")


def check_case_folder() -> list[Path]:
    """Assert that the cases are all there: at least one, each with its expected.json, and as
    many as the folder's README says (when it states a number). The case folders."""
    require_cases()
    dirs = case_dirs()
    assert dirs, f"no case folder in {CASES_DIR}"
    without = [d.name for d in dirs if not (d / "expected.json").is_file()]
    assert without == [], f"case folders without expected.json in {CASES_DIR}: {without}"
    readme = CASES_DIR / "README.md"
    stated = _STATED_COUNT.search(readme.read_text("utf-8")) if readme.is_file() else None
    if stated is not None:
        assert len(dirs) == int(stated.group(1)), (
            f"{readme} states {stated.group(1)} acceptance cases; found {len(dirs)}: {[d.name for d in dirs]}"
        )
    return dirs
