"""What the merchant is told about a fulfillment service's work (rule F1): the service accepted
or rejected a request, shipped, or answered a cancellation request, and Amazon cancelled an order
whose request is with a service.

Each is a notification to the merchant's people (``notifications.services.notify_merchant``):
written in the caller's transaction, so it commits with the state change or not at all, and
e-mailed in the digest after the commit to those who want e-mail. Titles name the service and
the order's channel id (the Amazon order id) in words a merchant uses.
"""

from __future__ import annotations

from foundation.text import N_, Text
from fulfillment.models import Fulfillment, FulfillmentOrder
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders.models import FulfillmentStatus, Order
from tenants.models import Merchant


def _names(order: Order, fo: FulfillmentOrder) -> dict[str, str]:
    return {"service": fo.service.name, "order": order.external_id}


def _said(fo: FulfillmentOrder, message: str, label: Text) -> Text | str:
    message = (message or "").strip()
    if not message:
        return ""
    return label.bind(service=fo.service.name, message=message)


def _paragraphs(*parts: str) -> str:
    """The parts one after the other, each in the reader's language when it is shown."""
    kept = [p for p in parts if p]
    if not kept:
        return ""
    text = kept[0]
    for part in kept[1:]:
        text = N_("%(before)s %(after)s", before=text, after=part)
    return text


def _notify(order: Order, kind: str, title: str, body: str) -> None:
    notify_merchant(Merchant.objects.get(pk=order.merchant_id), kind, title, body, order=order)


def request_accepted(order: Order, fo: FulfillmentOrder, message: str) -> None:
    """F1, F6: fulfillment is in progress."""
    _notify(
        order,
        NotificationKind.FULFILLMENT_ACCEPTED,
        N_("%(service)s accepted order %(order)s", **_names(order, fo)),
        _paragraphs(
            N_("It is picking and packing the order; you will be told when it ships."),
            _said(fo, message, N_("Message from %(service)s: %(message)s")),
        ),
    )


def request_rejected(order: Order, fo: FulfillmentOrder, reason: str) -> None:
    """F1, F6: the order is unfulfilled again."""
    _notify(
        order,
        NotificationKind.FULFILLMENT_REJECTED,
        N_("%(service)s rejected order %(order)s", **_names(order, fo)),
        _paragraphs(
            _said(fo, reason, N_("Reason given by %(service)s: %(message)s"))
            or N_("%(service)s gave no reason.", **_names(order, fo)),
            N_("The order is unfulfilled again: request fulfillment again, or fulfil it yourself."),
        ),
    )


def shipped(order: Order, fo: FulfillmentOrder, fulfillment: Fulfillment, items: str) -> None:
    """F1, F7: a package left the service (the order is refreshed: its status says whether
    everything has shipped now)."""
    names = _names(order, fo)
    if order.fulfillment_status == FulfillmentStatus.FULFILLED:
        title = N_("%(service)s shipped order %(order)s", **names)
    else:
        title = N_("%(service)s shipped part of order %(order)s", **names)
    if fulfillment.tracking_number:
        tracking = N_(
            "Tracking: %(carrier)s %(tracking)s.",
            carrier=fulfillment.carrier or N_("carrier not given"),
            tracking=fulfillment.tracking_number,
        )
    else:
        tracking = N_("No tracking number was given.")
    _notify(
        order,
        NotificationKind.FULFILLMENT_SHIPPED,
        title,
        _paragraphs(N_("Shipped: %(items)s.", items=items), tracking),
    )


def cancellation_accepted(order: Order, fo: FulfillmentOrder, message: str) -> None:
    """F1, F9: the service stopped."""
    _notify(
        order,
        NotificationKind.FULFILLMENT_CANCEL_ACCEPTED,
        N_("%(service)s cancelled the fulfillment of order %(order)s", **_names(order, fo)),
        _paragraphs(
            N_("What it had not shipped is unfulfilled again."),
            _said(fo, message, N_("Message from %(service)s: %(message)s")),
        ),
    )


def cancellation_rejected(order: Order, fo: FulfillmentOrder, reason: str) -> None:
    """F1, F9: fulfillment goes on."""
    _notify(
        order,
        NotificationKind.FULFILLMENT_CANCEL_REJECTED,
        N_("%(service)s refused to cancel order %(order)s", **_names(order, fo)),
        _paragraphs(
            _said(fo, reason, N_("Reason given by %(service)s: %(message)s"))
            or N_("%(service)s gave no reason.", **_names(order, fo)),
            N_("Fulfillment continues: the order will ship."),
        ),
    )


def cancelled_by_amazon(order: Order, fo: FulfillmentOrder, what_keelson_did: str) -> None:
    """F1: Amazon cancelled an order whose request is with the service."""
    _notify(
        order,
        NotificationKind.CANCELLED_DURING_FULFILLMENT,
        N_("Amazon cancelled order %(order)s while it was with %(service)s", **_names(order, fo)),
        what_keelson_did,
    )
