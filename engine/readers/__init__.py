"""Reader registry (spec §3): ``read`` name → reader factory.

Validation accepts exactly the registered names. Built in: ``json``, ``jsonl``,
``tsv-with-name-row``, ``csv``, ``xml-text-of-children`` and ``xml-attributes``.
See :mod:`engine.readers.base` for the two-pass reading scheme.
"""

from __future__ import annotations

from engine.readers.base import Reader, ReaderFactory
from engine.readers.json_readers import JsonLinesReader, JsonReader
from engine.readers.text_readers import CsvReader, TsvReader
from engine.readers.xml_readers import XmlAttributesReader, XmlTextOfChildrenReader

READERS: dict[str, ReaderFactory] = {
    "json": JsonReader,
    "jsonl": JsonLinesReader,
    "tsv-with-name-row": TsvReader,
    "csv": CsvReader,
    "xml-text-of-children": XmlTextOfChildrenReader,
    "xml-attributes": XmlAttributesReader,
}
"""Registered readers by name."""

__all__ = ["READERS", "Reader", "ReaderFactory"]
