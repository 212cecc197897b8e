"""The application factory: routes, lifespan (store, task queue, recovery)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import auth, bulk, cluster, imports, jobs, metrics, pushdata
from gateway.audit import TXLOG_PRUNE_SECONDS, AuditLog, configure_transaction_log
from gateway.config import Config, load_config
from gateway.http import admin_routes, batch_api, health, metrics_endpoint, openapi, push_data
from gateway.http.operations_endpoint import OperationsFastPath, operations_endpoint
from gateway.http.server import fast_path
from gateway.logs import configure_logging
from gateway.operations.bulk import bind_job_kinds
from gateway.process import Gateway
from gateway.storage.backends import open_blobs, open_storage

log = logging.getLogger("gateway.app")


def open_gateway(config: Config) -> Gateway:
    """Open the configured storage and install every family (the task queue is not started yet)."""
    config.ensure_layout()
    configure_logging(config.log_dir, str(config.get("logging.level")))
    storage = open_storage(config)
    try:
        blobs = open_blobs(config)
    except Exception:
        storage.close()
        raise
    try:
        stopping = threading.Event()
        audit = AuditLog(storage)
        job_family = jobs.install(config, storage, stopping)
        prune = configure_transaction_log(config, storage)
        if prune is not None:
            job_family.scheduler.every("txlog:prune", TXLOG_PRUNE_SECONDS, prune)
        auth_family = auth.install(config, storage, audit)
        import_family = imports.install(config, storage, audit, job_family, blobs)
        gateway = Gateway(
            config=config,
            storage=storage,
            audit=audit,
            auth=auth_family,
            jobs=job_family,
            bulk=bulk.install(config),
            imports=import_family,
            cluster=cluster.install(config, storage, job_family),
            metrics=metrics.install(config, storage, job_family, import_family),
            push_data=pushdata.install(config, storage, audit, auth_family, import_family, job_family.queue),
            stopping=stopping,
        )
        bind_job_kinds(gateway)
        return gateway
    except Exception:
        blobs.close()
        storage.close()
        raise


def start_gateway(
    gateway: Gateway,
    admin_username: str | None,
    admin_password: str | None,
    work: bool = True,
    role: str | None = None,
) -> str | None:
    """First-start super user, task queue (with ``work``: this process runs queued work, at most
    ``jobs.threads`` pieces at a time), recovery of cut-short work, this process's entry in
    ``cluster_status`` (``role``: serve, web or worker; by default serve, or web without ``work``).
    Returns a generated password."""
    generated = gateway.auth.users.bootstrap(admin_username, admin_password)
    gateway.cluster.start(role or ("serve" if work else "web"))
    gateway.jobs.start(work, int(gateway.config.get("jobs.threads")))
    gateway.imports.recover()
    gateway.jobs.recover()
    return generated


STOPPING = "stopping: running batches and jobs end at their next record boundary"
"""What the log says when a graceful stop (SIGTERM, ``restart``) begins."""


def stop_gateway(gateway: Gateway) -> None:
    """Stop accepting work, let running work reach a record boundary, close the storage.

    Ended jobs and batches that a full device kept in memory get a last chance to be stored.
    """
    gateway.stopping.set()
    log.info(STOPPING)
    gateway.jobs.stop()
    gateway.cluster.stop()
    gateway.jobs.save_unsaved()
    gateway.imports.batches.save_unsaved()
    gateway.imports.blobs.close()
    gateway.storage.close()


async def root_get(request: Request) -> Response:
    """A browser opening ``/`` is sent to the admin pages."""
    return RedirectResponse("/admin/", status_code=303)


def build_routes() -> list[BaseRoute]:
    return [
        Route("/", operations_endpoint, methods=["POST"]),
        Route("/", root_get, methods=["GET"]),
        *health.routes,
        *metrics_endpoint.routes,
        *batch_api.routes,
        *push_data.routes,
        *openapi.routes,
        *admin_routes.routes,
    ]


def create_app(
    config: Config | None = None,
    *,
    admin_username: str | None = None,
    admin_password: str | None = None,
    gateway: Gateway | None = None,
    work: bool = True,
) -> Starlette:
    """A Starlette app whose lifespan owns the store and the task queue.

    ``gateway``: an already opened gateway (``gateway serve`` opens the store
    before binding the port so that a locked store fails at once). ``work``: this
    process also runs queued batches and bulk jobs (``gateway serve --no-worker``: not).
    """
    cfg = gateway.config if gateway is not None else (config or load_config())
    username = admin_username or os.environ.get("GATEWAY_ADMIN_USERNAME")
    password = admin_password or os.environ.get("GATEWAY_ADMIN_PASSWORD")
    opened = [gateway]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        given = opened.pop() if opened else None
        gw = given if given is not None else open_gateway(cfg)
        try:
            generated = start_gateway(gw, username, password, work)
            if generated:
                print(f"Created super user 'admin' with password: {generated}", flush=True)
            app.state.gateway = gw
            app.state.inline_operations = fast_path(cfg) and gw.storage.local_reads
            yield
        finally:
            stop_gateway(gw)

    max_body = int(cfg.get("http.max_body_size"))
    middleware = [Middleware(OperationsFastPath)] if fast_path(cfg) else []
    return Starlette(routes=build_routes(), lifespan=lifespan, max_body_size=max_body, middleware=middleware)
