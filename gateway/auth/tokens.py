"""JWT operation and refresh tokens (RS256, PyJWT), as HarperDB issues them.

The RSA key pair is the store's (``gateway.auth.secret_store``): every process on one
store signs and accepts the same tokens.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

OPERATION = "operation"
REFRESH = "refresh"


class InvalidToken(Exception):
    """The token is malformed, expired, forged or of the wrong kind."""


class TokenIssuer:
    """Signs and verifies tokens with the server's key pair."""

    def __init__(self, private_pem: bytes, operation_ttl: int, refresh_ttl: int) -> None:
        self.operation_ttl = operation_ttl
        self.refresh_ttl = refresh_ttl
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        self._private = private_key
        self._public = private_key.public_key()

    def issue(self, username: str, super_user: bool, kind: str) -> str:
        """A signed token of ``kind`` (operation or refresh) for ``username``."""
        now = int(time.time())
        ttl = self.operation_ttl if kind == OPERATION else self.refresh_ttl
        payload: dict[str, Any] = {
            "username": username,
            "super_user": super_user,
            "cluster_user": False,
            "iat": now,
            "exp": now + ttl,
            "sub": kind,
        }
        return jwt.encode(payload, self._private, algorithm="RS256")

    def verify(self, token: str, kind: str) -> str:
        """The username in a valid token of ``kind``; raise InvalidToken otherwise."""
        try:
            payload = jwt.decode(token, self._public, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if payload.get("sub") != kind or not isinstance(payload.get("username"), str):
            raise InvalidToken("invalid token")
        return str(payload["username"])
