"""What refunds contribute to the apps below them, registered from ``RefundsConfig.ready``: the
R6 Finances check on order changes, the order facts only refunds know (refunded on Amazon, the
buyer-cancel answer: ``orders.extensions``), and the refunds section of the order API."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from integrations.shopify import inbound as shopify_inbound
from orders import announcements, api_sections, extensions, shopify_mirror
from orders.models import Order
from refunds.api import RefundSerializer
from refunds.models import BuyerCancelResolution, Refund, RefundOrigin
from refunds.selectors import (
    order_refunds_prefetch,
    order_refunds_section,
    prefetched_refunds,
    refunded_on_amazon,
)
from refunds.services import mirror_amazon_cancellations, reconcile_shopify_refunds
from refunds.shopify_inbound import on_order_cancelled, on_refund_created
from refunds.tasks import schedule_check


def on_order_changes(changes: announcements.OrderChangeSet) -> None:
    """R6: refunds made in Seller Central show in Amazon's Finances events; the changed orders
    Amazon charged are checked by a task, queued only once the orders are committed."""
    schedule_check(changes.merchant_id, changes.changed_order_ids)


def is_refunded_on_amazon(order: Order) -> bool:
    """R6/A4: Amazon reports a refund of this order that was not made in Keelson. From the
    order's refunds when they were read with it (the API's detail), else one query."""
    refunds_read = prefetched_refunds(order)
    if refunds_read is not None:
        return any(refund.origin == RefundOrigin.AMAZON for refund in refunds_read)
    return refunded_on_amazon(order) is not None


def answered_buyer_cancel() -> Q:
    """B4: an answer to the buyer's current request exists (cancelled as asked, or declined)."""
    answers = BuyerCancelResolution.objects.filter(order=OuterRef("pk")).filter(
        Q(requested_at=OuterRef("buyer_cancel_requested_at")) | Q(requested_at__isnull=True)
    )
    return Q(Exists(answers))


def register() -> None:
    extensions.refunded_on_amazon.provide(is_refunded_on_amazon, provider="refunds")
    extensions.answered_buyer_cancel.provide(answered_buyer_cancel, provider="refunds")
    announcements.subscribe(
        "refunds.check_external_refunds",
        on_order_changes,
        when=announcements.ON_COMMIT,
        order=200,
        rule="R6",
        description=_("queue the Finances check of the changed, charged orders"),
    )
    announcements.subscribe(
        "refunds.mirror_amazon_cancellations_to_shopify",
        mirror_amazon_cancellations,
        when=announcements.IN_TRANSACTION,
        order=310,
        rule="R7",
        description=_("cancel in the Shopify store the mirrored orders Amazon cancelled"),
    )
    api_sections.register(
        "refunds",
        RefundSerializer,
        order_refunds_section,
        prefetch=order_refunds_prefetch,
        rows_of=Refund,
    )
    # Refunds and cancellations made in the merchant's Shopify admin (R6, R7).
    shopify_inbound.register("refunds/create", "refunds.from_shopify", on_refund_created)
    shopify_inbound.register("orders/cancelled", "refunds.cancel_from_shopify", on_order_cancelled)
    # Refunds the store lacks (made before the order was mirrored): the reconcile.
    shopify_mirror.register_reconciler("refunds", reconcile_shopify_refunds)
