"""The auth family: users and roles, passwords, JWT tokens, API keys, admin sessions.

``install`` builds :class:`Auth`, whose :meth:`Auth.authenticate` turns an
``Authorization`` header (Basic or Bearer) into a user or HarperDB's 401.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit import AuditLog
from gateway.auth.api_keys import SECRET_FILE, ApiKeyService
from gateway.auth.basic import basic_credentials
from gateway.auth.sessions import SessionSigner
from gateway.auth.tokens import OPERATION, InvalidToken, TokenIssuer
from gateway.auth.users import AuthFailure, User, UserDirectory
from gateway.config import Config
from gateway.errors import OperationError
from gateway.storage.ports import Storage

__all__ = ["Auth", "install"]


@dataclass
class Auth:
    """Who may do what in this process."""

    users: UserDirectory
    tokens: TokenIssuer
    api_keys: ApiKeyService
    sessions: SessionSigner

    def authenticate(self, header: str | None) -> User:
        """The user behind an Authorization header (Basic or Bearer operation token), or a 401."""
        if not header:
            raise OperationError("Must login", 401)
        scheme = header.partition(" ")[0].lower()
        if scheme == "basic":
            credentials = basic_credentials(header)
            if credentials is None:
                raise OperationError("Login failed", 401)
            try:
                return self.users.authenticate(*credentials)
            except AuthFailure as exc:
                raise OperationError(str(exc), 401) from exc
        if scheme == "bearer":
            try:
                username = self.tokens.verify(header.partition(" ")[2].strip(), OPERATION)
            except InvalidToken as exc:
                raise OperationError("invalid token", 401) from exc
            return self.active_user(username)
        raise OperationError("Login failed", 401)

    def active_user(self, username: str) -> User:
        """The user a valid token names, if it still exists and is active (401 otherwise)."""
        user = self.users.load_user(username)
        if user is None:
            raise OperationError("invalid token", 401)
        if not user.active:
            raise OperationError("Cannot complete request: User is inactive", 401)
        return user


def install(config: Config, storage: Storage, audit: AuditLog) -> Auth:
    """Users, token keys, API keys and the admin session secret (keys under ``<root>/keys``)."""
    keys = config.root / "keys"
    return Auth(
        users=UserDirectory(storage),
        tokens=TokenIssuer(
            keys,
            int(config.get("authentication.operation_token_timeout")),
            int(config.get("authentication.refresh_token_timeout")),
        ),
        api_keys=ApiKeyService(
            storage,
            audit,
            keys / SECRET_FILE,
            max_failures=int(config.get("authentication.api_key_max_failures")),
            failure_window=float(config.get("authentication.api_key_failure_window")),
        ),
        sessions=SessionSigner(keys),
    )
