"""Amazon's Notifications API (v1) and the ORDER_CHANGE notifications it sends.

- **Destinations** belong to an application (an LWA client id; grantless calls) and name an
  SQS queue by ARN. **Subscriptions** belong to a seller: one per notification type, pointing
  at one of its application's destinations.
- **ORDER_CHANGE** (payload 1.0, ``OrderChangeNotification.json``): one notification per change
  of an order of a subscribed seller: a new order (Pending), every status change, a buyer's
  cancellation request (``BuyerRequestedChange``). Each order remembers the LastUpdateDate it
  was last notified for (``AmazonOrder.notified_update_date``), so every change is sent once,
  whenever it is found, and a seller that subscribes now is not sent its history.
- **When**: the emulator's lifecycle is lazy (events are played when somebody looks), so the
  notifications are found when somebody looks at the queue: every SQS ReceiveMessage first
  brings the sellers subscribed to that queue up to the emulator's now (``dispatch``), then
  long-polls. Amazon itself delivers within seconds; so does this, to whoever is polling.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from sandbox.amazon import services, sqs
from sandbox.amazon.errors import ApiError, invalid_input, not_found
from sandbox.amazon.models import (
    AmazonDestination,
    AmazonFeed,
    AmazonOrder,
    AmazonSeller,
    AmazonSubscription,
)

ORDER_CHANGE = "ORDER_CHANGE"
# The notification types this emulator delivers; others are refused like an unknown type.
SUPPORTED_TYPES = (ORDER_CHANGE,)
PAYLOAD_VERSIONS = {ORDER_CHANGE: ("1.0",)}
NOTIFICATION_VERSION = "1.0"
# One dispatch sends at most this many per seller; the next ReceiveMessage sends the rest.
DISPATCH_BATCH = 500


def unnotified() -> Q:
    return Q(notified_update_date__isnull=True) | Q(notified_update_date__lt=F("last_update_date"))


def application_id(client_id: str) -> str:
    """Amazon's application id for an LWA client (stable, emulator-made)."""
    return "amzn1.sp.solution." + str(uuid.uuid5(uuid.NAMESPACE_URL, client_id))


# --- destinations (grantless: the application's) ---------------------------------------------


def destination_json(destination: AmazonDestination) -> dict[str, Any]:
    return {
        "name": destination.name,
        "destinationId": destination.destination_id,
        "resource": {"sqs": {"arn": destination.sqs_arn}},
    }


def create_destination(client_id: str, body: Any) -> AmazonDestination:
    if not isinstance(body, dict):
        raise invalid_input("The request body must be a JSON object.")
    name = body.get("name")
    spec = body.get("resourceSpecification")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise invalid_input("name is required (at most 256 characters).")
    if not isinstance(spec, dict) or set(spec) - {"sqs", "eventBridge"} or not spec:
        raise invalid_input("resourceSpecification needs one of sqs or eventBridge.")
    if "eventBridge" in spec:
        raise invalid_input("The emulator delivers to SQS destinations only.")
    arn = (spec.get("sqs") or {}).get("arn") if isinstance(spec.get("sqs"), dict) else None
    if not isinstance(arn, str) or not sqs.valid_arn(arn):
        raise invalid_input(f"Invalid SQS queue ARN: {arn!r}.")
    with transaction.atomic():
        if AmazonDestination.objects.filter(client_id=client_id, sqs_arn=arn).exists():
            raise ApiError(
                409,
                "Conflict",
                "A destination for this resource already exists for this application.",
            )
        return AmazonDestination.objects.create(
            client_id=client_id, destination_id=str(uuid.uuid4()), name=name, sqs_arn=arn
        )


def destinations(client_id: str):
    return AmazonDestination.objects.filter(client_id=client_id)


def get_destination(client_id: str, destination_id: str) -> AmazonDestination:
    destination = destinations(client_id).filter(destination_id=destination_id).first()
    if destination is None:
        raise not_found(f"Destination {destination_id} was not found.")
    return destination


# --- subscriptions (the seller's) ------------------------------------------------------------


def _notification_type(value: str) -> str:
    if value not in SUPPORTED_TYPES:
        raise invalid_input(f"Unsupported notification type: {value}.")
    return value


def subscription_json(subscription: AmazonSubscription) -> dict[str, Any]:
    data: dict[str, Any] = {
        "subscriptionId": subscription.subscription_id,
        "payloadVersion": subscription.payload_version,
        "destinationId": subscription.destination.destination_id,
    }
    if subscription.processing_directive:
        data["processingDirective"] = subscription.processing_directive
    return data


def create_subscription(
    seller: AmazonSeller,
    notification_type: str,
    body: Any,
    now: datetime,
    client_id: str = "",
) -> AmazonSubscription:
    """``client_id``: the calling application (the seller's own client, or the application
    the seller authorized): its destinations are the ones a subscription may use."""
    notification_type = _notification_type(notification_type)
    if not isinstance(body, dict):
        raise invalid_input("The request body must be a JSON object.")
    version = body.get("payloadVersion")
    if version not in PAYLOAD_VERSIONS[notification_type]:
        raise invalid_input(f"Unsupported payloadVersion {version!r} for {notification_type}.")
    destination_id = body.get("destinationId")
    destination = (
        destinations(client_id or seller.client_id)
        .filter(destination_id=str(destination_id or ""))
        .first()
    )
    if destination is None:
        raise invalid_input(f"Destination {destination_id!r} was not found.")
    directive = body.get("processingDirective")
    if directive is not None and not isinstance(directive, dict):
        raise invalid_input("processingDirective must be an object.")
    with transaction.atomic():
        seller = AmazonSeller.objects.select_for_update().get(pk=seller.pk)
        if AmazonSubscription.objects.filter(
            seller=seller, notification_type=notification_type
        ).exists():
            raise ApiError(
                409,
                "Conflict",
                f"A subscription for {notification_type} already exists for this seller.",
            )
        # Amazon notifies changes from now on: what is visible now counts as notified.
        services.catch_up_locked(seller, now)
        AmazonOrder.objects.filter(seller=seller, purchase_date__lte=now).filter(
            unnotified()
        ).update(notified_update_date=F("last_update_date"))
        return AmazonSubscription.objects.create(
            seller=seller,
            notification_type=notification_type,
            subscription_id=str(uuid.uuid4()),
            destination=destination,
            payload_version=version,
            processing_directive=directive,
        )


def get_subscription(seller: AmazonSeller, notification_type: str) -> AmazonSubscription:
    notification_type = _notification_type(notification_type)
    subscription = (
        AmazonSubscription.objects.select_related("destination")
        .filter(seller=seller, notification_type=notification_type)
        .first()
    )
    if subscription is None:
        raise not_found(f"No subscription for {notification_type} was found.")
    return subscription


def subscription_by_id(
    seller: AmazonSeller, notification_type: str, subscription_id: str
) -> AmazonSubscription:
    subscription = get_subscription(seller, notification_type)
    if subscription.subscription_id != subscription_id:
        raise not_found(f"Subscription {subscription_id} was not found.")
    return subscription


def delete_subscription(
    seller: AmazonSeller | None, client_id: str, notification_type: str, subscription_id: str
) -> None:
    """By the seller (its own) or grantless by the application (any of its subscriptions)."""
    _notification_type(notification_type)
    found = AmazonSubscription.objects.filter(
        notification_type=notification_type,
        subscription_id=subscription_id,
        destination__client_id=client_id,
    )
    if seller is not None:
        found = found.filter(seller=seller)
    if not found.delete()[0]:
        raise not_found(f"Subscription {subscription_id} was not found.")


# --- ORDER_CHANGE ----------------------------------------------------------------------------


def _ms(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def order_change(
    order: AmazonOrder, subscription: AmazonSubscription, published: datetime
) -> dict[str, Any]:
    """The ORDER_CHANGE notification for the order's latest change (payload version 1.0)."""
    items = list(order.items.all())
    changed_at = order.last_update_date
    buyer_request = next(
        (
            i
            for i in items
            if i.buyer_cancel_requested and i.buyer_cancel_requested_at == changed_at
        ),
        None,
    )
    if buyer_request is not None:
        change_type, reason = "BuyerRequestedChange", "Buyer Requested Cancel"
    elif order.notified_update_date is None:
        change_type, reason = "OrderStatusChange", "New order"
    else:
        change_type, reason = "OrderStatusChange", f"Order status is {order.status}"
    open_statuses = order.status not in ("Pending", "Canceled")
    summary: dict[str, Any] = {
        "MarketplaceId": order.marketplace_id,
        "OrderStatus": order.status,
        "PurchaseDate": _ms(order.purchase_date),
        "DestinationPostalCode": str((order.shipping_address or {}).get("PostalCode") or ""),
        "FulfillmentType": order.fulfillment_channel,
        "OrderType": order.order_type,
        "NumberOfItemsShipped": sum(i.quantity_shipped for i in items),
        "NumberOfItemsUnshipped": sum(i.quantity_open for i in items) if open_statuses else 0,
        "EarliestDeliveryDate": _ms(order.earliest_delivery_date),
        "LatestDeliveryDate": _ms(order.latest_delivery_date),
        "EarliestShipDate": _ms(order.earliest_ship_date),
        "LatestShipDate": _ms(order.latest_ship_date),
        "OrderPrograms": [
            name
            for name, on in (("Business", order.is_business_order), ("Prime", order.is_prime))
            if on
        ],
        "ShippingPrograms": [],
        "OrderItems": [
            {
                "OrderItemId": item.order_item_id,
                "SellerSKU": item.seller_sku,
                # The seller's one (emulated) supply source: where it ships from.
                "SupplySourceId": str(
                    uuid.uuid5(uuid.NAMESPACE_OID, order.seller.selling_partner_id)
                ),
                "OrderItemStatus": "Shipped"
                if item.quantity_shipped and not item.quantity_open
                else "Unshipped",
                "Quantity": item.quantity_ordered,
                "QuantityShipped": item.quantity_shipped,
                "IsBuyerRequestedCancel": item.buyer_cancel_requested,
                "ItemEarliestDeliveryDate": _ms(order.earliest_delivery_date),
                "ItemLatestDeliveryDate": _ms(order.latest_delivery_date),
            }
            for item in items
        ],
    }
    client_id = subscription.destination.client_id
    return {
        "NotificationVersion": NOTIFICATION_VERSION,
        "NotificationType": ORDER_CHANGE,
        "PayloadVersion": subscription.payload_version,
        "EventTime": _ms(changed_at),
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": order.seller.selling_partner_id,
                "AmazonOrderId": order.amazon_order_id,
                "OrderChangeType": change_type,
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": _ms(changed_at),
                    "ChangeReason": reason,
                },
                "Summary": summary,
            }
        },
        "NotificationMetadata": {
            "ApplicationId": application_id(client_id),
            "SubscriptionId": subscription.subscription_id,
            "PublishTime": _ms(published),
            "NotificationId": str(uuid.uuid4()),
        },
    }


def dispatch(queue_arn: str, now: datetime) -> int:
    """Send ORDER_CHANGE for every change not yet notified of the sellers subscribed to the
    queue, up to the emulator's ``now``; returns how many were sent."""
    subscriptions = list(
        AmazonSubscription.objects.select_related("destination", "seller").filter(
            notification_type=ORDER_CHANGE, destination__sqs_arn=queue_arn
        )
    )
    if not subscriptions:
        return 0
    # One query for all of them (this runs several times a second while a queue is polled):
    # the sellers with a change not yet notified, or with events or feeds due.
    seller_ids = [s.seller_id for s in subscriptions]
    busy = set(
        AmazonOrder.objects.filter(seller_id__in=seller_ids)
        .filter(Q(purchase_date__lte=now) & unnotified() | Q(next_event_at__lte=now))
        .values_list("seller_id", flat=True)
        .distinct()
    )
    busy |= set(
        AmazonFeed.objects.filter(seller_id__in=seller_ids, status__in=("IN_QUEUE", "IN_PROGRESS"))
        .filter(Q(start_at__lte=now) | Q(end_at__lte=now))
        .values_list("seller_id", flat=True)
        .distinct()
    )
    sent = 0
    for subscription in subscriptions:
        if subscription.seller_id not in busy:
            continue
        with transaction.atomic():
            seller = AmazonSeller.objects.select_for_update().get(pk=subscription.seller_id)
            services.catch_up_locked(seller, now)
            orders = list(
                AmazonOrder.objects.filter(seller=seller, purchase_date__lte=now)
                .filter(unnotified())
                .select_related("seller")
                .prefetch_related("items")
                .order_by("last_update_date", "id")[:DISPATCH_BATCH]
            )
            bodies = [json.dumps(order_change(o, subscription, now)) for o in orders]
            sqs.send_many(queue_arn, bodies)
            for order in orders:
                order.notified_update_date = order.last_update_date
            services.fast_update(AmazonOrder, orders, ["notified_update_date"])
            sent += len(orders)
    return sent
