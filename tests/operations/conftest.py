"""Fixtures for the Operations API tests: a dev.dog table with HarperDB's sample dogs.

Every test here runs on each storage backend (``backend``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ops, basic
from tests.support.postgres import BACKENDS


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


DOGS: list[dict[str, Any]] = [
    {"id": 1, "dog_name": "Penny", "owner_name": "Kyle", "age": 5, "weight_lbs": 35.5, "breed_id": 154},
    {"id": 2, "dog_name": "Pepper", "owner_name": "Kyle", "age": 8, "weight_lbs": 50, "breed_id": 154},
    {"id": 3, "dog_name": "Kato", "owner_name": "Kyle", "age": 9, "weight_lbs": 60, "breed_id": 7},
    {"id": 4, "dog_name": "Pet Rock", "owner_name": "Zach", "age": 1, "weight_lbs": 1, "breed_id": 99},
    {"id": "5", "dog_name": "Stringy", "owner_name": "Zach", "age": 2},
    {"id": 6, "dog_name": "Harper", "owner_name": "Stephen", "age": 3, "breed_id": 346},
]


@pytest.fixture
def dogs(op: Ops) -> Ops:
    """``op`` after creating dev.dog (dynamic) and dev.breed and inserting the sample rows."""
    op({"operation": "create_database", "database": "dev"})
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
    op(
        {
            "operation": "insert",
            "database": "dev",
            "table": "breed",
            "records": [{"id": 154, "name": "Labrador"}, {"id": 7, "name": "Pug"}],
        }
    )
    return op


def make_user(op: Ops, username: str, permission: dict[str, Any], password: str = "pw") -> Ops:
    """Create a role named after the user with ``permission`` and the user; an Ops posting as them."""
    op({"operation": "add_role", "role": f"{username}_role", "permission": permission})
    op({"operation": "add_user", "username": username, "password": password, "role": f"{username}_role"})
    return Ops(op.client, basic(username, password))
