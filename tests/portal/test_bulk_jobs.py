"""Bulk actions on the order list as background jobs (portal/bulk_jobs.py): "Request fulfillment"
(F1) and "Confirm shipment on Amazon" (A7) record a job, a worker runs it one order at a time
(the real task function here; tests/integration/test_bulk_job_cluster.py runs it in a qcluster),
one refusal never stops the others and is kept in the rule's words, a retried task redoes
nothing, and the progress page is its owner's alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from fulfillment import services as fulfillment_services
from fulfillment.models import Fulfillment, FulfillmentOrder
from orders import policy, selectors
from orders.models import EventKind, OrderEvent
from portal import bulk_jobs
from portal.models import BulkJob, BulkJobItem
from portal.tasks import requeue_stuck_bulk_jobs, run_bulk_job
from tenants.models import Membership
from tenants.scope import tenant_context
from tenants.selectors import access_for_user
from tests.portal.conftest import switch_to

pytestmark = pytest.mark.django_db

LIST = "/orders/order/"


@pytest.fixture
def with_service(tenancy):
    """A-one and A-two each have a fulfillment service (its default location)."""
    for merchant in (tenancy.a1, tenancy.a2):
        fulfillment_services.create_fulfillment_service(
            name=f"{merchant.name} 3PL", merchant=merchant, issue_api_key=False
        )
    return tenancy


def job_page(client, job: BulkJob):
    return client.get(f"/orders/order/jobs/{job.pk}/")


def items_of(job: BulkJob) -> dict[str, BulkJobItem]:
    with tenant_context(job.merchant_ids):
        return {item.order_number: item for item in BulkJobItem.objects.filter(job=job)}


def requested_events(order) -> int:
    with tenant_context(order.merchant_id):
        return OrderEvent.objects.filter(order=order, kind=EventKind.FULFILLMENT_REQUESTED).count()


def test_a_request_job_does_every_order_and_keeps_the_refusal_in_words_F1_A1(
    with_service, login, make_order, django_capture_on_commit_callbacks
):
    t = with_service
    ready = [make_order(t.a1), make_order(t.a1)]
    pending = make_order(t.a1, status="Pending")
    client = login(t.merchant_staff)
    selected = [o.pk for o in (*ready, pending)]

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            LIST, {"action": "request_fulfillment_in_bulk", "_selected_action": selected}
        )
    job = BulkJob.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"/orders/order/jobs/{job.pk}/"
    assert OrmQ.objects.count() == 1, "the job was queued for a worker"
    assert (job.status, job.total, job.done, job.failed) == ("queued", 3, 0, 0)
    waiting = job_page(client, job).content.decode()
    assert '<meta http-equiv="refresh"' in waiting
    assert waiting.count('data-status="pending"') == 3

    outcome = run_bulk_job(job.pk)

    assert outcome == {"job": job.pk, "processed": 3, "done": 2, "failed": 1}
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("finished", 2, 1)
    assert job.started_at and job.finished_at
    items = items_of(job)
    for order in ready:
        assert items[order.external_id].status == "done"
        assert items[order.external_id].message == "Fulfillment requested from A-one Goods 3PL."
        with tenant_context(t.a1):
            assert FulfillmentOrder.objects.get(order=order).request_status == "submitted"
    refusal = selectors.assess_order(pending, timezone.now()).actions[
        policy.Action.REQUEST_FULFILLMENT
    ]
    assert not refusal.allowed
    assert items[pending.external_id].status == "failed"
    assert items[pending.external_id].message == refusal.reason

    # Reloading shows the same job, finished: no more refreshing, the refusal first.
    page = job_page(client, job).content.decode()
    assert '<meta http-equiv="refresh"' not in page
    assert "2 done, 1 refused, of 3 orders." in page
    assert refusal.reason in page
    assert page.index(pending.external_id) < page.index(ready[0].external_id)

    # A retried task finds nothing left to do and changes nothing.
    assert run_bulk_job(job.pk) == {"job": job.pk, "processed": 0, "done": 2, "failed": 1}
    assert [requested_events(o) for o in ready] == [1, 1]


def test_a_task_retried_after_a_worker_died_does_not_redo_a_done_order(
    with_service, login, make_order
):
    t = with_service
    orders = [make_order(t.a1) for _ in range(3)]
    client = login(t.merchant_admin)
    client.post(
        LIST,
        {"action": "request_fulfillment_in_bulk", "_selected_action": [o.pk for o in orders]},
    )
    job = BulkJob.objects.get()
    first = min(items_of(job).values(), key=lambda item: item.position)
    # The worker did one order, then died before the next.
    handler = bulk_jobs.HANDLERS[job.kind]
    actor = fulfillment_services.Actor.user(t.merchant_admin)
    access = access_for_user(t.merchant_admin)
    assert bulk_jobs.process_item(job.pk, first.pk, t.a1.pk, handler, actor, access) == "done"
    done_at = items_of(job)[first.order_number].finished_at

    assert run_bulk_job(job.pk)["processed"] == 2  # django-q2 delivers the task again

    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("finished", 3, 0)
    assert items_of(job)[first.order_number].finished_at == done_at
    assert [requested_events(o) for o in orders] == [1, 1, 1]  # nothing requested twice


def test_a_job_whose_task_was_lost_is_queued_again_by_the_sweep_and_finishes_once(
    with_service, login, make_order
):
    """The Redis broker does not hand a task out again when its worker died (docs/scaling.md):
    the every-minute sweep queues a job again once it made no progress for a while."""
    t = with_service
    orders = [make_order(t.a1) for _ in range(3)]
    client = login(t.merchant_admin)
    client.post(
        LIST,
        {"action": "request_fulfillment_in_bulk", "_selected_action": [o.pk for o in orders]},
    )
    job = BulkJob.objects.get()
    first = min(items_of(job).values(), key=lambda item: item.position)
    handler = bulk_jobs.HANDLERS[job.kind]
    actor = fulfillment_services.Actor.user(t.merchant_admin)
    access = access_for_user(t.merchant_admin)
    bulk_jobs.process_item(job.pk, first.pk, t.a1.pk, handler, actor, access)
    OrmQ.objects.all().delete()  # the task is lost with its worker
    now = timezone.now()

    assert bulk_jobs.requeue_stuck_jobs(now=now) == []  # it made progress just now
    later = now + bulk_jobs.STUCK_AFTER + timedelta(seconds=1)
    assert bulk_jobs.requeue_stuck_jobs(now=later) == [job.pk]
    [task] = [row.task for row in OrmQ.objects.all()]
    assert (task["func"], task["args"]) == (bulk_jobs.RUN_TASK, (job.pk,))

    assert run_bulk_job(job.pk)["processed"] == 2
    assert run_bulk_job(job.pk)["processed"] == 0  # queued twice: the second does nothing
    job.refresh_from_db()
    assert (job.status, job.done) == ("finished", 3)
    assert [requested_events(o) for o in orders] == [1, 1, 1]
    assert bulk_jobs.requeue_stuck_jobs(now=later) == []  # finished


def test_the_confirmation_asks_for_tracking_then_runs_as_a_job_A7_R3(
    tenancy, login, make_order, make_amazon_account
):
    account = make_amazon_account(tenancy.a1)
    amazon = [make_order(tenancy.a1, amazon_account=account) for _ in range(2)]
    manual = make_order(tenancy.a1, channel="manual")
    client = login(tenancy.merchant_admin)
    selected = {
        "action": "confirm_shipments_on_amazon",
        "_selected_action": [o.pk for o in (*amazon, manual)],
    }

    page = client.post(LIST, selected)
    assert page.status_code == 200 and 'name="tracking_number"' in page.content.decode()
    assert not BulkJob.objects.exists()  # nothing happens before the tracking is given

    started = client.post(
        LIST, {**selected, "apply": "yes", "tracking_number": "1ZBULK", "carrier": "UPS"}
    )
    job = BulkJob.objects.get(kind="confirm_shipments")
    assert started["Location"] == f"/orders/order/jobs/{job.pk}/"
    with tenant_context(tenancy.a1):
        assert not Fulfillment.objects.exists()  # the worker does it, not the request

    run_bulk_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("finished", 2, 1)
    items = items_of(job)
    for order in amazon:
        assert items[order.external_id].message == (
            "Fulfilled and queued for confirmation on Amazon."
        )
    assert items[manual.external_id].message == "Only Amazon orders are confirmed to Amazon."
    with tenant_context(tenancy.a1):
        shipped = Fulfillment.objects.filter(order__in=amazon)
        assert set(shipped.values_list("tracking_number", "amazon_confirmation")) == {
            ("1ZBULK", "pending")
        }
        assert shipped.count() == 2


def test_all_my_merchants_makes_one_job_and_another_tenants_order_is_never_taken(
    with_service, login, make_order
):
    t = with_service
    ours = [make_order(t.a1), make_order(t.a2)]
    theirs = make_order(t.b1)
    client = login(t.agency_owner)
    client.post(
        LIST,
        {
            "action": "request_fulfillment_in_bulk",
            "_selected_action": [o.pk for o in (*ours, theirs)],
        },
    )
    job = BulkJob.objects.get()
    assert job.merchant_ids == sorted([t.a1.pk, t.a2.pk]) and job.total == 2
    with tenant_context(t.b1):
        assert not BulkJobItem.objects.exists()

    run_bulk_job(job.pk)

    assert {i.status for i in items_of(job).values()} == {"done"}
    page = job_page(client, job).content.decode()
    assert "A-one Goods" in page and "A-two Supplies" in page  # whose order it is
    # Narrowed to one merchant in the switcher, the owner still sees their whole job.
    switch_to(client, t.a1)
    assert job_page(client, job).content.decode().count('class="bulk-job-item') == 2


def test_the_job_page_and_list_are_the_owners_only(with_service, login, make_order):
    t = with_service
    order = make_order(t.a1)
    owner = login(t.merchant_admin)
    owner.post(LIST, {"action": "request_fulfillment_in_bulk", "_selected_action": [order.pk]})
    job = BulkJob.objects.get()

    assert job_page(owner, job).status_code == 200
    assert job_page(login(t.other_owner), job).status_code == 404  # another tenant's user
    assert job_page(login(t.merchant_staff), job).status_code == 404  # a colleague's job
    assert owner.get("/orders/order/jobs/999999/").status_code == 404

    listed = owner.get("/orders/order/jobs/").content.decode()
    assert f'data-job="{job.pk}"' in listed
    assert (
        f'data-job="{job.pk}"'
        not in login(t.merchant_staff).get("/orders/order/jobs/").content.decode()
    )


@pytest.mark.parametrize("action", ["request_fulfillment_in_bulk", "confirm_shipments_on_amazon"])
def test_a_viewer_sees_neither_action_and_a_forged_post_is_403(
    with_service, login, make_order, action
):
    order = make_order(with_service.a1)
    client = login(with_service.viewer)

    listing = client.get(LIST).content.decode()
    assert "request_fulfillment_in_bulk" not in listing
    assert "confirm_shipments_on_amazon" not in listing
    forged = client.post(
        LIST,
        {"action": action, "_selected_action": [order.pk], "apply": "yes", "tracking_number": "1Z"},
    )
    assert forged.status_code == 403
    assert not BulkJob.objects.exists()
    # A role that may change orders is offered both.
    offered = login(with_service.merchant_staff).get(LIST).content.decode()
    assert "request_fulfillment_in_bulk" in offered and "confirm_shipments_on_amazon" in offered


def test_a_role_taken_away_before_the_worker_runs_stops_the_job(with_service, login, make_order):
    t = with_service
    orders = [make_order(t.a1), make_order(t.a1)]
    login(t.merchant_staff).post(
        LIST,
        {"action": "request_fulfillment_in_bulk", "_selected_action": [o.pk for o in orders]},
    )
    job = BulkJob.objects.get()
    Membership.objects.filter(user=t.merchant_staff).update(role="merchant_viewer")

    run_bulk_job(job.pk)

    job.refresh_from_db()
    assert (job.done, job.failed) == (0, 2)
    assert {i.message for i in items_of(job).values()} == {
        "Your role on this merchant no longer allows this change."
    }
    assert [requested_events(o) for o in orders] == [0, 0]


def test_fba_and_cancelled_orders_are_refused_in_their_own_words_the_others_done_R5(
    with_service, login, make_order
):
    """An FBA order (R5) and a cancelled one among ready ones: each refused in its own words."""
    t = with_service
    now = timezone.now()
    ready = make_order(t.a1)
    fba = make_order(t.a1, fulfillment_channel="AFN")
    cancelled = make_order(t.a1, status="Canceled", purchase_date=now - timedelta(days=2))
    login(t.merchant_admin).post(
        LIST,
        {
            "action": "request_fulfillment_in_bulk",
            "_selected_action": [o.pk for o in (ready, fba, cancelled)],
        },
    )
    job = BulkJob.objects.get()

    run_bulk_job(job.pk)

    items = items_of(job)
    assert items[ready.external_id].status == "done"
    for order in (fba, cancelled):
        decision = selectors.assess_order(order, timezone.now()).actions[
            policy.Action.REQUEST_FULFILLMENT
        ]
        assert items[order.external_id].status == "failed"
        assert items[order.external_id].message == decision.reason


def stuck_job(tenancy, orders, capture, *, minutes_ago: int) -> BulkJob:
    """A job the queue lost: recorded ``minutes_ago``, its task gone from the broker."""
    with capture(execute=True):
        job = bulk_jobs.start_job(
            "request_fulfillment", user=tenancy.merchant_admin, orders=orders, payload={}
        )
    OrmQ.objects.all().delete()
    then = timezone.now() - timedelta(minutes=minutes_ago)
    BulkJob.objects.filter(pk=job.pk).update(created_at=then, queued_at=None)
    return job


def test_a_job_whose_queueing_failed_is_queued_again_by_the_schedule_and_runs_once(
    with_service, make_order, django_capture_on_commit_callbacks
):
    t = with_service
    orders = [make_order(t.a1), make_order(t.a1)]
    job = stuck_job(t, orders, django_capture_on_commit_callbacks, minutes_ago=10)
    fresh_queued = bulk_jobs.start_job("request_fulfillment", user=t.merchant_admin, orders=[])
    assert OrmQ.objects.count() == 0 and BulkJob.objects.get(pk=job.pk).status == "queued"

    assert requeue_stuck_bulk_jobs() == {"requeued": [job.pk]}

    assert OrmQ.objects.count() == 1  # handed to the queue again, once
    job.refresh_from_db()
    assert job.queued_at is not None
    # A job just queued again is not stuck: the next pass leaves it alone.
    assert requeue_stuck_bulk_jobs() == {"requeued": []}
    assert run_bulk_job(job.pk)["processed"] == 2
    job.refresh_from_db()
    assert (job.status, job.done) == ("finished", 2)
    assert [requested_events(o) for o in orders] == [1, 1]
    # Finished (and empty, finished at once) jobs are never queued again.
    assert BulkJob.objects.get(pk=fresh_queued.pk).status == "finished"
    BulkJob.objects.update(created_at=timezone.now() - timedelta(hours=1), queued_at=None)
    assert requeue_stuck_bulk_jobs() == {"requeued": []}


def test_a_job_queued_minutes_ago_is_not_stuck_yet(
    with_service, make_order, django_capture_on_commit_callbacks
):
    t = with_service
    minutes = bulk_jobs.STUCK_AFTER.seconds // 60 - 1
    stuck_job(t, [make_order(t.a1)], django_capture_on_commit_callbacks, minutes_ago=minutes)

    assert requeue_stuck_bulk_jobs() == {"requeued": []}


@pytest.mark.django_db(transaction=True)
def test_a_job_never_runs_twice_at_once(with_service, make_order):
    """The task handed again while the first still runs (its lock held by another session)
    leaves at once and changes nothing; once the first lets go, it does the rest."""
    from django.db import connections

    t = with_service
    orders = [make_order(t.a1), make_order(t.a1)]
    job = bulk_jobs.start_job("request_fulfillment", user=t.merchant_admin, orders=orders)
    other = connections["owner"]  # another session, as another worker's
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [bulk_jobs.JOB_LOCK_BASE + job.pk])
    try:
        assert run_bulk_job(job.pk) == {"job": job.pk, "busy": True}
        assert [requested_events(o) for o in orders] == [0, 0]
    finally:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [bulk_jobs.JOB_LOCK_BASE + job.pk])

    assert run_bulk_job(job.pk)["processed"] == 2
    assert [requested_events(o) for o in orders] == [1, 1]
