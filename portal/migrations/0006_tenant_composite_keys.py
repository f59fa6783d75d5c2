"""Tenant tables keyed for distribution by merchant (Citus; docs/scaling.md).

Every distributable tenant-owned table gets the primary key ``(merchant_id, id)`` and every
foreign key between two of them becomes ``(merchant_id, <x>_id) -> (merchant_id, id)``: a row can
only point at a row of its own merchant, and all of one merchant's rows can live on one node.
Django keeps ``id`` as the model's primary key (it cannot point a ForeignKey at a composite key);
the fields are ``TenantForeignKey``/``TenantOneToOneField`` (``db_constraint=False``: Django
makes no constraint of its own, this migration makes the composite one). ``id`` stays an
identity column (one sequence: unique in practice) with a plain index for lookups by id.

It lives in the portal, the top app, because it must run after every app's foreign keys to
these tables are gone (their ``tenant_foreign_keys`` migrations). The tables left out are
listed, with reasons, in tests/test_citus_readiness.py.
"""

from django.db import migrations

from tenants import composite_keys

# Tables whose primary key becomes (merchant_id, id).
TABLES = [
    "tenants_amazonaccount",
    "tenants_shopifystore",
    "orders_order",
    "orders_orderline",
    "orders_orderevent",
    "orders_amazonsyncstate",
    "fulfillment_fulfillmentlocation",
    "fulfillment_fulfillmentorder",
    "fulfillment_fulfillmentorderline",
    "fulfillment_fulfillment",
    "fulfillment_fulfillmentline",
    "refunds_refund",
    "refunds_refundline",
    "refunds_buyercancelresolution",
    "integrations_outboxmessage",
    "integrations_shopifywebhookreceipt",
    "notifications_notification",
    "notifications_notificationrecipient",
    "portal_bulkjobitem",
]

# (table, column, referenced table): the foreign keys made composite.
FOREIGN_KEYS = [
    ("orders_order", "amazon_account_id", "tenants_amazonaccount"),
    ("orders_orderline", "order_id", "orders_order"),
    ("orders_orderevent", "order_id", "orders_order"),
    ("orders_amazonsyncstate", "account_id", "tenants_amazonaccount"),
    ("fulfillment_fulfillmentorder", "order_id", "orders_order"),
    ("fulfillment_fulfillmentorderline", "fulfillment_order_id", "fulfillment_fulfillmentorder"),
    ("fulfillment_fulfillmentorderline", "order_line_id", "orders_orderline"),
    ("fulfillment_fulfillment", "order_id", "orders_order"),
    ("fulfillment_fulfillment", "fulfillment_order_id", "fulfillment_fulfillmentorder"),
    ("fulfillment_fulfillmentline", "fulfillment_id", "fulfillment_fulfillment"),
    ("fulfillment_fulfillmentline", "order_line_id", "orders_orderline"),
    ("fulfillment_fulfillmentline", "fulfillment_order_line_id", "fulfillment_fulfillmentorderline"),
    ("refunds_refund", "order_id", "orders_order"),
    ("refunds_refundline", "refund_id", "refunds_refund"),
    ("refunds_refundline", "order_line_id", "orders_orderline"),
    ("refunds_buyercancelresolution", "order_id", "orders_order"),
    ("refunds_buyercancelresolution", "refund_id", "refunds_refund"),
    ("integrations_outboxmessage", "order_id", "orders_order"),
    ("integrations_shopifywebhookreceipt", "store_id", "tenants_shopifystore"),
    ("notifications_notification", "order_id", "orders_order"),
    ("notifications_notificationrecipient", "notification_id", "notifications_notification"),
    ("portal_bulkjobitem", "order_id", "orders_order"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_tenant_foreign_keys"),
        ("orders", "0010_tenant_foreign_keys"),
        ("fulfillment", "0005_tenant_foreign_keys"),
        ("refunds", "0004_tenant_foreign_keys"),
        ("integrations", "0005_tenant_foreign_keys"),
        ("notifications", "0004_tenant_foreign_keys"),
    ]

    operations = [
        migrations.RunSQL(
            composite_keys.forward_sql(TABLES, FOREIGN_KEYS),
            composite_keys.reverse_sql(TABLES, FOREIGN_KEYS),
            elidable=False,
        )
    ]
