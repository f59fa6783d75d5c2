# The share of a seller's orders whose Orders 2026-01-01 items give their TAX proceeds without
# the ITEM/SHIPPING detail (sandbox.amazon.render.tax_detail_omitted).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0004_amazon_applications"),
    ]

    operations = [
        migrations.AddField(
            model_name="amazonseller",
            name="tax_detail_omitted_share",
            field=models.FloatField(default=0),
        ),
    ]
