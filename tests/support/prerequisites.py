"""External prerequisites (a browser, a binary, shared data, a database server): skip or fail.

Where something outside the project is missing, a test may skip with a message that says
what is missing and where it was looked for. Under ``CI=true`` nothing may be missing: the
same call fails the test instead, so a CI run never passes by skipping what it should test.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_VALUES = frozenset({"true", "1", "yes"})


def under_ci() -> bool:
    """Whether the ``CI`` environment variable says this is a CI run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def missing_prerequisite(message: str) -> NoReturn:
    """Skip the current test with ``message``; under ``CI=true`` fail it with the same message."""
    __tracebackhide__ = True
    if under_ci():
        pytest.fail(f"{message} (CI=true: a missing prerequisite fails the test instead of skipping it)")
    pytest.skip(message)


def require(present: object, message: str) -> None:
    """:func:`missing_prerequisite` with ``message`` unless ``present`` is true."""
    __tracebackhide__ = True
    if not present:
        missing_prerequisite(message)
