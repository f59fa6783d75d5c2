"""The policy sweep: each due step happens exactly once per order, with its timeline event, its
flag and a notification to the merchant (rules A2, A8, A9, R4); only due orders are read."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone

from notifications.models import Notification, NotificationRecipient
from notifications.services import send_email_digest
from orders import policy, selectors, services, tasks
from orders.models import EventKind, Order, OrderEvent
from tenants.models import Role
from tenants.scope import system_context, tenant_context

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def merchant(make_merchant):
    return make_merchant(time_zone="America/New_York", deadline_warning_days=7)


@pytest.fixture
def staff(make_user, merchant):
    return make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@merchant.example")


def events(order, kind=None):
    with tenant_context(order.merchant_id):
        qs = OrderEvent.objects.filter(order=order)
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs)


def reload(order):
    with tenant_context(order.merchant_id):
        return Order.objects.get(pk=order.pk)


def sweep(merchant, **kwargs):
    with tenant_context(merchant):
        return services.sweep_merchant(merchant, **kwargs)


def test_warning_is_written_once_A9(merchant, staff, make_order):
    now = timezone.now()
    # Confirm-by in 5 days: the 7-day warning is due; ship-by still ahead.
    order = make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    first = sweep(merchant, now=now)
    second = sweep(merchant, now=now + timedelta(minutes=1))

    assert first.counts == {
        "ship_by_passed": 0,
        "deadline_warning": 1,
        "auto_cancel_expected": 0,
        "pending_too_long": 0,
    }
    assert second.total == 0
    [event] = events(order, EventKind.DEADLINE_WARNING)
    when = policy.local_text(order.confirm_by, "America/New_York")
    assert event.message == f"Please confirm shipment by {when} to avoid cancellation"
    assert event.data["confirm_by"] == order.confirm_by.isoformat()
    assert event.actor_type == "system"
    assert reload(order).warned_at == now
    with tenant_context(merchant):
        [note] = Notification.objects.filter(order=order)
        assert note.kind == "deadline_warning"
        assert note.body == event.message
        assert list(note.recipients.values_list("user_id", "email_state")) == [
            (staff.pk, "pending")
        ]
    assert first.email_user_ids == {staff.pk}


def test_nothing_is_due_before_warn_at_A9(merchant, staff, make_order):
    now = timezone.now()
    order = make_order(merchant, purchase_date=now - 22 * DAY, latest_ship_date=now + DAY, now=now)
    assert order.warn_at > now
    assert sweep(merchant, now=now).total == 0
    assert sweep(merchant, now=order.warn_at).counts["deadline_warning"] == 1


def test_late_order_is_flagged_once(merchant, staff, make_order):
    now = timezone.now()
    order = make_order(merchant, purchase_date=now - 3 * DAY, latest_ship_date=now - DAY, now=now)
    assert sweep(merchant, now=now).counts["ship_by_passed"] == 1
    assert sweep(merchant, now=now + DAY).total == 0
    assert reload(order).is_late is True
    [event] = events(order, EventKind.SHIP_BY_PASSED)
    assert event.message == policy.ship_by_passed_message(order.ship_by, "America/New_York")


def test_unconfirmed_order_past_its_deadline_expects_auto_cancel_A8(merchant, staff, make_order):
    now = timezone.now()
    order = make_order(merchant, purchase_date=now - 31 * DAY, latest_ship_date=now - 28 * DAY)
    report = sweep(merchant, now=now)
    assert report.counts == {
        "ship_by_passed": 1,
        "deadline_warning": 1,
        "auto_cancel_expected": 1,
        "pending_too_long": 0,
    }
    assert sweep(merchant, now=now).total == 0
    order = reload(order)
    assert (order.is_late, order.auto_cancel_expected, order.warned_at) == (True, True, now)
    # Found after its deadline: no "confirm by <a date gone>" (A9), the A8 notice says it all.
    kinds = [e.kind for e in events(order) if e.kind != EventKind.IMPORTED]
    assert kinds == ["ship_by_passed", "auto_cancel_expected"]
    with tenant_context(merchant):
        notes = Notification.objects.filter(order=order).values_list("kind", flat=True)
        assert sorted(notes) == ["auto_cancel_expected", "ship_by_passed"]


def test_order_pending_past_21_days_is_noticed_once_A2(merchant, staff, make_order):
    now = timezone.now()
    order = make_order(merchant, status="Pending", purchase_date=now - 22 * DAY)
    young = make_order(merchant, status="Pending", purchase_date=now - 20 * DAY)
    assert sweep(merchant, now=now).counts["pending_too_long"] == 1
    assert sweep(merchant, now=now).total == 0
    assert reload(order).pending_too_long is True
    assert reload(young).pending_too_long is False
    [event] = events(order, EventKind.PENDING_TOO_LONG)
    assert "more than 21 days" in event.message


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "Shipped", "lines": (("SKU-1", 2, "25.00", 2),)},
        {"status": "Canceled"},
        {"fulfillment_channel": "AFN"},
        {"fulfillment_channel": "AFN", "status": "Pending"},
        {"shipment_confirmation": "confirmed"},
        {"channel": "shopify"},
    ],
)
def test_orders_without_deadlines_are_never_swept_R5(merchant, staff, make_order, fields):
    now = timezone.now()
    order = make_order(merchant, purchase_date=now - 40 * DAY, **fields)
    assert sweep(merchant, now=now).total == 0
    assert events(order) == []


def test_sweep_works_in_batches(merchant, staff, make_order):
    now = timezone.now()
    for _ in range(7):
        make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    report = sweep(merchant, now=now, batch_size=3)
    assert report.counts["deadline_warning"] == 7
    with tenant_context(merchant):
        assert OrderEvent.objects.filter(kind=EventKind.DEADLINE_WARNING).count() == 7
        assert Notification.objects.count() == 7


def test_a_merchants_sweep_touches_only_its_own_orders(make_merchant, make_order):
    a, b = make_merchant(), make_merchant()
    now = timezone.now()
    mine = make_order(a, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    theirs = make_order(b, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    assert sweep(a, now=now).total == 1
    assert reload(mine).warned_at == now
    assert reload(theirs).warned_at is None


@pytest.mark.parametrize("step", selectors.SWEEP_STEPS)
def test_due_orders_are_found_through_their_partial_index(step):
    index = {
        "ship_by_passed": "order_late_due",
        "deadline_warning": "order_warn_due",
        "auto_cancel_expected": "order_auto_cancel_due",
        "pending_too_long": "order_verify_due",
    }[step]
    with system_context("test: plan of the sweep's cross-tenant query"):
        with transaction.atomic(using="owner"), connections["owner"].cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = (
                Order.objects.filter(selectors.due_filter(step, timezone.now()))
                .values_list("merchant_id", flat=True)
                .explain()
            )
    # On these empty tables the planner may as well take the partial index of all unconfirmed
    # orders (orders 0009, for the API's at-risk list): also a partial index of the
    # candidates, never a scan of every order.
    assert index in plan or (
        "order_merchant_unconfirmed" in plan
        and "confirm_by" in str(selectors.due_filter(step, timezone.now()))
    ), plan


def test_digest_carries_every_notification_of_the_run(merchant, staff, make_order, make_user):
    make_user(
        role=Role.MERCHANT_STAFF,
        merchant=merchant,
        email="quiet@x.example",
        email_notifications=False,
    )
    now = timezone.now()
    for _ in range(3):
        make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    report = sweep(merchant, now=now)
    assert report.email_user_ids == {staff.pk}
    assert mail.outbox == [], "the sweep's caller sends the digests, after its transactions"
    with tenant_context(merchant):
        assert send_email_digest(staff) == 3
        assert send_email_digest(staff) == 0
    [message] = mail.outbox
    assert message.to == ["ops@merchant.example"]
    assert message.subject == "Keelson: 3 updates on your orders"
    assert message.body.count("Please confirm shipment by") == 3


# --- the task: across merchants, in a real transaction, two at once ---------------------------


@pytest.mark.django_db(transaction=True)
def test_sweep_task_emails_each_person_one_digest(
    make_agency, make_merchant, make_user, make_order
):
    agency = make_agency()
    a = make_merchant(agency=agency, time_zone="Europe/Berlin")
    b = make_merchant(agency=agency)
    owner = make_user(role=Role.AGENCY_OWNER, agency=agency, email="owner@agency.example")
    clerk = make_user(role=Role.MERCHANT_STAFF, merchant=a, email="clerk@a.example")
    make_user(
        role=Role.MERCHANT_STAFF, merchant=b, email="off@b.example", email_notifications=False
    )
    now = timezone.now()
    for m in (a, a, b):
        make_order(m, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    make_order(b, purchase_date=now - 2 * DAY, latest_ship_date=now + DAY)  # not due

    result = tasks.sweep_deadlines()
    assert result["merchants"] == 2
    assert result["deadline_warning"] == 3
    assert result["emailed"] == 3 + 2  # the owner's three, the clerk's two
    by_address = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_address) == ["clerk@a.example", "owner@agency.example"]
    assert len(mail.outbox) == 2, "one digest per person per run"
    assert by_address["owner@agency.example"].body.count("Please confirm shipment by") == 3
    assert "CET" in by_address["clerk@a.example"].body or "CEST" in (
        by_address["clerk@a.example"].body
    )

    again = tasks.sweep_deadlines()
    assert again["merchants"] == 0 and again["emailed"] == 0
    assert len(mail.outbox) == 2
    with tenant_context([a, b]):
        assert NotificationRecipient.objects.filter(user=owner, read_at__isnull=True).count() == 3
        assert NotificationRecipient.objects.filter(user=clerk).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_repeat_a_step(make_merchant, make_user, make_order):
    merchants = [make_merchant(), make_merchant()]
    for m in merchants:
        make_user(role=Role.MERCHANT_ADMIN, merchant=m)
    now = timezone.now()
    # Late, and past their warning time with the deadline ahead: two steps each.
    orders = [
        make_order(m, purchase_date=now - 25 * DAY, latest_ship_date=now - 22 * DAY, now=now)
        for m in merchants
        for _ in range(30)
    ]
    start = threading.Barrier(2)
    results: list[dict] = []
    failures: list[BaseException] = []

    def run():
        try:
            start.wait(timeout=30)
            results.append(tasks.sweep_deadlines(batch_size=4))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()
            connections["owner"].close()

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not failures, failures
    assert len(results) == 2
    for step in ("ship_by_passed", "deadline_warning"):
        assert sum(r[step] for r in results) == len(orders), step
    with tenant_context(merchants):
        for kind in ("ship_by_passed", "deadline_warning"):
            per_order = (
                OrderEvent.objects.filter(kind=kind).values_list("order_id", flat=True).distinct()
            )
            assert OrderEvent.objects.filter(kind=kind).count() == len(orders) == len(per_order)
        assert Notification.objects.count() == 2 * len(orders)
    assert len(mail.outbox) <= 4  # at most one digest per person per run


@pytest.mark.django_db(transaction=True)
def test_the_safety_net_digest_sends_nothing_while_a_sweep_runs(
    merchant, staff, make_order, monkeypatch
):
    """The sweep commits step by step and e-mails at its end. The every-minute safety-net
    digest, run (on another worker) right after the sweep's first step committed, must leave
    that step's notification to the sweep: else the person gets two e-mails for one run."""
    from notifications.services import safety_net_digest_slot
    from notifications.tasks import send_digests

    now = timezone.now()
    # Late, and past its warning time with the deadline ahead: two steps, two notifications.
    make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now - DAY, now=now)
    real_batch = services.sweep_batch
    safety_net: list[int | BaseException] = []

    def safety_net_on_another_worker():
        try:
            safety_net.append(send_digests())
        except BaseException as exc:  # reported below
            safety_net.append(exc)
        finally:
            connection.close()
            connections["owner"].close()

    def batch_then_safety_net(merchant, step, **kwargs):
        done = real_batch(merchant, step, **kwargs)
        if step == "ship_by_passed" and done[0]:
            worker = threading.Thread(target=safety_net_on_another_worker)
            worker.start()
            worker.join(timeout=60)
        return done

    monkeypatch.setattr(services, "sweep_batch", batch_then_safety_net)
    result = tasks.sweep_deadlines()

    assert result["ship_by_passed"] == result["deadline_warning"] == 1
    assert safety_net == [0]
    assert result["emailed"] == 2
    assert len(mail.outbox) == 1, "one digest per person per run"
    assert "Please confirm shipment by" in mail.outbox[0].body
    assert "ship-by date" in mail.outbox[0].body
    # Once no sweep runs, the safety net runs again.
    with safety_net_digest_slot() as free:
        assert free
