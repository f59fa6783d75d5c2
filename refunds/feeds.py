"""Amazon's XML order feeds for refunds and cancellations, and its processing report (pure:
no ORM, no I/O). Each refund or cancellation is one message (its body built here); the
envelope around the messages of a batch is integrations.amazon.feed_documents'.

- ``POST_PAYMENT_ADJUSTMENT_DATA`` (``OrderAdjustment``): a refund, one ``AdjustedItem`` per order
  item with its components (Principal, Tax, Shipping, ShippingTax). Every item carries our
  ``MerchantAdjustmentItemID`` (``KLS-<refund>-<line>``): Amazon treats the same id with the same
  amounts as a repeat and refunds nothing again, so a resent feed cannot refund twice.
- ``POST_ORDER_ACKNOWLEDGEMENT_DATA`` (``OrderAcknowledgement``, ``StatusCode`` Failure): a
  cancellation of the listed items' open quantity, each with a ``CancelReason``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from integrations.amazon import feed_documents, feed_reports
from refunds.policy import Components, quantize

PAYMENT_ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
ORDER_ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
MESSAGE_TYPES = {
    PAYMENT_ADJUSTMENT: "OrderAdjustment",
    ORDER_ACKNOWLEDGEMENT: "OrderAcknowledgement",
}
CONTENT_TYPE = feed_documents.CONTENT_TYPE
MESSAGE_ID = "1"  # a feed of one message (feeds sent before batching)

COMPONENT_TYPES = (
    ("principal", "Principal"),
    ("tax", "Tax"),
    ("shipping", "Shipping"),
    ("shipping_tax", "ShippingTax"),
)


@dataclass(frozen=True)
class AdjustedItem:
    order_item_id: str
    merchant_adjustment_item_id: str
    reason: str
    components: Components
    quantity: int = 0


@dataclass(frozen=True)
class CancelledItem:
    order_item_id: str
    reason: str


def _amount(value: Decimal, currency: str) -> str:
    return f"{quantize(value, currency):f}"


def payment_adjustment_body(
    *, amazon_order_id: str, currency: str, items: Sequence[AdjustedItem]
) -> str:
    """The ``<OrderAdjustment>`` of one refund (one message of a feed)."""
    parts = []
    for item in items:
        components = "".join(
            "<Component>"
            f"<Type>{kind}</Type>"
            f"<Amount currency={quoteattr(currency)}>"
            f"{_amount(getattr(item.components, name), currency)}</Amount>"
            "</Component>"
            for name, kind in COMPONENT_TYPES
            if getattr(item.components, name) > 0
        )
        quantity = f"<Quantity>{item.quantity}</Quantity>" if item.quantity else ""
        parts.append(
            "<AdjustedItem>"
            f"<AmazonOrderItemCode>{escape(item.order_item_id)}</AmazonOrderItemCode>"
            f"<MerchantAdjustmentItemID>{escape(item.merchant_adjustment_item_id)}"
            "</MerchantAdjustmentItemID>"
            f"<AdjustmentReason>{escape(item.reason)}</AdjustmentReason>"
            f"<ItemPriceAdjustments>{components}</ItemPriceAdjustments>"
            f"{quantity}"
            "</AdjustedItem>"
        )
    return (
        "<OrderAdjustment>"
        f"<AmazonOrderID>{escape(amazon_order_id)}</AmazonOrderID>"
        "<ActionType>Refund</ActionType>"
        f"{''.join(parts)}"
        "</OrderAdjustment>"
    )


def order_cancellation_body(*, amazon_order_id: str, items: Sequence[CancelledItem]) -> str:
    """The ``<OrderAcknowledgement>`` (StatusCode Failure) of one cancellation."""
    parts = "".join(
        "<Item>"
        f"<AmazonOrderItemCode>{escape(item.order_item_id)}</AmazonOrderItemCode>"
        f"<CancelReason>{escape(item.reason)}</CancelReason>"
        "</Item>"
        for item in items
    )
    return (
        "<OrderAcknowledgement>"
        f"<AmazonOrderID>{escape(amazon_order_id)}</AmazonOrderID>"
        "<StatusCode>Failure</StatusCode>"
        f"{parts}"
        "</OrderAcknowledgement>"
    )


def single_message_document(seller_id: str, feed_type: str, body: str) -> bytes:
    """A whole feed document holding one message (MessageID 1)."""
    return feed_documents.envelope(
        seller_id, MESSAGE_TYPES[feed_type], [feed_documents.FeedMessage(1, body)]
    )


# --- the processing report -------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    message_id: str
    result_code: str  # Error or Warning
    message_code: str
    description: str


@dataclass
class ProcessingReport:
    processed: int = 0
    successful: int = 0
    with_error: int = 0
    with_warning: int = 0
    results: list[ReportResult] = field(default_factory=list)

    def errors_for(self, message_id: str = MESSAGE_ID) -> list[ReportResult]:
        return [
            r
            for r in self.results
            if r.result_code == "Error" and feed_reports.concerns(r.message_id, message_id)
        ]

    @property
    def accepted(self) -> bool:
        """Our one message went through (warnings, such as a repeat, are fine)."""
        return not self.errors_for() and self.successful >= 1

    def as_dict(self) -> dict:
        return {
            "processed": self.processed,
            "successful": self.successful,
            "with_error": self.with_error,
            "with_warning": self.with_warning,
            "results": [r.__dict__ for r in self.results],
        }


# One reader of Amazon's processing reports (integrations.amazon.feed_reports): here in the
# shape a refund sent in a feed of its own (before feeds were batched) reads it.
MalformedReport = feed_reports.MalformedReport


def parse_report(text: str | bytes) -> ProcessingReport:
    parsed = feed_reports.parse_report(text)
    return ProcessingReport(
        processed=parsed.processed,
        successful=parsed.successful,
        with_error=parsed.with_error,
        with_warning=parsed.with_warning,
        results=[ReportResult(**r) for r in parsed.results],
    )


# Amazon's ResultMessageCodes in plain words, for the merchant (docs/sandbox-amazon.md).
PLAIN_WORDS = {
    "18028": "Amazon cannot find this order.",
    "18027": "An item is not in the order on Amazon.",
    "18030": "Amazon is still verifying the order (Pending): nothing can be done yet.",
    "18031": "The item has already shipped: it cannot be cancelled; refund it instead.",
    "18032": "Amazon fulfils this order (FBA): only Amazon can change it.",
    "18033": "Amazon does not accept the reason given.",
    "18034": "The refund is more than the buyer paid and was not yet refunded on Amazon "
    "(was part of it refunded in Seller Central?).",
    "18035": "The item has not shipped, so Amazon charged nothing for it: cancel it instead.",
    "18036": "The currency does not match the order's.",
    "18037": "Amazon refused the amount (zero, negative, or too many decimals).",
    "18039": "The items were already cancelled.",
    "18040": "The order belongs to another marketplace.",
    "5000": "Amazon could not read the feed.",
    "5001": "Amazon found a required element missing in the feed.",
}


def plain_words(result: ReportResult) -> str:
    known = PLAIN_WORDS.get(result.message_code)
    if known:
        return f"{known} (Amazon {result.message_code}: {result.description})"
    return f"Amazon {result.message_code}: {result.description}"
