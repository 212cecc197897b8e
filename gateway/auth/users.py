"""Users and roles in the system database, authentication of Basic credentials.

Users live in ``system.hdb_user`` (primary key ``username``), roles in
``system.hdb_role`` (primary key ``id``), as in HarperDB. Verified credentials
are cached (keyed by a hash of the password) so that the slow hash runs once per
user and password, not once per request; any change to users or roles clears
the cache. A change that takes a user's rights away (a new password, another
role, deactivation, a drop, a role's new permissions) also ends that user's
admin sessions at once, through the ``end_sessions`` callback given at install.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.passwords import hash_password, verify_password
from gateway.storage.ports import Storage
from gateway.storage.system import SystemTable

USER_TABLE = "hdb_user"
ROLE_TABLE = "hdb_role"
SUPER_USER_ROLE = "super_user"


@dataclass
class User:
    """An authenticated user with the role's permission object."""

    username: str
    active: bool
    role: dict[str, Any] = field(default_factory=dict)

    @property
    def permission(self) -> dict[str, Any]:
        perm = self.role.get("permission")
        return perm if isinstance(perm, dict) else {}

    @property
    def is_super_user(self) -> bool:
        return bool(self.permission.get("super_user"))


SYSTEM_USER = User("system", True, {"role": SUPER_USER_ROLE, "permission": {"super_user": True}})


class AuthFailure(Exception):
    """Credentials were not accepted; the message is HarperDB's."""


class NotCached(Exception):
    """Asked for cached credentials only, and these are not cached: checking them needs the slow hash."""


class InactiveUser(AuthFailure):
    """The password was right but the user is inactive (not a guess: throttles do not count it)."""


def _no_sessions(username: str) -> object:
    return None


class UserDirectory:
    """Reads and caches users and roles; verifies passwords."""

    def __init__(self, storage: Storage, end_sessions: Callable[[str], object] = _no_sessions) -> None:
        self._users = SystemTable(storage, USER_TABLE, "username")
        self._roles = SystemTable(storage, ROLE_TABLE, "id")
        self._end_sessions = end_sessions
        self._lock = threading.Lock()
        self._verified: dict[tuple[str, bytes], User] = {}

    def invalidate(self) -> None:
        """Forget cached credentials (after any user or role change)."""
        with self._lock:
            self._verified.clear()

    # -- lookups ------------------------------------------------------------

    def role_by_name(self, name: str) -> dict[str, Any] | None:
        for role in self._roles.scan():
            if role.get("role") == name or role.get("id") == name:
                return role
        return None

    def user_record(self, username: str) -> dict[str, Any] | None:
        return self._users.get(username)

    def load_user(self, username: str) -> User | None:
        """The user with its full role, or None."""
        record = self.user_record(username)
        if record is None:
            return None
        role = self._roles.get(record.get("role")) or {}
        return User(username=username, active=bool(record.get("active", True)), role=role)

    def count_users(self) -> int:
        return self._users.count()

    # -- authentication -----------------------------------------------------

    def authenticate(self, username: str, password: str, *, cached_only: bool = False) -> User:
        """The user for these credentials; raise AuthFailure otherwise (``cached_only``: NotCached
        rather than run the slow password hash)."""
        cache_key = (username, hashlib.sha256(password.encode("utf-8")).digest())
        with self._lock:
            cached = self._verified.get(cache_key)
        if cached is not None:
            return cached
        if cached_only:
            raise NotCached(username)
        record = self.user_record(username)
        if record is None or not verify_password(password, str(record.get("password", ""))):
            raise AuthFailure("Login failed")
        user = self.load_user(username)
        assert user is not None
        if not user.active:
            raise InactiveUser("Cannot complete request: User is inactive")
        with self._lock:
            self._verified[cache_key] = user
        return user

    # -- writes ---------------------------------------------------------------

    def add_role(self, name: str, permission: dict[str, Any], role_id: str | None = None) -> dict[str, Any]:
        record = {"id": role_id or str(uuid.uuid4()), "role": name, "permission": permission}
        self._roles.write([record], "insert")
        self.invalidate()
        return self._roles.get(record["id"]) or record

    def add_user(self, username: str, password: str, role_id: str, active: bool = True) -> None:
        record = {
            "username": username,
            "password": hash_password(password),
            "role": role_id,
            "active": active,
        }
        self._users.write([record], "insert")
        self.invalidate()

    def roles(self) -> list[dict[str, Any]]:
        """Every role record, in id order."""
        return list(self._roles.scan())

    def role(self, role_id: str) -> dict[str, Any] | None:
        """The role record with this id, or None."""
        return self._roles.get(role_id)

    def users(self) -> list[dict[str, Any]]:
        """Every user record (password hashes included: strip them before answering)."""
        return list(self._users.scan())

    def update_role(self, role_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Change ``role``/``permission`` of a role; the new record, or None if it does not exist.

        New permissions end the sessions of every user with this role.
        """
        before = self.role(role_id)
        result = self._roles.write([{"id": role_id, **changes}], "update")
        self.invalidate()
        if (
            before is not None
            and "permission" in changes
            and changes["permission"] != before.get("permission")
        ):
            for user in self.users():
                if user.get("role") == role_id:
                    self._end_sessions(str(user["username"]))
        return self.role(role_id) if result.written else None

    def delete_role(self, role_id: str) -> bool:
        result = self._roles.delete([role_id])
        self.invalidate()
        return bool(result.written)

    def update_user(self, username: str, changes: dict[str, Any]) -> bool:
        """Change ``password`` (hashed here), ``role`` or ``active``; False if the user does not exist.

        A new password, another role or deactivation ends the user's sessions.
        """
        before = self.user_record(username)
        record = {"username": username, **changes}
        if "password" in record:
            record["password"] = hash_password(str(record["password"]))
        result = self._users.write([record], "update")
        self.invalidate()
        if before is not None and _ends_sessions(before, changes):
            self._end_sessions(username)
        return bool(result.written)

    def delete_user(self, username: str) -> bool:
        """Drop a user and end their sessions; False if there was no such user."""
        result = self._users.delete([username])
        self.invalidate()
        self._end_sessions(username)
        return bool(result.written)

    def bootstrap(self, username: str | None, password: str | None) -> str | None:
        """On first start with no users: create the super user.

        Returns the generated password when one had to be generated (to print once).
        """
        if self.count_users() > 0:
            return None
        role = self.role_by_name(SUPER_USER_ROLE) or self.add_role(
            SUPER_USER_ROLE, {"super_user": True}, role_id=SUPER_USER_ROLE
        )
        generated = None
        if not password:
            generated = password = secrets.token_urlsafe(18)
        self.add_user(username or "admin", password, role["id"])
        return generated


def _ends_sessions(before: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Whether a user change takes rights away: a new password, another role, deactivation."""
    return (
        "password" in changes
        or ("role" in changes and changes["role"] != before.get("role"))
        or changes.get("active") is False
    )
