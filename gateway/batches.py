"""Wiring of the batch import family into the gateway (called by the app lifespan).

``install`` builds the services (blob store, API keys, model registry, batch
service, batch runner) and registers them in ``gateway.services``; ``recover``
applies the restart rule: batches left ``scheduled`` are queued again, batches
left ``running`` become ``error`` with an ``EXCEPTION:`` line (they are never
silently re-run, because records committed before the stop are kept).
"""

from __future__ import annotations

import logging

from gateway.auth.api_keys import SECRET_FILE, ApiKeyService
from gateway.imports.runner import BatchRunner
from gateway.imports.service import BatchService
from gateway.models import ModelRegistry
from gateway.state import Gateway
from gateway.storage.blobs import BlobStore

log = logging.getLogger("gateway.imports")


def install(gateway: Gateway) -> None:
    """Register the batch services on the gateway (blob store, keys, models, batches)."""
    config = gateway.config
    blobs = BlobStore(config.blob_dir)
    removed = blobs.clean_temporary()
    if removed:
        log.info("removed %d unfinished upload(s) left by a previous run", removed)
    api_keys = ApiKeyService(
        gateway.storage,
        gateway.audit,
        config.root / "keys" / SECRET_FILE,
        max_failures=int(config.get("authentication.api_key_max_failures")),
        failure_window=float(config.get("authentication.api_key_failure_window")),
    )
    models = ModelRegistry(gateway.storage)
    batches = BatchService(gateway.storage, blobs, models)
    runner = BatchRunner(gateway, batches, blobs, models)
    batches.on_scheduled = runner.submit
    gateway.services.update(
        blobs=blobs, api_keys=api_keys, models=models, batches=batches, batch_runner=runner
    )


def recover(gateway: Gateway) -> None:
    """Re-queue scheduled batches and fail batches left running."""
    runner: BatchRunner = gateway.services["batch_runner"]
    requeued, failed = runner.recover()
    if requeued or failed:
        log.info(
            "batch recovery: %d scheduled batch(es) queued again, %d interrupted run(s) failed",
            requeued,
            failed,
        )
