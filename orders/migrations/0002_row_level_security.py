from django.db import migrations

from tenants.rls import EnableRowLevelSecurity

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION orders_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order events are append-only (rule F12)';
END
$$;
CREATE TRIGGER orders_event_no_update BEFORE UPDATE ON orders_orderevent
    FOR EACH ROW EXECUTE FUNCTION orders_event_append_only();
"""
DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS orders_event_no_update ON orders_orderevent;
DROP FUNCTION IF EXISTS orders_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial"), ("tenants", "0002_row_level_security")]

    operations = [
        EnableRowLevelSecurity("order"),
        EnableRowLevelSecurity("orderline"),
        EnableRowLevelSecurity("orderevent"),
        migrations.RunSQL(APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL),
    ]
