"""The person control file the batch, admin and script tests share."""

from __future__ import annotations

from typing import Any

PERSON_NAME_INSTRUCTIONS: list[dict[str, Any]] = [
    {"source": "first", "destination": "value:person-name", "name": "first"},
    {"source": "last", "destination": "value:person-name", "name": "last"},
    {
        "action": "field-structured",
        "structured": "value:person-name",
        "destination": "profile",
        "name": "title",
    },
]
"""The profile's title from the ``first`` and ``last`` fields (through ``value:person-name``)."""


def person_control(
    model: str = "haplo:person",
    files: dict[str, Any] | None = None,
    email_multivalue: bool = False,
) -> dict[str, Any]:
    """A valid control file that creates one profile per record with a title and an email."""
    email: dict[str, Any] = {"source": "email", "destination": "profile", "name": "email"}
    if email_multivalue:
        email["multivalue"] = True
    return {
        "dataImportControlFileVersion": 0,
        "model": model,
        "files": files if files is not None else {"DEFAULT": {"read": "json"}},
        "instructions": [
            {"action": "new", "destination": "profile"},
            *PERSON_NAME_INSTRUCTIONS,
            email,
        ],
    }
