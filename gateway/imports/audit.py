"""Audit entries of the import family (API key events, batch start/end) via ``gateway.audit``."""

from __future__ import annotations

import logging
from typing import Any

from gateway.audit import record_audit
from gateway.storage.records import RecordStore

log = logging.getLogger("gateway.imports")


def record(store: RecordStore, entry_type: str, data: dict[str, Any]) -> None:
    """Write one audit entry; a failure to audit is logged, never raised into the caller."""
    try:
        record_audit(store, entry_type, data)
    except Exception:
        log.exception("could not write audit entry %s", entry_type)
