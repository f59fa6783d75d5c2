"""Outbox handlers of the refunds app (registered at start-up, see integrations.apps):

- ``amazon.refund``: a refund, as a payment-adjustment feed (POST_PAYMENT_ADJUSTMENT_DATA);
- ``amazon.cancel_order``: a cancellation, as an order-acknowledgement feed
  (POST_ORDER_ACKNOWLEDGEMENT_DATA, StatusCode Failure, with the cancel reason).

Both do refunds/amazon.py's work; the outcome is written by refunds.services in the outbox's
transaction (on_sent, on_failed), which also writes the timeline, so the outbox writes none.
"""

from __future__ import annotations

from integrations.outbox.errors import DeliveryError, PermanentDeliveryError
from integrations.outbox.registry import Handler, register
from refunds import amazon, services


def _send(message) -> dict:
    return amazon.deliver(int(message.payload["refund"]))


def _sent(message, result: dict) -> None:
    services.refund_succeeded(int(message.payload["refund"]), result)


def _failed(message, error: DeliveryError) -> None:
    services.refund_failed(
        int(message.payload["refund"]),
        error.code,
        error.message,
        final=isinstance(error, PermanentDeliveryError),
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
