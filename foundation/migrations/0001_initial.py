"""IdempotencyRecord moves here from the portal app (portal 0001 created its table, which keeps
its name). State only: no table is created, dropped or renamed."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0001_initial"),
        ("tenants", "0002_row_level_security"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        ("request_fingerprint", models.CharField(max_length=64)),
                        ("method", models.CharField(max_length=10)),
                        ("path", models.CharField(max_length=2048)),
                        (
                            "response_status",
                            models.PositiveSmallIntegerField(blank=True, null=True),
                        ),
                        ("response_content_type", models.CharField(blank=True, max_length=100)),
                        ("response_headers", models.JSONField(blank=True, default=dict)),
                        ("response_body", models.BinaryField(default=b"")),
                        ("created_at", models.DateTimeField()),
                        ("expires_at", models.DateTimeField()),
                        (
                            "api_key",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="tenants.apikey",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "portal_idempotencyrecord",
                        "indexes": [
                            models.Index(fields=["expires_at"], name="idempotency_expires")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("api_key", "key"), name="idempotency_unique_key"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
