"""HTTP Basic credentials: the one decoder of ``Authorization: Basic …`` headers."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of a Basic header; None when the header is absent, of another scheme,
    not base64, not UTF-8 or without a ``:``."""
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
