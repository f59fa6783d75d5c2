"""PostgreSQL row-level security for tenant-owned tables.

Every table of a ``TenantModel`` gets, through the ``EnableRowLevelSecurity`` migration
operation, RLS enabled *and forced* and one policy: a row is visible and writable only when its
``merchant_id`` is in the session setting ``app.merchant_ids`` (``app_merchant_ids()``). With the
setting empty or unset nothing is visible. ``tests/tenants/test_rls.py`` checks that every
tenant-owned model's table has it, so a new model cannot forget.

The application connects as an ordinary role (``keelson_app``) that owns nothing and has no
BYPASSRLS; superusers and table owners run migrations and the audited bypass only.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

POLICY_NAME = "tenant_isolation"

SCOPE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION app_merchant_ids() RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        string_to_array(nullif(current_setting('app.merchant_ids', true), ''), ',')::bigint[],
        '{}'::bigint[]
    )
$$;
"""
DROP_SCOPE_FUNCTION_SQL = "DROP FUNCTION IF EXISTS app_merchant_ids();"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EnableRowLevelSecurity(Operation):
    """Enable and force RLS on a tenant-owned model's table, with the tenant policy."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str):
        self.model_name = model_name

    def deconstruct(self):
        return (self.__class__.__name__, [self.model_name], {})

    def state_forwards(self, app_label, state):
        pass

    def _table(self, app_label, state):
        return state.apps.get_model(app_label, self.model_name)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = self._table(app_label, to_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = _quote(model._meta.db_table)
        column = _quote(model._meta.get_field("merchant").column)
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} "
            f"USING ({column} = ANY (app_merchant_ids())) "
            f"WITH CHECK ({column} = ANY (app_merchant_ids()))"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = self._table(app_label, from_state)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = _quote(model._meta.db_table)
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self):
        return f"Enable row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"rls_{self.model_name.lower()}"


def app_role_credentials() -> tuple[str, str]:
    db = settings.DATABASES["default"]
    return db["USER"], db.get("PASSWORD") or ""


# SQLSTATEs of a race with another session changing the same role at the same moment: roles are
# cluster-wide, so two databases migrated at once (parallel test workers, two deploys) meet here.
# CREATE ROLE: duplicate_object (42710) when the other one committed first, unique_violation
# (23505) when it waited for it; ALTER ROLE: "tuple concurrently updated" (XX000).
_ROLE_RACE_SQLSTATES = {"42710", "23505"}
_ROLE_ATTEMPTS = 5


def _lost_role_race(exc: Exception) -> bool:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in _ROLE_RACE_SQLSTATES:
        return True
    return sqlstate == "XX000" and "concurrently updated" in str(cause)


def ensure_application_role(apps, schema_editor) -> None:
    """Create the application role when missing (migration 0002); it owns nothing.

    Race-free: a concurrent migration of another database on the same server may create or
    alter the role between our look-up and our statement. Advisory locks are per database, so
    they would not serialise that; instead each attempt runs in a savepoint, and a lost race is
    rolled back and looked at again (the other session has committed by then)."""
    role, password = app_role_credentials()
    owner = schema_editor.connection.settings_dict.get("USER")
    if role == owner:
        raise RuntimeError(
            "The application role must differ from the owner role, or row-level security would "
            "not apply: set DATABASE_APP_USER (or DATABASE_APP_URL) to another role."
        )
    ensure_role(schema_editor.connection, role, password)


def ensure_role(connection, role: str, password: str) -> None:
    """Create ``role`` when missing, else check it is ordinary and set its password; retried
    when another session creates or alters the same role at the same moment."""
    from django.db import DatabaseError, transaction

    for attempt in range(1, _ROLE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=connection.alias):
                _create_or_check_role(connection, role, password)
            return
        except DatabaseError as exc:
            if not _lost_role_race(exc) or attempt == _ROLE_ATTEMPTS:
                raise
            logger.info("role %s changed concurrently (%s); looking again", role, exc)


def _create_or_check_role(connection, role: str, password: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                f"CREATE ROLE {_quote(role)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB "
                "NOCREATEROLE PASSWORD %s",
                [password],
            )
        elif row[0] or row[1]:
            raise RuntimeError(
                f"Role {role} is a superuser or has BYPASSRLS: row-level security would not "
                "apply to it. Use an ordinary role for DATABASE_APP_USER."
            )
        elif password and not _is_dba_managed():
            cursor.execute(f"ALTER ROLE {_quote(role)} PASSWORD %s", [password])


def _is_dba_managed() -> bool:
    import os

    return bool(os.environ.get("DATABASE_APP_URL"))


def grant_statements(role: str) -> list[str]:
    q = _quote(role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {q}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {q}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {q}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {q}",
    ]


def grant_application_role(sender=None, using: str = "owner", **kwargs) -> None:
    """After every migrate: the application role may use every table (RLS still applies)."""
    if using != "owner" or sender is None or sender.label != "tenants":
        return
    role, _password = app_role_credentials()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return
        for statement in grant_statements(role):
            cursor.execute(statement)
