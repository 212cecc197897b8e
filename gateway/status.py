"""Status values (``set_status``/``get_status``/``clear_status``): a few named strings an operator
sets for other systems to read, kept in this process's memory only (HarperDB does not persist them
across restarts either). ``availability: Unavailable`` takes the process out of rotation: ``/ready``
answers 503 while it is set.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

STATUS_IDS = ("primary", "maintenance", "availability")
"""The ids a status may have; ``primary`` when none is given."""
DEFAULT_STATUS_ID = "primary"
AVAILABILITY = "availability"
AVAILABILITY_VALUES = ("Available", "Unavailable")
MAX_STATUS_LENGTH = 512


class StatusValueError(ValueError):
    """A status id or value the rules refuse (the message names the rule)."""


@dataclass
class StatusValues:
    """The process's status values, as HarperDB answers them (with created/updated times in ms)."""

    _values: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, status_id: str, status: str) -> dict[str, Any]:
        """Set (or replace) a value; the stored entry. StatusValueError names what is wrong."""
        check_status(status_id, status)
        now = int(time.time() * 1000)
        with self._lock:
            created = self._values.get(status_id, {}).get("__createdtime__", now)
            entry = {"id": status_id, "status": status, "__createdtime__": created, "__updatedtime__": now}
            self._values[status_id] = entry
            return dict(entry)

    def get(self, status_id: str) -> dict[str, Any] | None:
        """The entry of ``status_id``, or None when it is not set."""
        with self._lock:
            entry = self._values.get(status_id)
            return dict(entry) if entry is not None else None

    def all(self) -> list[dict[str, Any]]:
        """Every entry set, in the order of :data:`STATUS_IDS`."""
        with self._lock:
            return [dict(self._values[i]) for i in STATUS_IDS if i in self._values]

    def clear(self, status_id: str) -> None:
        """Remove the entry (nothing happens when it is not set)."""
        with self._lock:
            self._values.pop(status_id, None)

    @property
    def unavailable(self) -> bool:
        """Whether an operator marked this process ``Unavailable``."""
        entry = self.get(AVAILABILITY)
        return entry is not None and entry["status"] == "Unavailable"


def check_status_id(status_id: object) -> str:
    """The id if it is one of :data:`STATUS_IDS`, else StatusValueError."""
    if status_id not in STATUS_IDS:
        raise StatusValueError(f"'id' must be one of {', '.join(STATUS_IDS)}")
    return str(status_id)


def check_status(status_id: str, status: object) -> None:
    """StatusValueError unless ``status`` is a value ``status_id`` may take."""
    check_status_id(status_id)
    if not isinstance(status, str) or not 1 <= len(status) <= MAX_STATUS_LENGTH:
        raise StatusValueError(f"'status' must be a string of 1 to {MAX_STATUS_LENGTH} characters")
    if status_id == AVAILABILITY and status not in AVAILABILITY_VALUES:
        raise StatusValueError(f"the status of 'availability' must be {' or '.join(AVAILABILITY_VALUES)}")
