"""The transactional tests' flush by DELETE (tests/support/fast_flush.py) leaves what Django's
TRUNCATE flush and its post_migrate leave: no row in any table but the content types and
permissions, which are all there, and the django-q2 schedules registered again."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections
from django_q.models import Schedule

from portal.schedules import SCHEDULES
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


def test_deleting_the_test_rows_leaves_what_flush_and_post_migrate_would(
    make_merchant, make_api_key
):
    owner = connections["owner"]
    make_api_key(merchant=make_merchant())  # rows in tables tied by foreign keys
    Schedule.objects.using("owner").update(repeats=0)  # a test that changed the schedules
    assert fast_flush._can_delete_everything(owner)  # the test server's owner bypasses RLS
    before = rows_per_table(owner)
    assert sum(1 for n in before.values() if n) >= 4
    content_types = set(ContentType.objects.using("owner").values_list("id", "app_label", "model"))
    permissions = Permission.objects.using("owner").count()

    assert fast_flush.delete_test_rows(owner)
    left = {table for table, n in rows_per_table(owner).items() if n}
    assert left == set(fast_flush.KEPT_TABLES)

    emit_post_migrate_signal(0, False, "owner")
    after = set(ContentType.objects.using("owner").values_list("id", "app_label", "model"))
    assert after == content_types  # found complete: nothing written again
    assert Permission.objects.using("owner").count() == permissions
    schedules = Schedule.objects.using("owner")
    assert sorted(schedules.values_list("name", flat=True)) == sorted(p.name for p in SCHEDULES)
    assert set(schedules.values_list("repeats", flat=True)) == {-1}


def test_a_role_subject_to_row_level_security_keeps_djangos_flush():
    # The application role is an ordinary one: row-level security applies to it, so deleting
    # would not see every row; the check says no, and Django's TRUNCATE flush would run.
    assert fast_flush._can_delete_everything(connections["default"]) is False
