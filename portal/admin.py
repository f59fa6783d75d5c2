"""The portal's site assembled: every app defines its portal ModelAdmins (and the mixins with
which it adds to another app's page); the portal, on top of them all, composes and registers
them here. No app below imports the portal.

The order admin is orders' base with fulfillment's and refunds' parts mixed in, and the portal's
own saved views and bulk jobs on top (portal/order_list_admin.py); the Amazon
account admin is tenants' connection page with orders' connect flow (Seller Central's consent),
test, disconnect and sync actions; the Shopify store admin is tenants' page with integrations'
connect form and its test and disconnect actions; the fulfillment-service admin is
fulfillment's own page (fulfillment/service_admin.py).
"""

from __future__ import annotations

from fulfillment.admin import (
    AmazonConfirmationFilter,
    FulfillmentOrderPortalAdmin,
    OrderFulfillmentAdminMixin,
)
from fulfillment.models import FulfillmentOrder, FulfillmentService
from fulfillment.service_admin import FulfillmentServicePortalAdmin
from integrations.admin import OutboxMessagePortalAdmin, ShopifyStoreConnectionAdminMixin
from integrations.outbox.models import OutboxMessage
from orders import admin as orders_admin
from orders.admin_connections import AmazonAccountConnectionAdminMixin
from orders.admin_filters import AttentionFilter, ConfirmByOnFilter, PurchasedOnFilter
from orders.models import Order
from portal.order_list_admin import BulkJobActionsMixin, SavedViewsAdminMixin
from portal.site import portal_site
from refunds.admin import OrderRefundsAdminMixin, RefundPortalAdmin
from refunds.models import Refund
from tenants import admin as tenants_admin
from tenants.models import AmazonAccount, ApiKey, Merchant, ShopifyStore


class OrderPortalAdmin(
    SavedViewsAdminMixin,
    BulkJobActionsMixin,
    OrderRefundsAdminMixin,
    OrderFulfillmentAdminMixin,
    orders_admin.OrderPortalAdmin,
):
    list_display = [*orders_admin.OrderPortalAdmin.list_display, "amazon_confirmations"]
    list_filter = [
        AttentionFilter,
        "status",
        "fulfillment_status",
        "buyer_cancel_requested",
        AmazonConfirmationFilter,
        "channel",
        # The dashboard charts' days (shown only while one is chosen).
        PurchasedOnFilter,
        ConfirmByOnFilter,
    ]
    # Both run as background jobs with a progress page (portal/bulk_jobs.py).
    actions = ["confirm_shipments_on_amazon", "request_fulfillment_in_bulk"]


class AmazonAccountPortalAdmin(
    AmazonAccountConnectionAdminMixin,
    orders_admin.AmazonAccountSyncActionsMixin,
    tenants_admin.AmazonAccountPortalAdmin,
):
    actions = ["sync_now", "rerun_backfill", "test_connection", "disconnect"]


class ShopifyStorePortalAdmin(
    ShopifyStoreConnectionAdminMixin, tenants_admin.ShopifyStorePortalAdmin
):
    actions = ["test_connection", "disconnect"]


portal_site.register(Merchant, tenants_admin.MerchantPortalAdmin)
portal_site.register(AmazonAccount, AmazonAccountPortalAdmin)
portal_site.register(ShopifyStore, ShopifyStorePortalAdmin)
portal_site.register(ApiKey, tenants_admin.ApiKeyPortalAdmin)
portal_site.register(Order, OrderPortalAdmin)
portal_site.register(FulfillmentOrder, FulfillmentOrderPortalAdmin)
portal_site.register(FulfillmentService, FulfillmentServicePortalAdmin)
portal_site.register(Refund, RefundPortalAdmin)
portal_site.register(OutboxMessage, OutboxMessagePortalAdmin)
