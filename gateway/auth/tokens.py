"""JWT operation and refresh tokens (RS256, PyJWT), as HarperDB issues them.

The RSA key pair is generated on first use and kept under ``<root>/keys``.
"""

from __future__ import annotations

import time
from pathlib import Path
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

    def __init__(self, key_dir: Path, operation_ttl: int, refresh_ttl: int) -> None:
        self.operation_ttl = operation_ttl
        self.refresh_ttl = refresh_ttl
        key_dir.mkdir(parents=True, exist_ok=True)
        private_path = key_dir / "jwt-private.pem"
        if not private_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = private_path.with_suffix(".tmp")
            tmp.write_bytes(pem)
            tmp.chmod(0o600)
            tmp.replace(private_path)
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
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
