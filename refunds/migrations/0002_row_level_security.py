from django.db import migrations

from tenants.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("refunds", "0001_initial"), ("tenants", "0002_row_level_security")]

    operations = [
        EnableRowLevelSecurity("refund"),
        EnableRowLevelSecurity("refundline"),
        EnableRowLevelSecurity("buyercancelresolution"),
    ]
