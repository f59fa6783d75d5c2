"""Seed Amazon's confirmation horizons (rule A8) for the common marketplaces.

Marketplace ids: https://developer-docs.amazon.com/sp-api/docs/marketplace-ids. Every marketplace
confirms within 30 days of the order date; Amazon.co.uk also cancels orders not confirmed 7
business days after the expected ship date (from 30 September 2020): the earlier wins. The time
zone is the marketplace's own, for counting days. Editable data: a later change of Amazon's
policy is a row update, not a release; rows that already exist are left as they are.
"""

from django.db import migrations

MARKETPLACES = [
    # marketplace_id, name, days after order, business days after ship-by, time zone
    ("ATVPDKIKX0DER", "Amazon.com (US)", 30, None, "America/Los_Angeles"),
    ("A2EUQ1WTGCTBG2", "Amazon.ca (Canada)", 30, None, "America/Toronto"),
    ("A1AM78C64UM0Y8", "Amazon.com.mx (Mexico)", 30, None, "America/Mexico_City"),
    ("A1F83G8C2ARO7P", "Amazon.co.uk (United Kingdom)", 30, 7, "Europe/London"),
    ("A1PA6795UKMFR9", "Amazon.de (Germany)", 30, None, "Europe/Berlin"),
    ("A13V1IB3VIYZZH", "Amazon.fr (France)", 30, None, "Europe/Paris"),
    ("APJ6JRA9NG5V4", "Amazon.it (Italy)", 30, None, "Europe/Rome"),
    ("A1RKKUPIHCS9HS", "Amazon.es (Spain)", 30, None, "Europe/Madrid"),
    ("A1VC38T7YXB528", "Amazon.co.jp (Japan)", 30, None, "Asia/Tokyo"),
]


def seed(apps, schema_editor):
    MarketplacePolicy = apps.get_model("orders", "MarketplacePolicy")
    db = schema_editor.connection.alias
    for marketplace_id, name, days, business_days, time_zone in MARKETPLACES:
        MarketplacePolicy.objects.using(db).get_or_create(
            marketplace_id=marketplace_id,
            defaults={
                "name": name,
                "confirm_days_after_order": days,
                "confirm_business_days_after_ship_by": business_days,
                "time_zone": time_zone,
            },
        )


def unseed(apps, schema_editor):
    MarketplacePolicy = apps.get_model("orders", "MarketplacePolicy")
    MarketplacePolicy.objects.using(schema_editor.connection.alias).filter(
        marketplace_id__in=[m[0] for m in MARKETPLACES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_policy_deadlines")]

    operations = [migrations.RunPython(seed, unseed)]
