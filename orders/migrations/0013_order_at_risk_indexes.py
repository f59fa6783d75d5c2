# The API's at_risk filter reads the at-risk orders through two partial indexes, one per half
# of its condition (issue 14, docs/benchmarks.md "API at scale"). Built concurrently: the
# orders table is the largest, and a plain CREATE INDEX would block the sync's writes.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0012_order_line_tax_split"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                condition=models.Q(("confirm_by__isnull", False), ("warned_at__isnull", False)),
                fields=["merchant", "-id"],
                name="order_merchant_warned",
            ),
        ),
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                condition=models.Q(("confirm_by__isnull", False), ("warned_at__isnull", True)),
                fields=["merchant", "warn_at"],
                name="order_merchant_warn_due",
            ),
        ),
    ]
