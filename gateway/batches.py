"""Batch and control-file lifecycle, run_batch(): filled in by the batch API work."""

from __future__ import annotations

from gateway.state import Gateway


def install(gateway: Gateway) -> None:
    """Register the batch services on the gateway (blob store, batch tables)."""


def recover(gateway: Gateway) -> None:
    """Re-queue scheduled batches and fail batches left running."""
