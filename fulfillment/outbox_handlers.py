"""Outbox handlers of the fulfillment app (registered at start-up, see integrations.apps):

- ``amazon.confirm_shipment``: confirmShipment for one package (rule R3) through our Amazon
  gateway; the package reference is the fulfillment's, so a resent message is the same package.
- ``fulfillment.callback``: a signed POST to the service's callback URL (api.md): the body
  ``{"kind", "fulfillment_order", "merchant", "message"}``, ``X-Keelson-Signature`` (hex
  HMAC-SHA256 of the raw body with the service's secret) and ``X-Keelson-Delivery`` (the
  message's idempotency key: unique, and the same on every retry).
- ``shopify.create_fulfillment``: fulfillmentCreate on the order's mirror in the merchant's
  Shopify store (R3), by SKU onto its fulfillment order lines, with the tracking, the buyer not
  notified (R4); exactly once: the order's fulfillments in Shopify are read first, and one
  with the same tracking number is ours already. While the order is not in Shopify yet, the
  delivery waits (a transient failure, retried with back-off).
"""

from __future__ import annotations

import requests

from foundation.text import N_
from fulfillment.callbacks import (
    CALLBACK_TIMEOUT,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    callback_body,
    network_problem,
    post_signed,
    sign,
)
from fulfillment.models import FulfillmentService
from fulfillment.services import (
    AMAZON_ACTOR,
    SHOPIFY_FULFILLMENT_KIND,
    _event,
    record_amazon_confirmation,
    record_connection,
    record_shopify_fulfillment,
)
from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import (
    AmazonAuthFailed,
    AmazonError,
    AmazonPermanentError,
    AmazonThrottled,
    parse_datetime,
)
from integrations.outbox.errors import (
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from integrations.outbox.registry import Handler, register
from integrations.shopify import delivery as shopify_delivery
from integrations.shopify.errors import ShopifyError
from integrations.shopify.records import LineQuantity, TrackingInfo
from orders.models import EventKind, Order
from orders.shopify_mirror import order_in_store
from tenants.models import AmazonAccount

# Re-exported: the bot's tests sign and check with the same functions (fulfillment.callbacks).
__all__ = ["CALLBACK_TIMEOUT", "DELIVERY_HEADER", "SIGNATURE_HEADER", "callback_body", "sign"]


# --- Amazon ----------------------------------------------------------------------------------


def _confirm(message) -> dict:

    payload = message.payload
    account = AmazonAccount.objects.filter(pk=payload["account"]).first()
    if account is None:
        raise PermanentDeliveryError("The order's Amazon account is gone.", code="no_account")
    try:
        gateway_for_delivery(account).confirm_shipment(
            payload["amazon_order_id"],
            marketplace_id=payload["marketplace_id"],
            package_reference_id=payload["package_reference_id"],
            carrier_code=payload["carrier_code"],
            carrier_name=payload.get("carrier_name", ""),
            tracking_number=payload["tracking_number"],
            ship_date=parse_datetime(payload["ship_date"]),
            items=[(item_id, int(qty)) for item_id, qty in payload["items"]],
        )
    except AmazonThrottled as exc:
        raise ThrottledDeliveryError(
            f"Amazon throttled: {exc.message}", code="amazon_throttled", retry_after=exc.retry_after
        ) from exc
    except (AmazonPermanentError, AmazonAuthFailed) as exc:
        # Amazon refused this request, or the seller's authorisation is gone: a person must
        # act (then "retry" in the portal, or the bulk confirmation).
        raise PermanentDeliveryError(
            f"Amazon refused the confirmation: {exc.message}", code=exc.code or "amazon_refused"
        ) from exc
    except AmazonError as exc:
        raise TransientDeliveryError(
            f"Amazon: {exc.message}", code=exc.code or "amazon_unavailable"
        ) from exc
    return {
        "package_reference_id": payload["package_reference_id"],
        "amazon_order_id": payload["amazon_order_id"],
        "ship_date": payload["ship_date"],
    }


def _confirmed(message, result: dict) -> None:

    record_amazon_confirmation(message.payload["fulfillment"], ok=True)
    order = Order.objects.get(pk=message.order_id)
    payload = message.payload
    items = ", ".join(f"{item} × {qty}" for item, qty in payload["items"])
    _event(
        order,
        EventKind.SHIPMENT_CONFIRMED,
        N_(
            "Amazon confirmed the shipment of package %(value)s (%(items)s; %(value2)s "
            "%(value3)s, shipped %(value4)s).",
            value=payload["package_reference_id"],
            items=items,
            value2=payload["carrier_name"] or payload["carrier_code"],
            value3=payload["tracking_number"],
            value4=payload["ship_date"],
        ),
        AMAZON_ACTOR,
        {
            "fulfillment": payload["fulfillment"],
            "outbox_message": message.pk,
            "attempts": message.attempts,
            "rule": "R3",
        },
    )


def _confirmation_failed(message, error: DeliveryError) -> None:

    record_amazon_confirmation(message.payload["fulfillment"], ok=False, error=error.message)


register(
    Handler(
        kind="amazon.confirm_shipment",
        send=_confirm,
        destination="Amazon",
        on_sent=_confirmed,
        on_failed=_confirmation_failed,
        describe_sent=lambda message, result: None,  # _confirmed writes the event
        describe_failed=lambda message, error: (
            "Amazon did not confirm the shipment of package "
            f"{message.payload['package_reference_id']} after {message.attempts} attempt(s): "
            f"{error.message} Retry it from the order list (Confirm shipment on Amazon)."
        ),
    )
)


# --- callbacks to fulfillment services -------------------------------------------------------


def _callback(message) -> dict:

    service = FulfillmentService.objects.filter(pk=message.payload["service"]).first()
    if service is None or not service.is_active:
        raise PermanentDeliveryError("The fulfillment service is gone.", code="no_service")
    if not service.callback_url:
        raise PermanentDeliveryError("The service has no callback URL.", code="no_callback_url")
    try:
        response = post_signed(
            service.callback_url,
            service.signing_secret,
            message.payload["body"],
            message.idempotency_key,
        )
    except requests.RequestException as exc:
        _code, text = network_problem(exc, service.callback_url, CALLBACK_TIMEOUT)
        raise TransientDeliveryError(text, code="network_error") from exc
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After")
        try:
            wait = float(retry_after) if retry_after else None
        except ValueError:
            wait = None
        raise TransientDeliveryError(
            f"HTTP {response.status_code}", code=f"http_{response.status_code}", retry_after=wait
        )
    if response.status_code >= 400:
        raise PermanentDeliveryError(
            f"HTTP {response.status_code}: {response.text[:200]}",
            code=f"http_{response.status_code}",
        )
    return {"status": response.status_code, "service": service.name}


def _describe_callback(message, result: dict) -> str:
    body = message.payload["body"]
    what = body["kind"].replace("_", " ")
    return (
        f"{result.get('service', 'The service')} received the {what} for fulfillment order "
        f"#{body['fulfillment_order']} (attempt {message.attempts})."
    )


register(
    Handler(
        kind="fulfillment.callback",
        send=_callback,
        destination="the fulfillment service",
        # A real callback's outcome is the service's connection state too (the portal's list).
        on_sent=lambda message, result: record_connection(message.payload["service"], ok=True),
        on_failed=lambda message, error: record_connection(
            message.payload["service"], ok=False, error=error.message
        ),
        describe_sent=_describe_callback,
    )
)


# --- the Shopify mirror ----------------------------------------------------------------------


def _mirror_fulfillment(message) -> dict:
    payload = message.payload
    store = shopify_delivery.store_for_delivery(int(payload["store"]))
    order = Order.objects.filter(pk=message.order_id).first()
    if order is None:
        raise PermanentDeliveryError("The order is gone.", code="no_order")
    tracking_number = payload.get("tracking_number") or ""
    gateway = shopify_delivery.gateway_for_delivery(store)
    try:
        mirrored = order_in_store(order, store, gateway, what="the fulfillment")
        if tracking_number:
            for existing in mirrored.fulfillments or ():
                if any(t.number == tracking_number for t in existing.tracking):
                    return _result(store, order, existing.id, tracking_number, found=True)
        fulfillment_id = gateway.create_fulfillment(
            order.shopify_order_id,
            [LineQuantity(sku, int(qty)) for sku, qty in payload["lines"]],
            TrackingInfo(company=payload.get("carrier") or "", number=tracking_number),
        )
    except ShopifyError as exc:
        shopify_delivery.plain_error(exc, store)
        raise
    return _result(store, order, fulfillment_id, tracking_number, found=False)


def _result(store, order, fulfillment_id: str, tracking: str, *, found: bool) -> dict:
    return {
        "shopify_fulfillment_id": fulfillment_id,
        "shopify_order_id": order.shopify_order_id,
        "order_name": order.shopify_order_name,
        "store": store.shop_domain,
        "tracking_number": tracking,
        "found_existing": found,
    }


def _describe_fulfillment_mirrored(message, result: dict) -> str:
    tracking = result.get("tracking_number")
    how = " (it was there already)" if result.get("found_existing") else ""
    return (
        f"Fulfillment #{message.payload['fulfillment']} written to Shopify order "
        f"{result.get('order_name') or result['shopify_order_id']} in {result['store']}"
        f"{', tracking ' + tracking if tracking else ''}{how}; the buyer was not notified (R4)."
    )


register(
    Handler(
        kind=SHOPIFY_FULFILLMENT_KIND,
        send=_mirror_fulfillment,
        destination=shopify_delivery.DESTINATION,
        on_sent=lambda message, result: record_shopify_fulfillment(
            int(message.payload["fulfillment"]), result["shopify_fulfillment_id"]
        ),
        describe_sent=_describe_fulfillment_mirrored,
        describe_failed=lambda message, error: (
            f"Fulfillment #{message.payload['fulfillment']} not written to Shopify after "
            f"{message.attempts} attempt(s): {error.message}"
        ),
    )
)
