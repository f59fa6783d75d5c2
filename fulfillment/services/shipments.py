"""Shipments (F7, F11, R3, R4): the service reports a shipment or the merchant marks the order
fulfilled; each package is confirmed on Amazon through the outbox with the same ship date,
carrier and tracking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from foundation import clock
from fulfillment import errors, selectors
from fulfillment.models import (
    AmazonConfirmation,
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    FulfillmentOrderLine,
)
from fulfillment.services import notices
from fulfillment.services.base import (
    AMAZON_CONFIRM_KIND,
    R4_NOTE,
    Actor,
    _apply,
    _decide,
    _ensure_order_allows,
    _event,
    _fo_lines,
    _lines_text,
    _lock,
    _lock_order,
    _refresh,
    _requested_lines,
    _shipped_any,
)
from fulfillment.services.fulfillment_orders import _trim_unrequested
from fulfillment.services.shopify import enqueue_shopify_fulfillment
from fulfillment.workflow import Action, Facts, Side
from integrations.outbox.services import enqueue
from integrations.shopify.delivery import active_store
from orders import policy
from orders.models import (
    Channel,
    EventKind,
    FulfillmentChannel,
    Order,
    OrderLine,
    ShipmentConfirmation,
    ShopifyState,
)

# Amazon's carrier codes for the carriers people type most; anything else is "Other" with the
# name (Amazon requires carrierName then).
AMAZON_CARRIER_CODES = {
    c.lower(): c
    for c in (
        "UPS",
        "USPS",
        "FedEx",
        "DHL",
        "DHL eCommerce",
        "OnTrac",
        "Amazon Shipping",
        "Royal Mail",
        "Parcelforce",
        "DPD",
        "Hermes",
        "Evri",
        "GLS",
        "Canada Post",
        "Japan Post",
        "Yamato Transport",
        "Deutsche Post",
        "La Poste",
        "Australia Post",
    )
}


def amazon_carrier(carrier: str) -> tuple[str, str]:
    """(carrierCode, carrierName) for confirmShipment."""
    code = AMAZON_CARRIER_CODES.get(carrier.strip().lower())
    return (code, "") if code else ("Other", carrier.strip())


@dataclass(frozen=True)
class ShipmentInput:
    tracking_number: str = ""
    carrier: str = ""
    ship_date: datetime | None = None
    notify_customer: bool = False
    # The Shopify fulfillment this shipment was made as, in the merchant's store (taken in by
    # the fulfillments/create webhook): it is recorded, and not written back.
    shopify_fulfillment_id: str = ""


def _needs_amazon_confirmation(order: Order) -> bool:
    return order.channel == Channel.AMAZON and order.fulfillment_channel != FulfillmentChannel.AFN


def _validate_shipment(order: Order, shipment: ShipmentInput) -> datetime:
    # The ship date is a business date on Amazon's calendar (R3: the same date on Amazon), so
    # it is on the product's clock, like the deadlines it meets (A8).
    today = clock.now()
    ship_date = (shipment.ship_date or today).replace(microsecond=0)
    problems: dict[str, list[str]] = {}
    if ship_date < order.purchase_date.replace(microsecond=0):
        problems["ship_date"] = [_("The ship date is before the order date.")]
    elif ship_date > today + timedelta(days=1):
        problems["ship_date"] = [_("The ship date is more than a day ahead.")]
    if _needs_amazon_confirmation(order):
        # Amazon's confirmShipment requires both (R3: every Amazon shipment is confirmed).
        if not shipment.tracking_number.strip():
            problems["tracking_number"] = [
                _("Amazon requires a tracking number to confirm the shipment (R3).")
            ]
        if not shipment.carrier.strip():
            problems["carrier"] = [_("Amazon requires the carrier to confirm the shipment (R3).")]
    if problems:
        first = next(iter(problems.values()))[0]
        raise errors.InvalidFulfillmentInput(first, errors=problems)
    return ship_date


def _record_fulfillment(
    order: Order,
    pairs: list[tuple[OrderLine, int, FulfillmentOrderLine | None]],
    shipment: ShipmentInput,
    ship_date: datetime,
    actor: Actor,
    fo: FulfillmentOrder | None,
) -> Fulfillment:
    amazon = _needs_amazon_confirmation(order)
    fulfillment = Fulfillment.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        fulfillment_order=fo,
        service_id=fo.service_id if fo else None,
        tracking_number=shipment.tracking_number.strip(),
        carrier=shipment.carrier.strip(),
        ship_date=ship_date,
        notify_customer=shipment.notify_customer,
        customer_notified=False,
        amazon_confirmation=AmazonConfirmation.PENDING if amazon else "not_required",
        shopify_fulfillment_id=shipment.shopify_fulfillment_id,
        created_by=actor.name,
    )
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(
                merchant_id=order.merchant_id,
                fulfillment=fulfillment,
                order_line=line,
                fulfillment_order_line=fo_line,
                quantity=qty,
            )
            for line, qty, fo_line in pairs
        ]
    )
    who = fo.service.name if fo else actor.name
    text = f"{who} fulfilled {_lines_text((line, qty) for line, qty, _ in pairs)}"
    if fulfillment.tracking_number:
        text += f", {fulfillment.carrier or 'carrier not given'} {fulfillment.tracking_number}"
    text += f", shipped {ship_date:%Y-%m-%d %H:%M} UTC."
    data = {
        "fulfillment": fulfillment.pk,
        "fulfillment_order": fo.pk if fo else None,
        "lines": [{"line": line.pk, "quantity": qty} for line, qty, _ in pairs],
        "tracking_number": fulfillment.tracking_number,
        "carrier": fulfillment.carrier,
        "ship_date": ship_date.isoformat(),
        "rule": "F7" if fo else "F11",
    }
    if order.channel == Channel.AMAZON:
        # R4: never a message to an Amazon buyer, whatever was asked.
        text += " " + R4_NOTE
        data["customer_notification"] = (
            "suppressed (R4)" if shipment.notify_customer else "not requested"
        )
    _event(order, EventKind.FULFILLED, text, actor, data)
    if amazon:
        _enqueue_amazon_confirmation(order, fulfillment, pairs)
    _enqueue_shopify_fulfillment(order, fulfillment, pairs)
    return fulfillment


def _enqueue_shopify_fulfillment(
    order: Order,
    fulfillment: Fulfillment,
    pairs: Sequence[tuple[OrderLine, int, FulfillmentOrderLine | None]],
) -> None:
    """R3: the fulfillment is written to the order's mirror in the merchant's Shopify store,
    once (one message per fulfillment), without notifying the buyer (R4). Sent when the order
    is in Shopify; until then its delivery waits (a transient failure, retried)."""
    if order.channel != Channel.AMAZON or order.shopify_state == ShopifyState.NOT_APPLICABLE:
        return
    if fulfillment.shopify_fulfillment_id:
        return  # made in Shopify: it is there already
    store = active_store(order.merchant_id)
    if store is None:
        return
    enqueue_shopify_fulfillment(fulfillment, store, pairs=[(line, qty) for line, qty, _ in pairs])


def _enqueue_amazon_confirmation(
    order: Order,
    fulfillment: Fulfillment,
    pairs: Sequence[tuple[OrderLine, int, FulfillmentOrderLine | None]],
) -> None:
    """R3: confirm this package on Amazon with the same ship date, carrier and tracking."""
    if order.amazon_account_id is None:
        fulfillment.amazon_confirmation = AmazonConfirmation.FAILED
        fulfillment.amazon_error = _("No Amazon account is linked to this order.")
        fulfillment.save(update_fields=["amazon_confirmation", "amazon_error"])
        _event(
            order,
            EventKind.OUTBOX,
            _("Shipment not confirmed on Amazon: no Amazon account is linked to this order."),
            Actor.system(),
            {"fulfillment": fulfillment.pk, "outcome": "failed"},
        )
        return
    code, name = amazon_carrier(fulfillment.carrier)
    items: dict[str, int] = defaultdict(int)
    for line, qty, _unit in pairs:
        items[line.external_id] += qty
    enqueue(
        merchant_id=order.merchant_id,
        kind=AMAZON_CONFIRM_KIND,
        payload={
            "fulfillment": fulfillment.pk,
            "account": order.amazon_account_id,
            "amazon_order_id": order.external_id,
            "marketplace_id": order.marketplace_id,
            "package_reference_id": fulfillment.package_reference,
            "carrier_code": code,
            "carrier_name": name,
            "tracking_number": fulfillment.tracking_number,
            "ship_date": fulfillment.ship_date.isoformat(),
            "items": sorted(items.items()),
        },
        idempotency_key=amazon_confirmation_key(fulfillment.pk),
        order_id=order.pk,
    )
    if order.shipment_confirmation == ShipmentConfirmation.NONE:
        order.shipment_confirmation = ShipmentConfirmation.SENT
        order.save(update_fields=["shipment_confirmation", "updated_at"])


def amazon_confirmation_key(fulfillment_id: int) -> str:
    return f"amazon-confirm-shipment-{fulfillment_id}"


@transaction.atomic
def report_shipment(
    fulfillment_order: FulfillmentOrder | int,
    *,
    actor: Actor,
    lines: Sequence[tuple[int, int | None]] | None = None,
    shipment: ShipmentInput = ShipmentInput(),
) -> Fulfillment:
    """F7: the service shipped a package: some or all of the fulfillment order's remaining
    lines (``lines`` are fulfillment-order line ids; all remaining when None). The order is
    fulfilled when every line is; the package is confirmed on Amazon (R3); the merchant is
    notified (F1)."""
    order, fo = _lock(fulfillment_order)
    fo_lines = {fl.pk: fl for fl in _fo_lines(fo)}
    fulfilled = selectors.fulfilled_quantities([order.pk])
    available = {
        pk: min(fl.remaining_quantity, selectors.unfulfilled_quantity(fl.order_line, fulfilled))
        for pk, fl in fo_lines.items()
    }
    # Who may report, and in which state, before the body (403, then 409).
    _decide(fo, Action.REPORT_SHIPMENT, actor, Facts(shipped=_shipped_any(fo)))
    _ensure_order_allows(order, policy.Action.FULFIL, request_in_progress_ok=True)
    wanted = _requested_lines(lines, available, _("fulfillment order"))
    ship_date = _validate_shipment(order, shipment)
    for pk, qty in wanted:
        fo_lines[pk].remaining_quantity -= qty
        fo_lines[pk].save(update_fields=["remaining_quantity"])
    remains = any(fl.remaining_quantity > 0 for fl in fo_lines.values())
    decision = _decide(fo, Action.REPORT_SHIPMENT, actor, Facts(shipped=True, remains=remains))
    _apply(fo, decision)
    pairs = [(fo_lines[pk].order_line, qty, fo_lines[pk]) for pk, qty in wanted]
    fulfillment = _record_fulfillment(order, pairs, shipment, ship_date, actor, fo)
    _refresh(order)
    # F1: the merchant is told, with the tracking (after the refresh: all shipped, or part).
    notices.shipped(order, fo, fulfillment, _lines_text((line, qty) for line, qty, _ in pairs))
    return fulfillment


@transaction.atomic
def fulfil_order(
    order: Order | int,
    *,
    actor: Actor,
    lines: Sequence[tuple[int, int | None]] | None = None,
    shipment: ShipmentInput = ShipmentInput(),
) -> Fulfillment:
    """The merchant fulfils (or marks fulfilled, F11) some or all of an order's lines
    (``lines`` are order line ids; all unfulfilled when None), with optional tracking and an
    optional customer notification (never sent for Amazon orders: R4). Refused while a
    fulfillment request is in progress: cancel it first (F11). Confirmed on Amazon (R3)."""
    if actor.side == Side.SERVICE:
        raise errors.NotYourAction(
            _(
                "Fulfillment services report shipments on their fulfillment orders: POST "
                "/fulfillment-orders/{id}/fulfillments/."
            )
        )
    order = _lock_order(order)
    _ensure_order_allows(order, policy.Action.MARK_FULFILLED)
    if selectors.has_fulfillment_request_in_progress(order):  # F11, whatever the stored status
        raise errors.FulfillmentRequestInProgress(
            "A fulfillment request is in progress: cancel it first (F11)."
        )
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order)}
    fulfilled = selectors.fulfilled_quantities([order.pk])
    available = {
        pk: selectors.unfulfilled_quantity(line, fulfilled) for pk, line in order_lines.items()
    }
    wanted = _requested_lines(lines, available, _("order"))
    ship_date = _validate_shipment(order, shipment)
    pairs = [(order_lines[pk], qty, None) for pk, qty in wanted]
    fulfillment = _record_fulfillment(order, pairs, shipment, ship_date, actor, None)
    _trim_unrequested(order, actor)
    _refresh(order)
    return fulfillment
