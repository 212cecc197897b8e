"""All operations of ``POST /``; importing this package registers every family."""

from gateway.operations import (  # noqa: F401  (imported for their @operation registrations)
    analytics,
    backup,
    bulk,
    cluster,
    configuration,
    imports,
    jobs,
    push_data,
    records,
    restart,
    search,
    sql,
    status,
    system,
    tables,
    tokens,
    txlog,
    users,
)
from gateway.operations.registry import OPERATIONS

__all__ = ["OPERATIONS"]
