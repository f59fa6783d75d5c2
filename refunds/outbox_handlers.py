"""Outbox handlers of the refunds app (registered at start-up, see integrations.apps):

- ``amazon.refund``: a refund, as a message of a payment-adjustment feed
  (POST_PAYMENT_ADJUSTMENT_DATA) shared with the account's other pending refunds;
- ``amazon.cancel_order``: a cancellation, as a message of an order-acknowledgement feed
  (POST_ORDER_ACKNOWLEDGEMENT_DATA, StatusCode Failure, with the cancel reason).

Both do refunds/amazon.py's work; the outcome is written by refunds.services in the outbox's
transaction (on_sent, on_failed), which also writes the timeline, so the outbox writes none.

- ``shopify.refund``, ``shopify.cancel_order``: the refund or cancellation written to the
  order's mirror in the merchant's Shopify store once Amazon accepted it (refunds/shopify.py);
  ``Refund.shopify_sync`` is set in the outbox's transaction.
"""

from __future__ import annotations

from integrations.amazon import feed_batches
from integrations.outbox.errors import DeliveryError, PermanentDeliveryError
from integrations.outbox.registry import Handler, register
from integrations.shopify.delivery import DESTINATION as SHOPIFY
from refunds import amazon, services, shopify


def _send(message) -> dict:
    return amazon.deliver(message)


def _sent(message, result: dict) -> None:
    services.refund_succeeded(int(message.payload["refund"]), result)


def _failed(message, error: DeliveryError) -> None:
    services.refund_failed(
        int(message.payload["refund"]),
        error.code,
        error.message,
        final=isinstance(error, PermanentDeliveryError),
        may_be_on_amazon=feed_batches.was_sent(message),
    )


for kind in (services.AMAZON_REFUND_KIND, services.AMAZON_CANCEL_KIND):
    register(
        Handler(
            kind=kind,
            send=_send,
            destination="Amazon",
            on_sent=_sent,
            on_failed=_failed,
            describe_sent=lambda message, result: None,
            describe_failed=lambda message, error: None,
        )
    )


def _send_to_shopify(message) -> dict:
    return shopify.deliver(int(message.payload["refund"]), int(message.payload["store"]))


def _describe_shopify(message, result: dict) -> str:
    what = "Cancellation" if message.kind == services.SHOPIFY_CANCEL_KIND else "Refund"
    how = " (it was there already)" if result.get("found_existing") else ""
    return (
        f"{what} #{message.payload['refund']} written to Shopify order "
        f"{result.get('order_name') or result.get('shopify_order_id')} in {result['store']}"
        f"{how}; the buyer was not notified (R4)."
    )


for kind in (services.SHOPIFY_REFUND_KIND, services.SHOPIFY_CANCEL_KIND):
    register(
        Handler(
            kind=kind,
            send=_send_to_shopify,
            destination=SHOPIFY,
            on_sent=lambda message, result: services.shopify_synced(
                int(message.payload["refund"]), result
            ),
            on_failed=lambda message, error: services.shopify_failed(
                int(message.payload["refund"]), error.message
            ),
            describe_sent=_describe_shopify,
            describe_failed=lambda message, error: None,  # shopify_failed writes the event
        )
    )


def _describe_amazon_cancellation(message, result: dict) -> str:
    how = " (it was cancelled there already)" if result.get("found_existing") else ""
    return (
        f"Shopify order {result.get('order_name') or result.get('shopify_order_id')} in "
        f"{result['store']} cancelled, as Amazon cancelled the order{how}; the buyer was not "
        "notified (R4)."
    )


register(
    Handler(
        kind=services.SHOPIFY_AMAZON_CANCELLATION_KIND,
        send=lambda message: shopify.deliver_amazon_cancellation(
            int(message.payload["order"]), int(message.payload["store"])
        ),
        destination=SHOPIFY,
        describe_sent=_describe_amazon_cancellation,
        describe_failed=lambda message, error: (
            f"The Amazon cancellation was not written to Shopify after {message.attempts} "
            f"attempt(s): {error.message}"
        ),
    )
)
