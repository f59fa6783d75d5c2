"""Amazon's feed batches (integrations 0007) keyed for distribution by merchant like the other
tenant tables (0006_tenant_composite_keys, docs/scaling.md): primary key (merchant_id, id) and
composite foreign keys to the account, the batch and the outbox message."""

from django.db import migrations

from tenants import composite_keys

TABLES = ["integrations_amazonfeedbatch", "integrations_amazonfeedmessage"]

# (table, column, referenced table)
FOREIGN_KEYS = [
    ("integrations_amazonfeedbatch", "account_id", "tenants_amazonaccount"),
    ("integrations_amazonfeedmessage", "batch_id", "integrations_amazonfeedbatch"),
    ("integrations_amazonfeedmessage", "outbox_message_id", "integrations_outboxmessage"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0008_translatable_labels"),
        ("integrations", "0007_amazon_feed_batches"),
    ]

    operations = [
        migrations.RunSQL(
            composite_keys.forward_sql(TABLES, FOREIGN_KEYS),
            composite_keys.reverse_sql(TABLES, FOREIGN_KEYS),
            elidable=False,
        )
    ]
