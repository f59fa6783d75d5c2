"""The emulator checks uploaded feeds against Amazon's XSDs, as Amazon does, message by
message: a message that breaks the schema fails on its own (ResultMessageCode 5000, with its
line), the others are processed; a broken envelope or header fails the whole feed.

The schema files are the ones Keelson validates against before uploading
(``integrations/amazon/xsd``): read as files, the way Amazon publishes them, not imported.
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XSD_DIR = Path(
    os.environ.get("KEELSON_FEED_XSD_DIR")
    or Path(__file__).resolve().parents[2] / "integrations" / "amazon" / "xsd"
)


# Values the emulator's own rules check with Amazon's more specific codes (an unknown reason:
# 18033; an order or item that is not there: 18028, 18027): a pattern or enumeration error on
# these elements is left to them rather than reported as a schema error (5000).
RULE_CHECKED = ("CancelReason", "AdjustmentReason", "AmazonOrderID", "AmazonOrderItemCode")


def _rule_checked(message: str) -> bool:
    return any(message.startswith(f"Element '{name}': [facet ") for name in RULE_CHECKED)


@functools.cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "amzn-envelope.xsd")))


@dataclass
class SchemaErrors:
    envelope: list[str] = field(default_factory=list)  # the whole feed fails
    by_message: dict[int, list[str]] = field(default_factory=dict)  # index of <Message>


def message_errors(content: bytes) -> SchemaErrors:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        return SchemaErrors(envelope=[str(exc)])
    validator = schema()
    if validator.validate(root):
        return SchemaErrors()
    out = SchemaErrors()
    messages = [child for child in root if child.tag == "Message"]
    # The envelope without its messages: only a missing <Message> may be wrong with it.
    bare = copy.deepcopy(root)
    for child in [c for c in bare if c.tag == "Message"]:
        bare.remove(child)
    if not validator.validate(bare):
        for error in validator.error_log:
            if "Missing child element" in error.message and "Message" in error.message:
                continue
            if _rule_checked(error.message):
                continue
            out.envelope.append(f"Line {error.line}, Column {error.column}: {error.message}")
        if out.envelope:
            return out
    for index, message in enumerate(messages):
        single = copy.deepcopy(bare)
        single.append(copy.deepcopy(message))
        if not validator.validate(single):
            errors = [
                f"Line {message.sourceline}: {error.message}"
                for error in validator.error_log
                if not _rule_checked(error.message)
            ]
            if errors:
                out.by_message[index] = errors
    return out
