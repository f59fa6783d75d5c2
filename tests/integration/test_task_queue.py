"""django-q2 runs for real: a qcluster process executes a queued task against PostgreSQL."""

from __future__ import annotations

import pytest
from django_q.tasks import async_task, result

from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_queued_task_runs_in_a_qcluster_under_the_merchants_scope(
    two_merchants, make_amazon_account
):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    make_amazon_account(b)

    with qcluster() as proc:
        task_id = async_task("portal.tasks.smoke", b.id)
        outcome = result(task_id, wait=60_000)
        assert proc.poll() is None, "qcluster died"

    assert outcome is not None, "the qcluster did not run the task within 60 s"
    assert outcome["pid"] != __import__("os").getpid()
    # The worker sees only merchant B's rows, through the ORM and through raw SQL (RLS).
    assert outcome["visible_merchants"] == [b.id, b.id]
    assert outcome["raw_count"] == 2
