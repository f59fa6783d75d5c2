"""Outbox handlers of the orders app (registered at start-up, see integrations.apps):

- ``amazon.subscribe_order_changes``: the account's ORDER_CHANGE notifications to our SQS queue
  (``orders/order_changes.py``): the application's destination for the queue, then the seller's
  subscription. Idempotent on Amazon's side too: a resent message finds both in place.
"""

from __future__ import annotations

from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import AmazonAuthFailed, AmazonError, AmazonPermanentError
from integrations.amazon.queue import address
from integrations.outbox.errors import PermanentDeliveryError, TransientDeliveryError
from integrations.outbox.registry import Handler, register
from orders import order_changes
from tenants.models import AmazonAccount


def _subscribe(message) -> dict:
    payload = message.payload
    account = AmazonAccount.objects.filter(pk=payload["account"]).first()
    if account is None:
        raise PermanentDeliveryError("The Amazon account is gone.", code="no_account")
    queue_arn = address(payload["queue_url"]).arn
    try:
        subscription_id = gateway_for_delivery(account).ensure_subscription(
            order_changes.ORDER_CHANGE, queue_arn, order_changes.DESTINATION_NAME
        )
    except (AmazonPermanentError, AmazonAuthFailed) as exc:
        raise PermanentDeliveryError(
            f"Amazon refused the ORDER_CHANGE subscription: {exc.message}",
            code=exc.code or "amazon_refused",
        ) from exc
    except AmazonError as exc:  # throttled or unavailable: the outbox retries with backoff
        raise TransientDeliveryError(
            f"Amazon: {exc.message}",
            code=exc.code or "amazon_unavailable",
            retry_after=getattr(exc, "retry_after", None),
        ) from exc
    return {"account": account.pk, "subscription_id": subscription_id, "queue_arn": queue_arn}


def _subscribed(message, result: dict) -> None:
    order_changes.record_subscription(
        result["account"], result["subscription_id"], result["queue_arn"]
    )


register(
    Handler(
        kind=order_changes.SUBSCRIBE_KIND,
        send=_subscribe,
        destination="Amazon",
        on_sent=_subscribed,
    )
)
