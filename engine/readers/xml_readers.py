"""XML readers (spec §3.2, §3.3): ``xml-text-of-children`` and ``xml-attributes``.

The bytes go to a defused expat SAX parser, so the XML declaration's charset is
honoured and entity declarations and external references are refused (a batch
error). Namespace processing is off, so attribute names are the qualified names as
written; child element names are reduced to their local part. The records are the
children of the root element (always the root element, §11 #15), or with
``singleRecord`` the root element itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from xml.sax import SAXException
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import AttributesImpl

import defusedxml.sax
from defusedxml import DefusedXmlException

from engine.errors import BatchError
from engine.jsvalues import js_truthy
from engine.ports import BatchFile
from engine.readers.base import CHUNK_SIZE, TwoPassReader


class _RecordHandler(ContentHandler):
    """Collects finished records in ``out``; ``text`` mode reads child text, otherwise attributes."""

    def __init__(self, text: bool, single: bool) -> None:
        super().__init__()
        self.text_mode = text
        self.record_depth = 1 if single else 2
        self.depth = 0
        self.out: list[dict[str, str]] = []
        self.current: dict[str, str] | None = None
        self.field: str | None = None
        self.parts: list[str] = []

    def startElement(self, name: str, attrs: AttributesImpl) -> None:  # noqa: N802 (SAX API)
        self.depth += 1
        if self.depth == self.record_depth:
            self.current = {} if self.text_mode else dict(attrs.items())
        elif self.depth == self.record_depth + 1 and self.text_mode:
            self.field = name.rpartition(":")[2]
            self.parts = []

    def characters(self, content: str) -> None:
        if self.field is not None:
            self.parts.append(content)

    def endElement(self, name: str) -> None:  # noqa: N802 (SAX API)
        if self.depth == self.record_depth + 1 and self.field is not None:
            assert self.current is not None
            self.current[self.field] = "".join(self.parts)
            self.field = None
        elif self.depth == self.record_depth and self.current is not None:
            self.out.append(self.current)
            self.current = None
        self.depth -= 1


class _XmlReader(TwoPassReader):
    """The records pass parses as the check does, so a checked file needs no hints."""

    text_mode = True

    def __init__(self, file: BatchFile, spec: Mapping[str, Any]) -> None:
        super().__init__(file, spec)
        self.single = js_truthy(spec.get("singleRecord"))

    def parse(self, first_pass: bool) -> Iterator[list[Any]]:
        handler = _RecordHandler(self.text_mode, self.single)
        parser = defusedxml.sax.make_parser()
        parser.setContentHandler(handler)
        try:
            with self.file.open() as stream:
                chunk = stream.read(CHUNK_SIZE)
                parser.feed(chunk)  # even if empty: an empty document is an error
                while chunk:
                    chunk = stream.read(CHUNK_SIZE)
                    if chunk:
                        parser.feed(chunk)
                    if handler.out:
                        yield handler.out
                        handler.out = []
                parser.close()
        except (SAXException, DefusedXmlException, ValueError) as error:
            raise BatchError(f"XML file {self.file.name} could not be parsed: {error}") from None
        yield handler.out


class XmlTextOfChildrenReader(_XmlReader):
    """Each child element of a record gives ``local name → all descendant text`` (untrimmed)."""

    text_mode = True
    hint_kind = "xml-text-of-children"


class XmlAttributesReader(_XmlReader):
    """Each attribute of a record element gives ``qualified name → value``."""

    text_mode = False
    hint_kind = "xml-attributes"
