"""The server's secrets, shared by every process on the store: ``system.hdb_secret``.

Three secrets sign what the gateway hands out: the JWT key pair (operation and
refresh tokens), the HMAC secret that API keys are hashed under, and the admin
session cookies' HMAC secret. They live in the hidden ``system`` database (which no
operation can name, and which describe_* never lists), so every ``gateway serve``
and ``gateway worker`` on one PostgreSQL database uses the same ones: a token, API
key or session cookie issued by one process is accepted by all the others.

A secret is created the first time a process needs it, race-free: a process
inserts its candidate only if no secret of that name is stored, then reads back
whatever was stored first (so two processes starting at once on an empty database
agree). Earlier versions kept the secrets in files under ``<root>/keys/``; at start
those files are imported once (their value becomes the stored one when none is
stored yet, so existing tokens and keys stay valid) and then removed.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.storage.ports import Storage
from gateway.storage.system import SystemTable
from gateway.timestamps import iso_now

SECRET_TABLE = "hdb_secret"
JWT_PRIVATE_KEY = "jwt_private_key"
API_KEY_SECRET = "api_key_secret"
SESSION_SECRET = "admin_session_secret"
MIN_SECRET_LENGTH = 32

log = logging.getLogger("gateway.auth.secrets")


class SecretStore(Protocol):
    """Named text secrets, each created once for the whole store."""

    def obtain(self, name: str, create: Callable[[], str]) -> str:
        """The stored secret ``name``; if there is none, ``create()``'s value is stored first,
        unless another process stores one at the same time (then that one is answered)."""
        ...


class SystemSecretStore:
    """:class:`SecretStore` on ``system.hdb_secret`` (records ``{id, value, created}``)."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(storage, SECRET_TABLE, "id")

    def obtain(self, name: str, create: Callable[[], str]) -> str:
        stored = self._table.get(name)
        if stored is None:
            # insert skips a key another process stored first; then read back the winner
            self._table.write([{"id": name, "value": create(), "created": iso_now()}], "insert")
            stored = self._table.get(name)
        if stored is None or not isinstance(stored.get("value"), str):
            raise RuntimeError(f"the secret {name!r} could not be stored in system.{SECRET_TABLE}")
        return str(stored["value"])


def new_rsa_pem() -> str:
    """A new 2048-bit RSA private key, PEM (PKCS#8, unencrypted)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def new_hex_secret() -> str:
    """32 random bytes as 64 hexadecimal digits."""
    return secrets.token_bytes(32).hex()


# The files earlier versions kept under <root>/keys/, and how each becomes the stored text.
_KEY_FILES: dict[str, tuple[str, Callable[[bytes], str]]] = {
    JWT_PRIVATE_KEY: ("jwt-private.pem", lambda data: data.decode("ascii")),
    API_KEY_SECRET: ("api-key-secret", lambda data: data.strip().decode("ascii")),
    SESSION_SECRET: ("admin-session.key", lambda data: data.hex()),
}


class ServerSecrets:
    """The three secrets, typed for their users, read once from a :class:`SecretStore`."""

    def __init__(self, store: SecretStore, legacy_dir: Path | None = None) -> None:
        if legacy_dir is not None:
            import_key_files(store, legacy_dir)
        self.jwt_private_pem = store.obtain(JWT_PRIVATE_KEY, new_rsa_pem).encode("ascii")
        self.api_key_secret = _long_enough(
            API_KEY_SECRET, store.obtain(API_KEY_SECRET, new_hex_secret).encode()
        )
        self.session_secret = _long_enough(
            SESSION_SECRET, bytes.fromhex(store.obtain(SESSION_SECRET, new_hex_secret))
        )


def _long_enough(name: str, value: bytes) -> bytes:
    if len(value) < MIN_SECRET_LENGTH:
        raise RuntimeError(f"the secret {name!r} in system.{SECRET_TABLE} is too short")
    return value


def _given(text: str) -> Callable[[], str]:
    return lambda: text


def import_key_files(store: SecretStore, directory: Path) -> int:
    """Import the secrets an earlier version kept in ``directory`` (``<root>/keys``); how many.

    A file whose value is now the stored one is removed (and the directory once empty). A
    file that differs from a secret already stored (another process's) is left, with a warning.
    """
    imported = 0
    for name, (file_name, as_text) in _KEY_FILES.items():
        path = directory / file_name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        try:
            text = as_text(data)
        except ValueError:  # UnicodeDecodeError included
            text = ""
        if len(text) < MIN_SECRET_LENGTH:
            log.warning("%s is not a usable secret (too short or not text); it was not imported", path)
            continue
        if store.obtain(name, _given(text)) == text:
            path.unlink()
            imported += 1
            log.info("the secret in %s was moved into system.%s", path, SECRET_TABLE)
        else:
            log.warning("%s differs from the secret already stored; it is no longer used", path)
    with contextlib.suppress(OSError):
        directory.rmdir()  # only once empty
    return imported


def open_secrets(storage: Storage, legacy_dir: Path | None = None) -> ServerSecrets:
    """The store's secrets (created on first use), after importing ``legacy_dir``'s files."""
    return ServerSecrets(SystemSecretStore(storage), legacy_dir)
