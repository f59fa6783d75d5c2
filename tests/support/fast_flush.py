"""A transactional test's flush by DELETE instead of TRUNCATE, keeping what post_migrate makes.

Django's ``TransactionTestCase`` empties every table after each test with ``manage.py flush``:
one ``TRUNCATE`` of the 74 tables, for which PostgreSQL makes new files for every table and
index (0.46 s of the server's CPU per flush on this machine), then the ``post_migrate`` signal,
whose receivers write every content type and permission again (about 450 rows: 0.35 s of the
test process's CPU and more of the server's). About 310 tests are transactional: that was about
a sixth of the suite's CPU (docs/benchmarks.md, "The test suite's CPU").

Here the teardown deletes the rows the test left in every table except the two that
``post_migrate`` fills from the code (content types and permissions: no test writes them, and
their rows would come back the same), then sends ``post_migrate`` as flush does, so that the
project's own receivers run as after a flush (the django-q2 schedules registered again, the
application role's grants); contenttypes and auth find their rows there and write nothing. The
result is flush's: every other row gone, sequences not reset (the teardown's flush does not reset
them either), the same content types and permissions (under the same ids rather than new ones).

It is the same only where the database allows it, which is checked once per database; where it
does not, Django's flush runs:

- the role bypasses row-level security (a superuser, as the embedded server's owner is, or
  BYPASSRLS): 20 tables force it on their owner, who would otherwise see no rows;
- every foreign key is deferrable with no ON DELETE action (deferred to the commit, so the order
  of the DELETEs does not matter);
- no table has a DELETE trigger (TRUNCATE fires none).

Tests that name ``available_apps`` or ask for a serialized rollback keep Django's flush too.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction
from django.test.testcases import TransactionTestCase

_django_fixture_teardown = TransactionTestCase._fixture_teardown
_deletable: dict[tuple[str, str], bool] = {}

# What post_migrate fills from the code alone: kept, and found complete by its receivers.
KEPT_TABLES = frozenset({ContentType._meta.db_table, Permission._meta.db_table})

# pg_trigger.tgtype's bit for DELETE (PostgreSQL's TRIGGER_TYPE_DELETE).
_TRIGGER_TYPE_DELETE = 1 << 3


def install() -> None:
    TransactionTestCase._fixture_teardown = _fixture_teardown


def _fixture_teardown(self: TransactionTestCase) -> None:
    names = list(self._databases_names(include_mirrors=False))
    if (
        self.available_apps is not None
        or self.serialized_rollback
        or not all(_can_delete_everything(connections[name]) for name in names)
    ):
        return _django_fixture_teardown(self)
    for name in names:
        if delete_test_rows(connections[name]):
            emit_post_migrate_signal(0, False, name)  # as flush does after a non-empty flush
    return None


def _can_delete_everything(connection) -> bool:
    key = connection.alias, connection.settings_dict["NAME"]
    if key not in _deletable:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT (SELECT rolsuper OR rolbypassrls FROM pg_roles
                         WHERE rolname = current_user)
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint
                                    WHERE contype = 'f'
                                      AND connamespace = current_schema()::regnamespace
                                      AND NOT (condeferrable AND confdeltype = 'a'))
                   AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                                     JOIN pg_class c ON c.oid = t.tgrelid
                                    WHERE NOT t.tgisinternal
                                      AND c.relnamespace = current_schema()::regnamespace
                                      AND t.tgtype & %s <> 0)
                """,
                [_TRIGGER_TYPE_DELETE],
            )
            _deletable[key] = bool(cursor.fetchone()[0])
    return _deletable[key]


def delete_test_rows(connection) -> bool:
    """Delete every row of the tables flush would truncate, but the kept ones; whether there
    were any tables."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in tables:
            if table not in KEPT_TABLES:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    return bool(tables)
