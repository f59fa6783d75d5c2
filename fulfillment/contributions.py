"""What fulfillment contributes to the apps below it, registered from ``FulfillmentConfig.ready``:
its subscriber to order changes (F2) and its sections of the order API's detail."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from fulfillment.models import Fulfillment, FulfillmentOrder
from fulfillment.selectors import order_fulfillment_orders, order_fulfillments
from fulfillment.serializers import FulfillmentOrderSerializer, FulfillmentSerializer
from fulfillment.services import reconcile_shopify_fulfillments, sync_fulfillment_orders
from fulfillment.shopify_inbound import on_fulfillment_created
from integrations.shopify import inbound as shopify_inbound
from orders import announcements, api_sections, shopify_mirror


def on_order_changes(changes: announcements.OrderChangeSet) -> None:
    """F2: the fulfillment status follows Amazon's shipped quantities; fulfillment orders for
    the merchant's services (held while Pending, A1); a new Unshipped order requested at once
    when automatic fulfillment is on. In the upsert's transaction: these rows commit with the
    orders or not at all."""
    sync_fulfillment_orders(changes.changed_order_ids, merchant_ids=[changes.merchant_id])


def register() -> None:
    announcements.subscribe(
        "fulfillment.sync_fulfillment_orders",
        on_order_changes,
        when=announcements.IN_TRANSACTION,
        order=100,
        rule="F2",
        description=_("fulfillment status and fulfillment orders follow Amazon's order"),
    )
    api_sections.register(
        "fulfillment_orders",
        FulfillmentOrderSerializer,
        order_fulfillment_orders,
        rows_of=FulfillmentOrder,
    )
    api_sections.register(
        "fulfillments", FulfillmentSerializer, order_fulfillments, rows_of=Fulfillment
    )
    # A fulfillment made in the merchant's Shopify admin (R3: confirmed on Amazon).
    shopify_inbound.register(
        "fulfillments/create", "fulfillment.from_shopify", on_fulfillment_created
    )
    # Fulfillments the store lacks (made before the order was mirrored): the reconcile.
    shopify_mirror.register_reconciler("fulfillments", reconcile_shopify_fulfillments)
