"""The OpenAPI description of ``/api/push-data/{url}`` (haplo-import.md §1.8)."""

from __future__ import annotations

from typing import Any

from gateway.http.push_data import ONLY_POST
from gateway.pushdata.definitions import PATH_PREFIX

Schema = dict[str, Any]
PUSH_PATH = PATH_PREFIX + "{url}"
COUNT: Schema = {"type": "integer", "minimum": 0}
CHANGED: Schema = {
    "type": "object",
    "properties": {
        "kind": {"const": "object:save"},
        "destination": {"type": "string"},
        "ref": {"$ref": "#/components/schemas/JsonValue"},
        "new": {"type": "boolean"},
    },
    "required": ["kind", "destination", "ref", "new"],
}


def push_answer(*results: str) -> Schema:
    """The JSON answer with ``result`` one of ``results`` (the XML form holds the same)."""
    return {
        "type": "object",
        "properties": {
            "result": {"type": "string", "enum": list(results)},
            "applied": COUNT,
            "failures": COUNT,
            "errorCount": COUNT,
            "errors": {"type": "array", "items": {"type": "string"}},
            "actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "record": {"type": "string", "pattern": "^record [0-9]+$"},
                        "changed": {"type": "array", "items": CHANGED},
                    },
                    "required": ["record", "changed"],
                },
            },
        },
        "required": ["result", "applied", "failures", "errorCount", "errors", "actions"],
    }


def _answer(description: str, *results: str) -> Schema:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": push_answer(*results)},
            "application/xml": {"schema": {"type": "string"}},
        },
    }


URL_PARAMETER: Schema = {
    "name": "url",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "The API's url (`add_push_data_api`); an unknown one is 400 `API not defined: <url>`.",
}
XML_FORM = (
    "JSON is pretty-printed with 4 spaces; the XML form is a `<response result applied failures errorCount>` "
    "element holding `<errors><error>…</error></errors>` and `<actions><record identifier><changed kind "
    "destination ref new/></record></actions>`."
)

PUSH_DOCS: dict[tuple[str, str], Schema] = {
    (PUSH_PATH, "post"): {
        "summary": "Run a push-data API's control file over the request body (one input file, `body`).",
        "description": "Checks, in order: the url is defined (else 400 `API not defined: <url>`); the key, as "
        "HTTP Basic `haplo:<key>`, is the API's own (else 403, result `not authorised`); the API is enabled "
        "(else 400 `API is disabled: <url>`); the body fits `push_data.max_body_size` (else 413). Then each "
        "complete record is committed at once (`applied`), an incomplete one counts in `failures` (result "
        "`failure`), an exception ends the run (result `error`, `Exception when processing: <message>`). "
        "Pushes to one model database run one at a time in a process. 200 only for `success`. "
        + XML_FORM
        + f" A GET is 400 `{ONLY_POST}`",
        "tags": ["push-data API"],
        "security": [{"haploKey": []}],
        "parameters": [URL_PARAMETER],
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/JsonValue"}},
                "text/plain": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": _answer("Every record was committed.", "success"),
            "400": _answer("Unknown or disabled API, a failed record, or an exception.", "error", "failure"),
            "403": _answer("No key, a wrong key, or another API's key.", "not authorised"),
            "413": _answer("The body is larger than `push_data.max_body_size`.", "error"),
            "503": _answer("The store cannot be reached.", "error"),
        },
    },
}
