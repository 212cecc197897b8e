"""Server-side admin sessions in ``system.hdb_admin_session``.

A login creates a record here and a random session id that only the (signed)
cookie carries; the record's key is the SHA-256 of that id, so the stored table
never holds a usable id. A session is valid while its record exists and has not
expired: logout deletes it, and the user directory ends every session of a user
whose password, role or active flag changes, or who is dropped. Because the
records live in storage, every gateway process on the same database sees the
same sessions.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SystemTable

SESSION_TABLE = "hdb_admin_session"
_ATTRIBUTES = (
    AttributeInfo("id", True, "String"),
    AttributeInfo("username", True, "String"),
    AttributeInfo("expires", True, "Float"),
    AttributeInfo("created", False, "Float"),
    AttributeInfo("fingerprint", False, "String"),
)


def _record_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    """One live admin session: who, their password fingerprint at login, when it ends (epoch s)."""

    username: str
    fingerprint: str
    expires: float


class SessionStore:
    """Creates, finds and ends admin sessions."""

    def __init__(self, storage: Storage, max_age: float, clock: Callable[[], float] = time.time) -> None:
        self._table = SystemTable(storage, SESSION_TABLE, "id", _ATTRIBUTES)
        self.max_age = float(max_age)
        self._clock = clock

    def start(self, username: str, fingerprint: str) -> str:
        """A new session for ``username``; its id (for the cookie only). Expired records are removed."""
        self.purge_expired()
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        record = {
            "id": _record_id(session_id),
            "username": username,
            "fingerprint": fingerprint,
            "created": now,
            "expires": now + self.max_age,
        }
        self._table.write([record], "insert")
        return session_id

    def lookup(self, session_id: str) -> SessionRecord | None:
        """The live session with this id, or None (unknown, ended or expired)."""
        record = self._table.get(_record_id(session_id))
        if record is None:
            return None
        expires = record.get("expires")
        if not isinstance(expires, int | float) or expires <= self._clock():
            return None
        return SessionRecord(str(record.get("username")), str(record.get("fingerprint")), float(expires))

    def end(self, session_id: str) -> None:
        """End one session (logout); nothing happens if it has already ended."""
        self._table.delete([_record_id(session_id)])

    def end_user(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        keys = self._table.keys("username", KeyRange(username, True))
        return len(self._table.delete(keys).written) if keys else 0

    def purge_expired(self) -> int:
        """Remove the records of sessions that have expired; how many."""
        keys = self._table.keys("expires", KeyRange(upper=self._clock(), upper_inclusive=True))
        return len(self._table.delete(keys).written) if keys else 0

    def count(self) -> int:
        """How many session records are stored (live or not yet purged)."""
        return self._table.count()
