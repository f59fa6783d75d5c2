# The API's at_risk filter pages through a merchant's unconfirmed orders only (issue 14,
# docs/benchmarks.md "API at scale"). Built concurrently: the orders table is the largest, and
# a plain CREATE INDEX would block the sync's writes while it builds.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0008_shopify_mirror"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(
                condition=models.Q(("confirm_by__isnull", False)),
                fields=["merchant", "-id"],
                name="order_merchant_unconfirmed",
            ),
        ),
    ]
