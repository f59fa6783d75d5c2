"""The transactional tests' flush by DELETE (tests/support/fast_flush.py) leaves what Django's
TRUNCATE flush leaves: no row in any table, then the content types and permissions that
post_migrate creates."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections

from tests.support import fast_flush

pytestmark = pytest.mark.django_db(transaction=True)


def rows_per_table(connection) -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def test_deleting_every_row_empties_every_table_and_post_migrate_fills_what_flush_would(
    make_merchant, make_api_key
):
    owner = connections["owner"]
    make_api_key(merchant=make_merchant())  # rows in tables tied by foreign keys
    assert fast_flush._can_delete_everything(owner)  # the test server's owner bypasses RLS
    before = rows_per_table(owner)
    assert sum(1 for n in before.values() if n) >= 4

    assert fast_flush._delete_every_row(owner)
    assert {table for table, n in rows_per_table(owner).items() if n} == set()

    emit_post_migrate_signal(0, False, "owner")
    assert ContentType.objects.using("owner").count() == before["django_content_type"]
    assert Permission.objects.using("owner").count() == before["auth_permission"]


def test_a_role_subject_to_row_level_security_keeps_djangos_flush():
    # The application role is an ordinary one: row-level security applies to it, so deleting
    # would not see every row; the check says no, and Django's TRUNCATE flush would run.
    assert fast_flush._can_delete_everything(connections["default"]) is False
