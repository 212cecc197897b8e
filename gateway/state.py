"""The per-process gateway object that the lifespan builds and handlers share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.audit import AuditLog
    from gateway.auth.tokens import TokenIssuer
    from gateway.auth.users import UserDirectory
    from gateway.config import Config
    from gateway.jobs import JobRunner
    from gateway.storage.ports import Storage


@dataclass
class Gateway:
    """Everything one process owns: configuration, store, scheduler, directories."""

    config: Config
    storage: Storage
    audit: AuditLog
    users: UserDirectory
    tokens: TokenIssuer
    jobs: JobRunner
    started: float = field(default_factory=time.time)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Family-specific services (blob store, batch service, …) register here.
    services: dict[str, Any] = field(default_factory=dict)
