from django.db import migrations

from tenants.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [EnableRowLevelSecurity("outboxmessage")]
