"""The order-preserving key encoding."""

from __future__ import annotations

import random

import pytest

from gateway.storage import keys as K


def test_order_matches_harperdb():
    values = [
        None,
        False,
        True,
        -1e300,
        -5,
        -1.5,
        0,
        0.5,
        1,
        2,
        3.5,
        2**53,
        1e20,
        "",
        "5",
        "a",
        "a\x00b",
        "ab",
        "b",
        "é",
    ]
    encoded = [K.encode_key(v) for v in values]
    assert encoded == sorted(encoded)
    for value, raw in zip(values, encoded, strict=True):
        assert K.decode_key(raw) == value


def test_random_numbers_sort_numerically():
    rng = random.Random(7)
    numbers = [rng.uniform(-1e9, 1e9) for _ in range(500)] + [
        rng.randint(-(10**12), 10**12) for _ in range(500)
    ]
    assert sorted(numbers, key=K.encode_key) == sorted(numbers)


def test_equal_numbers_share_a_key_and_types_differ():
    assert K.encode_key(1) == K.encode_key(1.0) and K.encode_key(0) == K.encode_key(-0.0)
    assert K.encode_key(1) != K.encode_key("1") != K.encode_key(True)


def test_compound_keys_keep_their_boundaries():
    pairs = [("a", 2), ("a", 10), ("a\x00", 1), ("ab", 1), (5, "x")]
    encoded = [K.encode_key(a) + K.encode_key(b) for a, b in pairs]
    assert sorted(encoded) == [encoded[4], encoded[0], encoded[1], encoded[2], encoded[3]]
    for (a, b), raw in zip(pairs, encoded, strict=True):
        length = K.key_length(raw)
        assert (K.decode_key(raw), K.decode_key(raw, length)) == (a, b)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1], {"a": 1}, 10**400])
def test_unencodable(value):
    with pytest.raises(K.UnencodableKey):
        K.encode_key(value)


COLUMN_VALUES = ["x", "", "ab\x00c", "é", 3, 2.5, -1, True, None, [], ["a", 1], ["b"], {"a": 1}, K.MISSING]


@pytest.mark.parametrize("seed", range(40))
def test_index_entries_of_a_column_are_each_values_keys_and_owner(seed):
    """Whatever a column mixes (missing values, objects, arrays, strings with NUL, one kind only), its
    entries are those of its values one by one, in order."""
    rng = random.Random(seed)
    pool = rng.sample(COLUMN_VALUES, rng.randint(1, 4))
    if seed % 4 == 0:  # one kind: the fast paths (strings with NUL escaped, arrays of one element or more)
        pool = rng.choice(
            [["s", "t"], ["s", "a\x00b"], [7, 2.5], [["u"]], [["u"], ["a\x00"]], [["v", "w"], []]]
        )
    values = [rng.choice(pool) for _ in range(rng.randint(0, 30))]
    if seed % 5 == 0:
        values = [f"name{i}" if rng.random() < 0.7 else rng.choice(pool) for i in range(30)]
    if seed % 7 == 0:
        values = [[f"v{i}"] if rng.random() < 0.7 else rng.choice(pool) for i in range(30)]
    owners = [K.encode_key(f"key-{i}") for i in range(len(values))]
    expected = [vk + owner for value, owner in zip(values, owners, strict=True) for vk in K.value_keys(value)]
    assert K.index_entries(values, owners) == expected
