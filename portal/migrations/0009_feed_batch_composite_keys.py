"""Amazon's feed batches (integrations 0007) keyed for distribution by merchant like the other
tenant tables (0006_tenant_composite_keys, docs/scaling.md): primary key (merchant_id, id) and
composite foreign keys to the account, the batch and the outbox message."""

from django.db import migrations

TABLES = ["integrations_amazonfeedbatch", "integrations_amazonfeedmessage"]

# (table, column, referenced table)
FOREIGN_KEYS = [
    ("integrations_amazonfeedbatch", "account_id", "tenants_amazonaccount"),
    ("integrations_amazonfeedmessage", "batch_id", "integrations_amazonfeedbatch"),
    ("integrations_amazonfeedmessage", "outbox_message_id", "integrations_outboxmessage"),
]


def _fk_name(table: str, column: str) -> str:
    return f"{table}_{column}_tenant_fk"[:63]


def forward_sql() -> list[str]:
    sql = []
    for table in TABLES:
        sql += [
            f'CREATE INDEX "{table}_id_idx" ON "{table}" ("id")',
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"',
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("merchant_id", "id")',
        ]
    for table, column, target in FOREIGN_KEYS:
        sql.append(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{_fk_name(table, column)}" '
            f'FOREIGN KEY ("merchant_id", "{column}") REFERENCES "{target}" ("merchant_id", "id") '
            "DEFERRABLE INITIALLY DEFERRED"
        )
    return sql


def reverse_sql() -> list[str]:
    sql = [
        f'ALTER TABLE "{table}" DROP CONSTRAINT "{_fk_name(table, column)}"'
        for table, column, _ in FOREIGN_KEYS
    ]
    for table in TABLES:
        sql += [
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"',
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("id")',
            f'DROP INDEX "{table}_id_idx"',
        ]
    return sql


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0008_translatable_labels"),
        ("integrations", "0007_amazon_feed_batches"),
    ]

    operations = [migrations.RunSQL(forward_sql(), reverse_sql(), elidable=False)]
