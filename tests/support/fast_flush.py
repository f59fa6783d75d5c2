"""A transactional test's flush by DELETE instead of TRUNCATE.

Django's ``TransactionTestCase`` empties every table after each test with ``manage.py flush``:
one ``TRUNCATE`` of the 73 tables, for which PostgreSQL makes new files for every table and
index (150-180 ms on a quiet server and several times that on a busy one; 299 of the tests are
transactional). Deleting the rows a test left takes 11-13 ms (docs/benchmarks.md, "The test
suite's CPU"). The result is the same as flush's: every row of every table gone, sequences not
reset (the teardown's flush does not reset them either), then the ``post_migrate`` signal sent
as flush sends it, which creates the content types and permissions again.

It is the same only where the database allows it, which is checked once per database; where it
does not, Django's flush runs:

- the role bypasses row-level security (a superuser, as the embedded server's and CI's owner
  is, or BYPASSRLS): 20 tables force it on their owner, who would otherwise see no rows;
- every foreign key is deferrable with no ON DELETE action (deferred to the commit, so the order
  of the DELETEs does not matter);
- no table has a DELETE trigger (TRUNCATE fires none).

Tests that name ``available_apps`` or ask for a serialized rollback keep Django's flush too.
"""

from __future__ import annotations

from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction
from django.test.testcases import TransactionTestCase

_django_fixture_teardown = TransactionTestCase._fixture_teardown
_deletable: dict[tuple[str, str], bool] = {}

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
        if _delete_every_row(connections[name]):
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


def _delete_every_row(connection) -> bool:
    """Delete every row of the tables flush would truncate; whether there were any tables."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in tables:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    return bool(tables)
