# Indexes that another index of the same table already serves, written for every order, line
# and event the sync inserts (issue 14, docs/benchmarks.md "Sync: ingest"):
#
# - orders_order (merchant_id) and order_merchant_id_desc (merchant_id, id DESC): the primary
#   key (merchant_id, id) serves both, read backwards for the newest first;
# - orders_orderline (merchant_id), orders_orderevent (merchant_id): their primary keys;
# - orders_orderevent (order_id): the timeline's order_event_timeline (order_id, created_at).
#
# Dropped concurrently: the orders tables are the largest, and a plain DROP INDEX would wait for
# (and then block) the sync's writes. Only the indexes go: the foreign keys stay as they are
# (an AlterField of the merchant key would drop and re-add its constraint, re-checking every
# row), so the field changes are Django's state only.

import django.db.models.deletion
from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations, models

import tenants.models

# (index, table, column) of the foreign keys' own indexes, as Django named them (0001).
FOREIGN_KEY_INDEXES = [
    ("orders_order_merchant_id_ab634f2d", "orders_order", "merchant_id"),
    ("orders_orderline_merchant_id_155545dd", "orders_orderline", "merchant_id"),
    ("orders_orderevent_merchant_id_2228f7ac", "orders_orderevent", "merchant_id"),
    ("orders_orderevent_order_id_b26297f3", "orders_orderevent", "order_id"),
]


def merchant_key() -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name="+",
        to="tenants.merchant",
        verbose_name="merchant",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0013_order_at_risk_indexes"),
        ("tenants", "0006_translatable_labels"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="order", name="order_merchant_id_desc"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"',
                    reverse_sql=(
                        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                        f'ON "{table}" ("{column}")'
                    ),
                )
                for index, table, column in FOREIGN_KEY_INDEXES
            ],
            state_operations=[
                migrations.AlterField(model_name="order", name="merchant", field=merchant_key()),
                migrations.AlterField(
                    model_name="orderline", name="merchant", field=merchant_key()
                ),
                migrations.AlterField(
                    model_name="orderevent", name="merchant", field=merchant_key()
                ),
                migrations.AlterField(
                    model_name="orderevent",
                    name="order",
                    field=tenants.models.TenantForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="orders.order",
                        verbose_name="order",
                    ),
                ),
            ],
        ),
    ]
