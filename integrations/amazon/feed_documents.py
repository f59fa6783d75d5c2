"""Amazon's XML feed documents: the envelope around one or more messages, and validation
against Amazon's XSDs (``integrations/amazon/xsd``, the subset our feed types use) with lxml.

Every document Keelson uploads is validated first: an invalid document is a bug of ours, and
it is never sent (the message fails with ``invalid_feed_document``). The SP-API emulator
validates what it receives against the same files. Pure: no ORM, no I/O but reading the XSDs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

XSD_DIR = Path(__file__).resolve().parent / "xsd"
ENVELOPE_XSD = XSD_DIR / "amzn-envelope.xsd"
CONTENT_TYPE = "text/xml; charset=UTF-8"
DOCUMENT_VERSION = "1.01"


class InvalidFeedDocument(ValueError):
    """The document breaks Amazon's schema; ``errors`` are lxml's, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors[:5]) or "invalid feed document")


@dataclass(frozen=True)
class FeedMessage:
    """One message of a feed: its MessageID and its body (the XML of one element, e.g.
    ``<OrderAdjustment>...</OrderAdjustment>``)."""

    message_id: int
    body: str


@functools.cache
def schema() -> etree.XMLSchema:
    """Amazon's envelope schema with our message types (parsed once per process)."""
    return etree.XMLSchema(etree.parse(str(ENVELOPE_XSD)))


def envelope(seller_id: str, message_type: str, messages: Sequence[FeedMessage]) -> bytes:
    """The document: one line per message, so a report's line numbers point at a message."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">',
        f"<Header><DocumentVersion>{DOCUMENT_VERSION}</DocumentVersion>"
        f"<MerchantIdentifier>{escape(seller_id)}</MerchantIdentifier></Header>",
        f"<MessageType>{escape(message_type)}</MessageType>",
    ]
    parts.extend(
        f"<Message><MessageID>{m.message_id}</MessageID>{m.body}</Message>" for m in messages
    )
    parts.append("</AmazonEnvelope>")
    return ("\n".join(parts) + "\n").encode("utf-8")


def schema_errors(content: bytes) -> list[str]:
    """What breaks Amazon's schema in ``content`` ([] when it is valid)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        document = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    validator = schema()
    if validator.validate(document):
        return []
    return [
        f"line {error.line}, column {error.column}: {error.message}"
        for error in validator.error_log
    ]


def validate(content: bytes) -> None:
    """Raise ``InvalidFeedDocument`` unless ``content`` is valid against Amazon's XSDs."""
    errors = schema_errors(content)
    if errors:
        raise InvalidFeedDocument(errors)
