from django.db import migrations

from tenants import rls


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunPython(rls.ensure_application_role, migrations.RunPython.noop),
        migrations.RunSQL(rls.SCOPE_FUNCTION_SQL, rls.DROP_SCOPE_FUNCTION_SQL),
        rls.EnableRowLevelSecurity("amazonaccount"),
        rls.EnableRowLevelSecurity("shopifystore"),
    ]
