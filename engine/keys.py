"""Primary keys for new records: random version-4 UUID strings, made in pools.

``str(uuid.uuid4())`` costs several microseconds per key; a pool of 4096 keys is
built with a few whole-pool C operations instead (``os.urandom``, one mask for
the version and variant bits, hex with separators, three strided deletions).
"""

from __future__ import annotations

import os
from typing import Final

_POOL: Final = 4096
_KEY_MASK: Final = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _POOL, "big")
_KEY_BITS: Final = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _POOL, "big")


def _key_pool() -> list[str]:
    """4096 random version-4 UUID strings, built with whole-pool C operations."""
    size = 16 * _POOL
    raw = (int.from_bytes(os.urandom(size), "big") & _KEY_MASK | _KEY_BITS).to_bytes(size, "big")
    # "xxxx-" per 2 bytes gives 8 groups + a boundary "-" (40 characters) per key; drop
    # the dashes after groups 7, 6 and 1 to get 8-4-4-4-12, then split at the boundaries.
    text = bytearray(raw.hex("-", 2).encode("ascii") + b"-")
    del text[34::40]
    del text[29::39]
    del text[4::38]
    text[36::37] = b" " * _POOL
    return text.decode("ascii").split()


class KeySource:
    """Random version-4 UUID strings, the form ``str(uuid.uuid4())`` gives, made in pools.

    Generated code takes ``keys.pop() if keys else refill()`` (a C call per key).
    """

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[str] = []

    def refill(self) -> str:
        """Make a new pool and take a key from it."""
        self.keys.extend(_key_pool())
        return self.keys.pop()

    def __call__(self) -> str:
        return self.keys.pop() if self.keys else self.refill()


def uuid4_keys() -> KeySource:
    """A fast source of random (version 4) UUID strings."""
    return KeySource()
