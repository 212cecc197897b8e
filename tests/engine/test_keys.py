"""Generated primary keys (spec §7.2.5: UUID strings)."""

from __future__ import annotations

import uuid

from engine.keys import uuid4_keys


def test_keys_are_distinct_version_4_uuid_strings() -> None:
    source = uuid4_keys()
    keys = [source() for _ in range(10_000)]  # more than one pool
    assert len(set(keys)) == len(keys)
    for key in keys:
        parsed = uuid.UUID(key)
        assert str(parsed) == key
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_each_batch_has_its_own_source() -> None:
    first, second = uuid4_keys(), uuid4_keys()
    assert first() != second()
    assert first.keys is not second.keys
