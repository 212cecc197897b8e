"""A push's answer as Haplo writes it (haplo-import.md §1.8): JSON with a 4-space indent, or XML.

JSON: ``{"result","applied","failures","errorCount","errors":[…],"actions":[…]}``. XML: a
``<response>`` element with ``result``, ``applied``, ``failures`` and ``errorCount`` as
attributes, holding ``<errors><error>…</error></errors>`` and
``<actions><record identifier="…"><changed kind=… destination=… ref=… new=…/></record></actions>``.
Status: 200 for ``success``, 403 for ``not authorised``, 400 otherwise.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from gateway.pushdata.push import PushAnswer

NOT_AUTHORISED = "not authorised"


def status(answer: PushAnswer) -> int:
    """The HTTP status of an answer."""
    if answer.result == "success":
        return 200
    return 403 if answer.result == NOT_AUTHORISED else 400


def as_dict(answer: PushAnswer) -> dict[str, Any]:
    """The answer's fields in Haplo's order."""
    return {
        "result": answer.result,
        "applied": answer.applied,
        "failures": answer.failures,
        "errorCount": answer.count,
        "errors": answer.errors,
        "actions": answer.actions,
    }


def to_json(answer: PushAnswer) -> bytes:
    """Pretty-printed JSON, 4 spaces."""
    return json.dumps(as_dict(answer), indent=4, ensure_ascii=False).encode("utf-8")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def to_xml(answer: PushAnswer) -> bytes:
    """The ``<response>`` document."""
    root = ElementTree.Element(
        "response",
        {
            "result": answer.result,
            "applied": str(answer.applied),
            "failures": str(answer.failures),
            "errorCount": str(answer.count),
        },
    )
    errors = ElementTree.SubElement(root, "errors")
    for message in answer.errors:
        ElementTree.SubElement(errors, "error").text = message
    actions = ElementTree.SubElement(root, "actions")
    for action in answer.actions:
        record = ElementTree.SubElement(actions, "record", {"identifier": str(action["record"])})
        for change in action["changed"]:
            ElementTree.SubElement(record, "changed", {k: _text(v) for k, v in change.items()})
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def render(answer: PushAnswer, response: str) -> tuple[bytes, str]:
    """The body and media type of ``answer`` in the format ``response`` (JSON or XML)."""
    if response == "XML":
        return to_xml(answer), "application/xml"
    return to_json(answer), "application/json"
