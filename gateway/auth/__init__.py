"""The auth family: users and roles, passwords, JWT tokens, API keys, admin sessions, throttles.

``install`` builds :class:`Auth`, whose :meth:`Auth.authenticate` turns an
``Authorization`` header (Basic or Bearer) into a user or HarperDB's 401, and
whose :meth:`Auth.check_password` is the one check of a user name and password
(Basic auth, ``create_authentication_tokens``, the admin login), throttled per
user and client address (429 with ``Retry-After``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit import AuditLog
from gateway.auth.api_keys import ApiKeyService
from gateway.auth.basic import basic_credentials
from gateway.auth.login_throttle import PasswordThrottle
from gateway.auth.secret_store import open_secrets
from gateway.auth.session_store import SessionStore
from gateway.auth.sessions import SESSION_MAX_AGE, SessionSigner, password_fingerprint
from gateway.auth.tokens import OPERATION, InvalidToken, TokenIssuer
from gateway.auth.users import AuthFailure, InactiveUser, User, UserDirectory
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
    session_store: SessionStore
    password_throttle: PasswordThrottle

    def check_password(
        self, username: str, password: str, client_ip: str, *, cached_only: bool = False
    ) -> User:
        """The user for these credentials, or AuthFailure; LoginThrottled (429) while this user
        is locked out from this address (the password is then not checked at all). ``cached_only``:
        NotCached where checking the password would need the slow hash."""
        self.password_throttle.check(username, client_ip)
        try:
            user = self.users.authenticate(username, password, cached_only=cached_only)
        except InactiveUser:
            raise
        except AuthFailure:
            self.password_throttle.failed(username, client_ip)
            raise
        self.password_throttle.succeeded(username, client_ip)
        return user

    def authenticate(self, header: str | None, client_ip: str, *, cached_only: bool = False) -> User:
        """The user behind an Authorization header (Basic or Bearer operation token), or a 401
        (429 for Basic credentials while they are throttled from ``client_ip``). ``cached_only``:
        NotCached rather than check a password whose check is not cached (the slow hash)."""
        if not header:
            raise OperationError("Must login", 401)
        scheme = header.partition(" ")[0].lower()
        if scheme == "basic":
            credentials = basic_credentials(header)
            if credentials is None:
                raise OperationError("Login failed", 401)
            try:
                return self.check_password(*credentials, client_ip, cached_only=cached_only)
            except AuthFailure as exc:
                raise OperationError(str(exc), 401) from exc
        if scheme == "bearer":
            try:
                username = self.tokens.verify(header.partition(" ")[2].strip(), OPERATION)
            except InvalidToken as exc:
                raise OperationError("invalid token", 401) from exc
            return self.active_user(username)
        raise OperationError("Login failed", 401)

    def start_session(self, username: str) -> str:
        """A new admin session for a user who has just logged in; its id, for the cookie only."""
        record = self.users.user_record(username) or {}
        return self.session_store.start(username, password_fingerprint(str(record.get("password", ""))))

    def session_user(self, session_id: str) -> User | None:
        """The active user of a live admin session, or None.

        None when the session has ended or expired, or the user is gone, inactive or
        has a password other than at login (even one written around the directory).
        """
        live = self.session_store.lookup(session_id)
        if live is None:
            return None
        record = self.users.user_record(live.username)
        if record is None or live.fingerprint != password_fingerprint(str(record.get("password", ""))):
            return None
        user = self.users.load_user(live.username)
        return user if user is not None and user.active else None

    def end_session(self, session_id: str) -> None:
        """Log out: the session ends at once, for every process on this database."""
        self.session_store.end(session_id)

    def active_user(self, username: str) -> User:
        """The user a valid token names, if it still exists and is active (401 otherwise)."""
        user = self.users.load_user(username)
        if user is None:
            raise OperationError("invalid token", 401)
        if not user.active:
            raise OperationError("Cannot complete request: User is inactive", 401)
        return user


def install(config: Config, storage: Storage, audit: AuditLog) -> Auth:
    """Users, token keys, API keys, admin sessions (secrets in ``system.hdb_secret``, files an
    earlier version kept under ``<root>/keys`` imported first), throttles."""
    secrets = open_secrets(storage, config.root / "keys")
    session_store = SessionStore(storage, SESSION_MAX_AGE)
    return Auth(
        users=UserDirectory(storage, end_sessions=session_store.end_user),
        tokens=TokenIssuer(
            secrets.jwt_private_pem,
            int(config.get("authentication.operation_token_timeout")),
            int(config.get("authentication.refresh_token_timeout")),
        ),
        api_keys=ApiKeyService(
            storage,
            audit,
            secrets.api_key_secret,
            max_failures=int(config.get("authentication.api_key_max_failures")),
            failure_window=float(config.get("authentication.api_key_failure_window")),
        ),
        sessions=SessionSigner(secrets.session_secret),
        session_store=session_store,
        password_throttle=PasswordThrottle(
            max_failures=int(config.get("authentication.password_max_failures")),
            window=float(config.get("authentication.password_failure_window")),
            user_max_failures=int(config.get("authentication.password_user_max_failures")),
        ),
    )
