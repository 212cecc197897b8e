"""Limits of a ``POST /`` body: how deep it nests.

Checked once the body has parsed (``operations_endpoint.parse_body``), before any
operation sees it, and refused with a HarperDB-style 400 ``{"error": ...}``: at most
:data:`MAX_BODY_DEPTH` levels of arrays and objects (the body itself is level 1, a
record of ``records`` level 3). The store encodes a record of at most 254 levels
(orjson's limit) and answers wrap records in one more array, so the limit is
comfortably below what can be stored and answered. The check is one
``orjson.dumps`` of the parsed body (under a sixth of the parse).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from gateway.errors import OperationError

MAX_BODY_DEPTH: Final = 128
"""The most levels of arrays and objects a request body may nest (the body is level 1)."""
TOO_DEEP: Final = f"Request body nests arrays and objects more than {MAX_BODY_DEPTH} levels deep"
_ENCODER_DEPTH = 254  # the deepest value orjson.dumps writes
_WRAPPING = _ENCODER_DEPTH - MAX_BODY_DEPTH


def check_body(raw: bytes, body: Any) -> None:
    """OperationError (400) when the parsed ``body`` nests too deeply."""
    check_depth(body)


def check_depth(body: Any) -> None:
    """400 :data:`TOO_DEEP` when ``body`` nests more than :data:`MAX_BODY_DEPTH` levels."""
    wrapped = body
    for _ in range(_WRAPPING):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError as exc:  # a parsed body is always writable, but for its depth
        if "Recursion limit" in str(exc):
            raise OperationError(TOO_DEEP) from None
