"""Bulk job lifecycle (csv loads, exports): filled in by the bulk operations work."""

from __future__ import annotations

from gateway.state import Gateway


def install(gateway: Gateway) -> None:
    """Register the job table."""


def recover(gateway: Gateway) -> None:
    """Jobs left IN_PROGRESS by a stopped server become ERROR."""
