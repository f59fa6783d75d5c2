"""A bulk job over orders runs in a real django-q2 cluster (portal/bulk_jobs.py): queued when it
is recorded, worked through order by order by another process, one refusal (A1) kept in words,
the others requested (F1)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from fulfillment import services as fulfillment_services
from fulfillment.models import FulfillmentOrder
from orders import policy, selectors
from portal import bulk_jobs
from portal.models import BulkJob, BulkJobItem, BulkJobKind
from tenants.models import Role
from tenants.scope import tenant_context
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_bulk_request_job_runs_in_a_qcluster_and_keeps_the_refusal_F1_A1(
    make_merchant, make_user, make_order
):
    merchant = make_merchant(name="Cluster Goods")
    fulfillment_services.create_fulfillment_service(
        name="Cluster 3PL", merchant=merchant, issue_api_key=False
    )
    user = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant)
    ready = [make_order(merchant), make_order(merchant)]
    pending = make_order(merchant, status="Pending")

    with qcluster() as proc:
        # Autocommit: the job is queued as soon as it is recorded.
        job = bulk_jobs.start_job(
            BulkJobKind.REQUEST_FULFILLMENT, user=user, orders=[*ready, pending]
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"qcluster died, see {proc.log_path}"
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.5)

    assert job.is_finished, (
        f"the job did not finish within 90 s ({job.status}), see {proc.log_path}"
    )
    assert (job.total, job.done, job.failed) == (3, 2, 1)
    with tenant_context(merchant):
        outcomes = dict(BulkJobItem.objects.filter(job=job).values_list("order_id", "status"))
        assert outcomes == {ready[0].pk: "done", ready[1].pk: "done", pending.pk: "failed"}
        refusal = selectors.assess_order(pending, timezone.now()).actions[
            policy.Action.REQUEST_FULFILLMENT
        ]
        assert BulkJobItem.objects.get(job=job, order=pending).message == refusal.reason
        assert set(
            FulfillmentOrder.objects.filter(order__in=ready).values_list(
                "request_status", flat=True
            )
        ) == {"submitted"}
    assert BulkJob.objects.count() == 1


@pytest.mark.slow
def test_a_job_the_queue_lost_is_queued_again_by_the_schedule_and_done_once(
    make_merchant, make_user, make_order
):
    """The queue lost the job's task (a broker restart): the qcluster's every-minute schedule
    finds it still Queued minutes later, queues it again, and a worker does every order once."""
    from datetime import timedelta

    from django_q.models import OrmQ, Schedule

    from orders.models import EventKind, OrderEvent

    merchant = make_merchant(name="Lost Job Goods")
    fulfillment_services.create_fulfillment_service(
        name="Lost 3PL", merchant=merchant, issue_api_key=False
    )
    user = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant)
    orders = [make_order(merchant), make_order(merchant)]
    job = bulk_jobs.start_job(BulkJobKind.REQUEST_FULFILLMENT, user=user, orders=orders)
    OrmQ.objects.all().delete()  # the task is gone
    BulkJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=10), queued_at=None
    )
    Schedule.objects.exclude(func="portal.tasks.requeue_stuck_bulk_jobs").update(
        next_run=timezone.now() + timedelta(days=1)  # only the requeue schedule runs now
    )
    Schedule.objects.filter(func="portal.tasks.requeue_stuck_bulk_jobs").update(
        next_run=timezone.now() - timedelta(seconds=1)
    )

    with qcluster() as proc:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"qcluster died, see {proc.log_path}"
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.5)

    assert job.is_finished, f"the job was not queued again ({job.status}), see {proc.log_path}"
    assert (job.done, job.failed) == (2, 0)
    with tenant_context(merchant):
        requested = OrderEvent.objects.filter(
            order__in=orders, kind=EventKind.FULFILLMENT_REQUESTED
        ).count()
    assert requested == 2  # each order once
