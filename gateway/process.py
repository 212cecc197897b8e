"""The per-process gateway object: configuration, storage and each family, typed.

The app factory (``gateway.app``) builds it with every family's ``install()``;
the HTTP layer, the operation handlers and the admin pages read it. Families
below it never see it: each gets what it needs when it is installed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from gateway.audit import AuditLog
from gateway.auth import Auth
from gateway.bulk import Bulk
from gateway.cluster import Cluster
from gateway.config import Config
from gateway.imports import Imports
from gateway.jobs import Jobs
from gateway.metrics import Metrics
from gateway.pushdata import PushData
from gateway.restart import RestartControl
from gateway.status import StatusValues
from gateway.storage.ports import Storage


@dataclass
class Gateway:
    """Everything one process owns."""

    config: Config
    storage: Storage
    audit: AuditLog
    auth: Auth
    jobs: Jobs
    bulk: Bulk
    imports: Imports
    cluster: Cluster
    metrics: Metrics
    push_data: PushData
    stopping: threading.Event
    started: float = field(default_factory=time.time)
    status: StatusValues = field(default_factory=StatusValues)
    """The operator's status values (set_status); ``availability: Unavailable`` fails /ready."""
    restart: RestartControl = field(default_factory=RestartControl)
    """``restart``/``restart_service`` ask through it; ``gateway serve`` attaches the server's stop."""
