"""Row-level security on the portal's tenant-owned table (bulk job items); saved views and bulk
jobs belong to users (see portal/models.py)."""

from django.db import migrations

from tenants.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_bulk_jobs_and_saved_views")]

    operations = [EnableRowLevelSecurity("bulkjobitem")]
