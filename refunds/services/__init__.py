"""Write use cases of the refunds app (rules R6, R7, R8, B4, B5, F3, A4, A5).

Each public function is one use case: one transaction, the order row locked first
(``select_for_update``: concurrent refunds of one order queue there, so together they can never
refund more than was paid), the order's state decided by ``orders/policy.py`` (the decisions the
portal and ``allowed_actions`` show), the amounts by ``refunds/policy.py``, a timeline event for
what happened, and an outbox message for what Amazon must be told. Domain errors carry api.md's
codes (refunds/errors.py).

Sending to Amazon (refunds/amazon.py, through the outbox) reports back here:
``mark_sending``/``record_feed_submitted`` while it works, then ``refund_succeeded`` or
``refund_failed`` (or ``hold_refund`` while the account is not connected, rule R8).

The use cases live in modules by group (``base``, ``create``, ``cancellations``, ``sending``,
``external``); this package exports the public ones.
"""

from __future__ import annotations

from refunds.services.base import (
    ALREADY_REFUNDED,
    AMAZON,
    AMAZON_CANCEL_KIND,
    AMAZON_MAX_ATTEMPTS,
    AMAZON_REFUND_KIND,
    ON_HOLD,
    Actor,
    amazon_hold_reason,
    refresh_financial_status,
)
from refunds.services.cancellations import cancel_order, decline_buyer_cancellation
from refunds.services.create import ask_for_tax_split, create_refund
from refunds.services.external import (
    ExternalRefundsResult,
    check_before_sending,
    record_external_refunds,
)
from refunds.services.sending import (
    hold_refund,
    mark_sending,
    record_feed_status,
    record_feed_submitted,
    refund_failed,
    refund_succeeded,
    send_again,
)
from refunds.services.shopify import (
    SHOPIFY_AMAZON_CANCELLATION_KIND,
    SHOPIFY_CANCEL_KIND,
    SHOPIFY_REFUND_KIND,
    enqueue_shopify_mirror,
    mirror_amazon_cancellations,
    reconcile_shopify_refunds,
    shopify_failed,
    shopify_message_key,
    shopify_synced,
)

__all__ = [
    "ALREADY_REFUNDED",
    "AMAZON",
    "AMAZON_CANCEL_KIND",
    "AMAZON_MAX_ATTEMPTS",
    "AMAZON_REFUND_KIND",
    "ON_HOLD",
    "SHOPIFY_AMAZON_CANCELLATION_KIND",
    "SHOPIFY_CANCEL_KIND",
    "SHOPIFY_REFUND_KIND",
    "Actor",
    "ExternalRefundsResult",
    "amazon_hold_reason",
    "ask_for_tax_split",
    "cancel_order",
    "check_before_sending",
    "create_refund",
    "decline_buyer_cancellation",
    "enqueue_shopify_mirror",
    "hold_refund",
    "mark_sending",
    "mirror_amazon_cancellations",
    "reconcile_shopify_refunds",
    "record_external_refunds",
    "record_feed_status",
    "record_feed_submitted",
    "refresh_financial_status",
    "refund_failed",
    "refund_succeeded",
    "send_again",
    "shopify_failed",
    "shopify_message_key",
    "shopify_synced",
]
