"""Signed session cookies and CSRF tokens for the admin pages.

The cookie is a small JSON payload signed with HMAC-SHA256 under a random
secret shared by every process on the store (``gateway.auth.secret_store``). It carries a per-session CSRF
token that every state-changing form echoes back, a one-time flash notice, the
issue time and, once logged in, the user name and the id of a server-side
session (:mod:`gateway.auth.session_store`). The cookie alone never logs anyone
in: the session it names must still exist in storage, so logout, a password
change, a role change, deactivation or dropping the user end it at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

COOKIE_NAME = "gateway_admin"
COOKIE_PATH = "/admin"
SESSION_MAX_AGE = 12 * 3600


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Session:
    """The decoded contents of the session cookie."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    username: str | None = None
    session_id: str | None = None
    issued: float = field(default_factory=time.time)
    flash: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"c": self.csrf, "u": self.username, "s": self.session_id, "t": self.issued, "f": self.flash}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Session:
        return cls(
            csrf=str(data["c"]),
            username=data.get("u") if isinstance(data.get("u"), str) else None,
            session_id=data.get("s") if isinstance(data.get("s"), str) else None,
            issued=float(data["t"]),
            flash=data.get("f") if isinstance(data.get("f"), str) else None,
        )

    def csrf_ok(self, token: object) -> bool:
        """Whether a submitted form token matches this session's token."""
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.csrf.encode())


def password_fingerprint(password_hash: str) -> str:
    """A short digest of a stored password hash: a session ends when it changes."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


class SessionSigner:
    """Encodes and verifies session cookies with the server's secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _sign(self, body: str) -> str:
        return _b64encode(hmac.new(self.secret, body.encode("ascii"), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        """The cookie value for a session."""
        body = _b64encode(json.dumps(session.to_payload(), separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._sign(body)}"

    def loads(self, value: str | None, max_age: float = SESSION_MAX_AGE) -> Session | None:
        """The session in a cookie value, or None if it is missing, forged, malformed or expired."""
        if not value or not value.isascii() or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        if not hmac.compare_digest(signature.encode("ascii"), self._sign(body).encode("ascii")):
            return None
        try:
            data = json.loads(_b64decode(body))
            session = Session.from_payload(data)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not 0 <= time.time() - session.issued <= max_age:
            return None
        return session
