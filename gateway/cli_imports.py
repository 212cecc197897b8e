"""CLI verbs of the import family: create-key, revoke-key, add-model (filled in by the batch API work)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this family's sub-commands to the ``gateway`` parser."""
