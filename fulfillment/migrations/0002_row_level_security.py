from django.db import migrations

from tenants.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0001_initial"), ("tenants", "0002_row_level_security")]

    operations = [
        EnableRowLevelSecurity("fulfillmentorder"),
        EnableRowLevelSecurity("fulfillmentorderline"),
        EnableRowLevelSecurity("fulfillment"),
        EnableRowLevelSecurity("fulfillmentline"),
    ]
