"""Feeds: documents uploaded to the emulator's own URL, feeds that move IN_QUEUE ->
IN_PROGRESS -> DONE (or FATAL) as virtual time passes, and the effects of the two order feeds
Keelson sends, with an XML processing report like Amazon's.

- ``POST_ORDER_ACKNOWLEDGEMENT_DATA`` (``OrderAcknowledgement``): ``StatusCode`` Failure cancels
  the listed items (each with a ``CancelReason``, e.g. ``BuyerCanceled``) or the whole order;
  Success only acknowledges (and records a ``MerchantOrderID``).
- ``POST_PAYMENT_ADJUSTMENT_DATA`` (``OrderAdjustment``): refunds components of shipped items,
  never more than was paid.

Each message succeeds or fails on its own; the report counts them and explains every failure.
Every message is validated against Amazon's XSDs first (``sandbox/amazon/xsd.py``): a message
that breaks the schema fails with 5000 and its line and column, the others go on; a broken
envelope or header fails the whole feed (FATAL). A MessageID used twice in one feed fails the
second message (18041): each message is applied once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET
from django.db import transaction

from sandbox.amazon import lifecycle, services, xsd
from sandbox.amazon.models import (
    AmazonFeed,
    AmazonFeedDocument,
    AmazonOrder,
    AmazonSeller,
    SandboxState,
)

ORDER_ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
PAYMENT_ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
SUPPORTED_FEED_TYPES = {
    ORDER_ACKNOWLEDGEMENT: "OrderAcknowledgement",
    PAYMENT_ADJUSTMENT: "OrderAdjustment",
}
CANCEL_REASONS = (
    "NoInventory",
    "ShippingAddressUndeliverable",
    "CustomerExchange",
    "BuyerCanceled",
    "GeneralAdjustment",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "CustomerReturn",
    "MerchandiseNotReceived",
)
ADJUSTMENT_REASONS = (
    "NoInventory",
    "CustomerReturn",
    "GeneralAdjustment",
    "CouldNotShip",
    "DifferentItem",
    "Abandoned",
    "CustomerCancel",
    "PriceError",
    "ProductOutofStock",
    "CustomerAddressIncorrect",
    "Exchange",
    "Other",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "TransactionRecord",
    "Undeliverable",
    "RefusedDelivery",
)

# ResultMessageCode values. 5000/5001 (XML errors) and 18028 (order not found) are Amazon's;
# the others are the emulator's own, documented in docs/sandbox-amazon.md.
CODE_XML = 5000
CODE_MISSING = 5001
CODE_ORDER_NOT_FOUND = 18028
CODE_ITEM_NOT_FOUND = 18027
CODE_ORDER_PENDING = 18030
CODE_ALREADY_SHIPPED = 18031
CODE_AMAZON_FULFILLED = 18032
CODE_INVALID_REASON = 18033
CODE_EXCEEDS_PAID = 18034
CODE_NOT_SHIPPED = 18035
CODE_CURRENCY = 18036
CODE_INVALID_AMOUNT = 18037
CODE_DUPLICATE = 18038
CODE_ALREADY_CANCELED = 18039
CODE_MARKETPLACE = 18040
CODE_DUPLICATE_MESSAGE = 18041
REFUND_CODES = {
    "order_pending": CODE_ORDER_PENDING,
    "item_not_found": CODE_ITEM_NOT_FOUND,
    "currency_mismatch": CODE_CURRENCY,
    "no_amount": CODE_INVALID_AMOUNT,
    "invalid_component": CODE_INVALID_AMOUNT,
    "invalid_amount": CODE_INVALID_AMOUNT,
    "not_shipped": CODE_NOT_SHIPPED,
    "exceeds_paid_amount": CODE_EXCEEDS_PAID,
    "duplicate_adjustment_id": CODE_DUPLICATE,
    "no_items": CODE_MISSING,
}


@dataclass
class Result:
    message_id: str
    code: str  # Error or Warning
    message_code: int
    description: str
    order_id: str = ""
    item_code: str = ""


@dataclass
class Report:
    processed: int = 0
    successful: int = 0
    results: list[Result] = field(default_factory=list)
    fatal: str = ""

    @property
    def errors(self) -> int:
        return len({r.message_id for r in self.results if r.code == "Error"})

    @property
    def warnings(self) -> int:
        return len({r.message_id for r in self.results if r.code == "Warning"})


class MessageFailed(Exception):
    def __init__(self, code: int, description: str, item_code: str = "") -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.item_code = item_code


# --- creating documents and feeds ------------------------------------------------------------


def create_document(seller: AmazonSeller, content_type: str, now: datetime) -> AmazonFeedDocument:
    return AmazonFeedDocument.objects.create(
        seller=seller,
        document_id=f"amzn1.tortuga.4.na.{secrets.token_hex(16)}",
        content_type=content_type,
        created_at=now,
    )


def create_feed(
    seller: AmazonSeller,
    *,
    feed_type: str,
    marketplace_ids: list[str],
    document: AmazonFeedDocument,
    feed_options: dict | None,
    now: datetime,
    state: SandboxState,
) -> AmazonFeed:
    queue = timedelta(seconds=state.feed_queue_seconds)
    processing = timedelta(seconds=state.feed_processing_seconds)
    with transaction.atomic():
        AmazonSeller.objects.select_for_update().get(pk=seller.pk)
        feed = AmazonFeed.objects.create(
            seller=seller,
            feed_id=str(50_000_000_000 + secrets.randbelow(10**10)),
            feed_type=feed_type,
            marketplace_ids=marketplace_ids,
            feed_options=feed_options or {},
            input_document=document,
            status="IN_QUEUE",
            created_time=now,
            start_at=now + queue,
            end_at=now + queue + processing,
        )
    return feed


# --- processing ------------------------------------------------------------------------------


def complete(feed: AmazonFeed) -> None:
    """Process a feed whose time has come (the seller is locked by the caller)."""
    at = feed.end_at
    report = process(feed, at)
    feed.processing_start_time = feed.processing_start_time or feed.start_at
    feed.processing_end_time = at
    feed.status = "FATAL" if report.fatal else "DONE"
    document = AmazonFeedDocument.objects.create(
        seller=feed.seller,
        document_id=f"amzn1.tortuga.4.na.{secrets.token_hex(16)}",
        content_type="text/xml; charset=UTF-8",
        content=render_report(feed, report).encode("utf-8"),
        uploaded=True,
        is_result=True,
        created_at=at,
    )
    feed.result_document = document
    feed.save()


def process(feed: AmazonFeed, at: datetime) -> Report:
    report = Report()
    content = bytes(feed.input_document.content or b"")
    if not feed.input_document.uploaded or not content:
        report.fatal = "The feed document was never uploaded (or is empty)."
        return report
    try:
        root = SafeET.fromstring(content)
    except Exception as exc:  # defusedxml/expat raise several types
        report.fatal = f"XML Parsing Error: {exc}"
        return report
    expected = SUPPORTED_FEED_TYPES.get(feed.feed_type)
    message_type = (root.findtext("MessageType") or "").strip()
    if root.tag != "AmazonEnvelope" or message_type != expected:
        report.fatal = (
            f"Expected an AmazonEnvelope with MessageType {expected} for {feed.feed_type}, "
            f"got <{root.tag}> with MessageType '{message_type}'."
        )
        return report
    handler = _acknowledge if feed.feed_type == ORDER_ACKNOWLEDGEMENT else _adjust
    schema_errors = xsd.message_errors(content)
    if schema_errors.envelope:
        report.fatal = f"XML Parsing Error: {schema_errors.envelope[0]}"
        return report
    seen_ids: set[str] = set()
    for index, message in enumerate(root.findall("Message")):
        report.processed += 1
        message_id = (message.findtext("MessageID") or str(report.processed)).strip()
        body = message.find(expected)
        order_id = ((body.findtext("AmazonOrderID") if body is not None else "") or "").strip()
        try:
            if message_id in seen_ids:
                # Amazon answers each MessageID once: a second message with the same id is
                # refused, never applied (a feed built twice into one document, say).
                raise MessageFailed(
                    CODE_DUPLICATE_MESSAGE,
                    f"MessageID {message_id} is used by more than one message in this feed; "
                    "only the first was processed.",
                )
            seen_ids.add(message_id)
            errors = schema_errors.by_message.get(index)
            if errors:
                raise MessageFailed(CODE_XML, f"XML Parsing Error: {errors[0]}")
            if body is None:
                raise MessageFailed(CODE_MISSING, f"Message {message_id} has no <{expected}>.")
            with transaction.atomic():
                warning = handler(feed, body, at)
            if warning:
                report.results.append(
                    Result(message_id, "Warning", warning[0], warning[1], order_id)
                )
            report.successful += 1
        except MessageFailed as failure:
            report.results.append(
                Result(
                    message_id,
                    "Error",
                    failure.code,
                    failure.description,
                    order_id,
                    failure.item_code,
                )
            )
        except (ValueError, TypeError, ArithmeticError) as exc:
            # A message the rules above did not foresee fails on its own, never the feed.
            report.results.append(
                Result(message_id, "Error", CODE_XML, f"Invalid message: {exc}", order_id)
            )
    return report


def _find_order(feed: AmazonFeed, body: Element, at: datetime) -> AmazonOrder:
    amazon_id = (body.findtext("AmazonOrderID") or "").strip()
    merchant_id = (body.findtext("MerchantOrderID") or "").strip()
    orders = services.visible_orders(feed.seller, at)
    order = None
    if amazon_id:
        order = orders.filter(amazon_order_id=amazon_id).first()
    elif merchant_id:
        order = orders.filter(seller_order_id=merchant_id).first()
    else:
        raise MessageFailed(CODE_MISSING, "The message names no AmazonOrderID or MerchantOrderID.")
    if order is None:
        raise MessageFailed(
            CODE_ORDER_NOT_FOUND,
            f"Your order cannot be found using Merchant ID {feed.seller.selling_partner_id} and "
            f"order ID {amazon_id or merchant_id}. Enter the correct order ID and then resubmit "
            "your feed.",
        )
    if feed.marketplace_ids and order.marketplace_id not in feed.marketplace_ids:
        raise MessageFailed(
            CODE_MARKETPLACE,
            f"Order {order.amazon_order_id} belongs to marketplace {order.marketplace_id}, "
            f"which this feed was not submitted for.",
        )
    order._items = list(order.items.all())  # type: ignore[attr-defined]
    return order


def _item(order: AmazonOrder, element: Element):
    code = (element.findtext("AmazonOrderItemCode") or "").strip()
    merchant_code = (element.findtext("MerchantOrderItemID") or "").strip()
    for item in lifecycle.order_items(order):
        if code and item.order_item_id == code:
            return item
        if not code and merchant_code and item.merchant_order_item_id == merchant_code:
            return item
    raise MessageFailed(
        CODE_ITEM_NOT_FOUND,
        f"Order item {code or merchant_code or '(none)'} is not in order {order.amazon_order_id}.",
        code or merchant_code,
    )


def _acknowledge(feed: AmazonFeed, body: Element, at: datetime) -> tuple[int, str] | None:
    order = _find_order(feed, body, at)
    status_code = (body.findtext("StatusCode") or "").strip()
    if status_code not in ("Success", "Failure"):
        raise MessageFailed(CODE_XML, "StatusCode must be Success or Failure.")
    status = lifecycle.derive_status(order, lifecycle.order_items(order))
    if status == "Pending":
        raise MessageFailed(
            CODE_ORDER_PENDING,
            f"Order {order.amazon_order_id} is Pending: no action can be taken on it yet.",
        )
    merchant_order_id = (body.findtext("MerchantOrderID") or "").strip()
    elements = body.findall("Item")
    if status_code == "Success":
        changed = False
        if merchant_order_id and order.seller_order_id != merchant_order_id:
            order.seller_order_id = merchant_order_id
            changed = True
        for element in elements:
            item = _item(order, element)
            merchant_item = (element.findtext("MerchantOrderItemID") or "").strip()
            if merchant_item and item.merchant_order_item_id != merchant_item:
                item.merchant_order_item_id = merchant_item
                item.save(update_fields=["merchant_order_item_id"])
                changed = True
        if changed:
            lifecycle.touch(order, at)
            order.save(update_fields=["seller_order_id", "last_update_date"])
        return None
    # Failure: a cancellation by the seller.
    if order.fulfillment_channel == "AFN":
        raise MessageFailed(
            CODE_AMAZON_FULFILLED,
            f"Order {order.amazon_order_id} is fulfilled by Amazon and cannot be cancelled "
            "by the seller.",
        )
    reasons: dict[str, str] | None = None
    if elements:
        reasons = {}
        for element in elements:
            item = _item(order, element)
            reason = (element.findtext("CancelReason") or "").strip()
            if reason not in CANCEL_REASONS:
                raise MessageFailed(
                    CODE_INVALID_REASON,
                    f"CancelReason '{reason}' is not valid; use one of "
                    f"{', '.join(CANCEL_REASONS)}.",
                    item.order_item_id,
                )
            if item.quantity_open == 0 and item.quantity_shipped > 0:
                raise MessageFailed(
                    CODE_ALREADY_SHIPPED,
                    f"Order item {item.order_item_id} has already shipped and cannot be cancelled.",
                    item.order_item_id,
                )
            reasons[item.order_item_id] = reason
    items = lifecycle.order_items(order)
    chosen = [i for i in items if reasons is None or i.order_item_id in reasons]
    if all(i.quantity_open == 0 for i in chosen):
        if all(i.quantity_canceled == i.quantity_ordered for i in chosen):
            return (
                CODE_ALREADY_CANCELED,
                f"Order {order.amazon_order_id}: the items were already cancelled.",
            )
        raise MessageFailed(
            CODE_ALREADY_SHIPPED,
            f"Order {order.amazon_order_id} has nothing left to cancel (already shipped).",
        )
    services.cancel_by_seller(order, reasons, at)
    return None


def _money(element: Element) -> tuple[Decimal, str | None]:
    text = (element.text or "").strip()
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise MessageFailed(CODE_INVALID_AMOUNT, f"Invalid amount '{text}'.") from exc
    return amount, element.get("currency")


def _adjust(feed: AmazonFeed, body: Element, at: datetime) -> tuple[int, str] | None:
    order = _find_order(feed, body, at)
    action = (body.findtext("ActionType") or "Refund").strip()
    if action != "Refund":
        raise MessageFailed(CODE_XML, f"ActionType {action} is not supported (use Refund).")
    lines: list[services.RefundLine] = []
    elements = body.findall("AdjustedItem")
    if not elements:
        raise MessageFailed(CODE_MISSING, "The adjustment lists no AdjustedItem.")
    for element in elements:
        item = _item(order, element)
        reason = (element.findtext("AdjustmentReason") or "").strip()
        if reason not in ADJUSTMENT_REASONS:
            raise MessageFailed(
                CODE_INVALID_REASON,
                f"AdjustmentReason '{reason}' is not valid.",
                item.order_item_id,
            )
        components: dict[str, Decimal] = {}
        currencies = set()
        for group in ("ItemPriceAdjustments", "ShippingPriceAdjustments"):
            for component in element.findall(f"{group}/Component"):
                kind = (component.findtext("Type") or "").strip()
                amount_element = component.find("Amount")
                if amount_element is None:
                    raise MessageFailed(CODE_MISSING, f"Component {kind} has no Amount.")
                amount, currency = _money(amount_element)
                if currency:
                    currencies.add(currency)
                if amount == 0:
                    continue  # zero components are allowed and mean nothing
                components[kind] = components.get(kind, Decimal(0)) + amount
        quantity_text = (element.findtext("Quantity") or "").strip()
        quantity = int(quantity_text) if quantity_text.isdigit() else None
        if len(currencies) > 1:
            raise MessageFailed(CODE_CURRENCY, "Components use more than one currency.")
        lines.append(
            services.RefundLine(
                order_item_id=item.order_item_id,
                components=components,
                quantity=quantity,
                merchant_adjustment_item_id=(
                    element.findtext("MerchantAdjustmentItemID") or ""
                ).strip(),
                currency=next(iter(currencies), None),
                reason=reason,
            )
        )
    try:
        result = services.refund(order, lines, source="feed", at=at, feed=feed)
    except services.RefundRejected as exc:
        raise MessageFailed(REFUND_CODES.get(exc.code, CODE_INVALID_AMOUNT), exc.message) from exc
    if result.duplicate:
        return (
            CODE_DUPLICATE,
            f"Order {order.amazon_order_id}: this adjustment (MerchantAdjustmentItemID) was "
            "already applied; nothing changed.",
        )
    return None


# --- the report ------------------------------------------------------------------------------


def render_report(feed: AmazonFeed, report: Report) -> str:
    seller = feed.seller.selling_partner_id
    if report.fatal:
        results = (
            "<Result><MessageID>0</MessageID><ResultCode>Error</ResultCode>"
            f"<ResultMessageCode>{CODE_XML}</ResultMessageCode>"
            f"<ResultDescription>{escape(report.fatal)}</ResultDescription></Result>"
        )
        status = "Complete"
    else:
        parts = []
        for r in report.results:
            info = ""
            if r.order_id or r.item_code:
                info = "<AdditionalInfo>"
                if r.order_id:
                    info += f"<AmazonOrderID>{escape(r.order_id)}</AmazonOrderID>"
                if r.item_code:
                    info += f"<AmazonOrderItemCode>{escape(r.item_code)}</AmazonOrderItemCode>"
                info += "</AdditionalInfo>"
            parts.append(
                f"<Result><MessageID>{escape(r.message_id)}</MessageID>"
                f"<ResultCode>{r.code}</ResultCode>"
                f"<ResultMessageCode>{r.message_code}</ResultMessageCode>"
                f"<ResultDescription>{escape(r.description)}</ResultDescription>{info}</Result>"
            )
        results = "".join(parts)
        status = "Complete"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">'
        f"<Header><DocumentVersion>1.02</DocumentVersion>"
        f"<MerchantIdentifier>{escape(seller)}</MerchantIdentifier></Header>"
        "<MessageType>ProcessingReport</MessageType>"
        "<Message><MessageID>1</MessageID><ProcessingReport>"
        f"<DocumentTransactionID>{escape(feed.feed_id)}</DocumentTransactionID>"
        f"<StatusCode>{status}</StatusCode>"
        "<ProcessingSummary>"
        f"<MessagesProcessed>{report.processed}</MessagesProcessed>"
        f"<MessagesSuccessful>{report.successful}</MessagesSuccessful>"
        f"<MessagesWithError>{report.errors if not report.fatal else 1}</MessagesWithError>"
        f"<MessagesWithWarning>{report.warnings}</MessagesWithWarning>"
        "</ProcessingSummary>"
        f"{results}</ProcessingReport></Message></AmazonEnvelope>\n"
    )


def parse_report(text: str) -> dict[str, Any]:
    """The report as data (for tests and the control API)."""
    root = SafeET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    summary = root.find("Message/ProcessingReport/ProcessingSummary")
    results = []
    for r in root.findall("Message/ProcessingReport/Result"):
        results.append(
            {
                "message_id": r.findtext("MessageID"),
                "result_code": r.findtext("ResultCode"),
                "message_code": int(r.findtext("ResultMessageCode") or 0),
                "description": r.findtext("ResultDescription"),
                "amazon_order_id": r.findtext("AdditionalInfo/AmazonOrderID"),
            }
        )
    return {
        "processed": int(summary.findtext("MessagesProcessed")),
        "successful": int(summary.findtext("MessagesSuccessful")),
        "with_error": int(summary.findtext("MessagesWithError")),
        "with_warning": int(summary.findtext("MessagesWithWarning")),
        "results": results,
    }
