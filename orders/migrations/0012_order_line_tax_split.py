# An order line whose tax Amazon gave as one figure (searchOrders without the TAX breakdown's
# detail) while it has a shipping charge: the split between item and shipping tax is pending
# until getOrderItems gives it (orders/tax_splits.py). The flag has a default in the database
# too, so workers still running the release before (a rolling deploy) keep writing lines. The
# sync's work list is a partial index of the pending lines, built concurrently: the lines table
# is large, and a plain CREATE INDEX would block the sync's writes while it scans it.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0011_translatable_labels"),
        ("tenants", "0006_translatable_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderline",
            name="tax_split_asked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="tax split asked at"),
        ),
        migrations.AddField(
            model_name="orderline",
            name="tax_split_pending",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text=(
                    "Amazon has not yet said how the tax divides between the item and its "
                    "shipping."
                ),
                verbose_name="tax split pending",
            ),
        ),
        AddIndexConcurrently(
            model_name="orderline",
            index=models.Index(
                condition=models.Q(("tax_split_pending", True)),
                fields=["merchant", "order"],
                name="order_line_tax_split_pending",
            ),
        ),
    ]
