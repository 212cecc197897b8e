"""Data for the summary tests: a control file that finds profiles by email, and two imports."""

from __future__ import annotations

from typing import Any

from tests.support.people import PERSON_NAME_INSTRUCTIONS

SKIP = {"action": "if-exists", "source": "skip", "then": [{"action": "abort-record", "message": "skipped"}]}


def by_email_control() -> dict[str, Any]:
    """Profiles found by email (created when none is found): a re-run is idempotent."""
    return {
        "dataImportControlFileVersion": 0,
        "model": "haplo:person",
        "files": {"DEFAULT": {"read": "json"}},
        "instructions": [
            SKIP,
            {"source": "email", "destination": "load:by-email", "name": "email"},
            {
                "action": "load",
                "destination": "profile",
                "using": "load:by-email",
                "otherwise": [{"action": "new", "destination": "profile"}],
            },
            *PERSON_NAME_INSTRUCTIONS,
            {"source": "email", "destination": "profile", "name": "email"},
        ],
    }


FIRST = [
    {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},
    {"first": "Alan", "last": "Turing", "email": "alan@example.com"},
]
SECOND = [
    {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},  # unchanged
    {"first": "Alan", "last": "Turing-Smith", "email": "alan@example.com"},  # updated
    {"first": "Grace", "last": "Hopper", "email": "grace@example.com"},  # new
    {"first": "X", "last": "Y", "email": "x@example.com", "skip": 1},  # failed (aborted)
]
