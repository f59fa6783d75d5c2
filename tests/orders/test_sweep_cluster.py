"""The policy sweep on its schedule, in a real django-q2 cluster (rules A9, A2, A8, R4).

Orders are created directly in the database with purchase dates in the past; the cluster's
scheduler starts the sweep (its first scheduler pass comes about 30 s after start-up); then two
sweeps run at once on the cluster's two workers. E-mail goes to files (the file-based backend),
so the test reads what the worker processes sent."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.tasks import async_task, result

from notifications.models import Notification
from orders.models import EventKind, Order, OrderEvent
from portal.schedules import SCHEDULES, ensure_schedules
from tenants.models import Role
from tenants.scope import tenant_context
from tests.support.mail_backends import sent_mail
from tests.support.policy import buyer_addresses
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DAY = timedelta(days=1)
SWEEP = "orders.tasks.sweep_deadlines"


def test_policy_sweep_and_digests_are_scheduled_every_minute():
    by_func = {p.func: p for p in SCHEDULES}
    assert by_func[SWEEP].minutes == 1
    assert by_func["notifications.tasks.send_digests"].minutes == 1


def wait_for(check, timeout: float, proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"qcluster died, see {getattr(proc, 'log_path', 'its log')}"
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the cluster")


@pytest.mark.slow
def test_scheduled_sweep_in_a_cluster_warns_once_and_two_at_once_never_repeat_A9(
    make_merchant, make_user, make_order, tmp_path
):
    merchant = make_merchant(time_zone="Europe/Berlin")
    make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@seller.example")
    now = timezone.now()
    warned = make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY)
    late = make_order(merchant, purchase_date=now - 3 * DAY, latest_ship_date=now - DAY)
    stale = make_order(merchant, status="Pending", purchase_date=now - 22 * DAY)
    fresh = make_order(merchant, purchase_date=now - DAY, latest_ship_date=now + DAY)

    # The test database was flushed: register the schedules as `migrate` does.
    ensure_schedules()
    assert Schedule.objects.filter(func=SWEEP, minutes=1).exists()
    mail_dir = tmp_path / "mail"
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    with qcluster(**env) as proc:
        # 1. The schedule runs the sweep.
        wait_for(
            lambda: Task.objects.filter(func=SWEEP, success=True).exists(), timeout=120, proc=proc
        )
        scheduled = Task.objects.get(func=SWEEP, success=True).result
        assert scheduled["deadline_warning"] == 1
        assert scheduled["ship_by_passed"] == 1
        assert scheduled["pending_too_long"] == 1
        Schedule.objects.filter(func=SWEEP).update(next_run=timezone.now() + timedelta(days=1))

        # 2. Forty more due orders, and two sweeps at once on the cluster's two workers.
        more = [
            make_order(merchant, purchase_date=now - 31 * DAY, latest_ship_date=now - 28 * DAY)
            for _ in range(40)
        ]
        ids = [async_task(SWEEP, batch_size=5) for _ in range(2)]
        outcomes = [result(task_id, wait=120_000) for task_id in ids]
        assert proc.poll() is None, "qcluster died"

    assert all(o is not None for o in outcomes), "a sweep did not finish within 120 s"
    for step in ("ship_by_passed", "deadline_warning", "auto_cancel_expected"):
        assert sum(o[step] for o in outcomes) == len(more), (step, outcomes)

    with tenant_context(merchant):
        assert OrderEvent.objects.filter(order=warned, kind=EventKind.DEADLINE_WARNING).count() == 1
        for order in more:
            # Past the deadline already: the A8 notice, once, and no warning with a date gone.
            assert not OrderEvent.objects.filter(order=order, kind=EventKind.DEADLINE_WARNING)
            assert (
                OrderEvent.objects.filter(order=order, kind=EventKind.AUTO_CANCEL_EXPECTED).count()
                == 1
            )
        for order in (late, *more):
            assert (
                OrderEvent.objects.filter(order=order, kind=EventKind.SHIP_BY_PASSED).count() == 1
            )
        assert OrderEvent.objects.filter(order=stale, kind=EventKind.PENDING_TOO_LONG).count() == 1
        assert not OrderEvent.objects.filter(order=fresh).exclude(kind=EventKind.IMPORTED).exists()
        flags = {
            o.pk: (o.warned_at is not None, o.is_late, o.auto_cancel_expected, o.pending_too_long)
            for o in Order.objects.all()
        }
        assert flags[warned.pk] == (True, False, False, False)
        assert flags[late.pk] == (False, True, False, False)
        assert flags[stale.pk] == (False, False, False, True)
        assert flags[fresh.pk] == (False, False, False, False)
        assert all(flags[o.pk] == (True, True, True, False) for o in more)
        assert Notification.objects.filter(order=warned, kind="deadline_warning").count() == 1
        assert Notification.objects.count() == 3 + 2 * len(more)
        [event] = OrderEvent.objects.filter(order=warned, kind=EventKind.DEADLINE_WARNING)
        assert event.message.startswith("Please confirm shipment by ")
        assert event.message.endswith(" to avoid cancellation")
        assert " CET " in event.message or " CEST " in event.message

    # E-mail left the workers as digests, to the merchant's person only (R4).
    mails = sent_mail(mail_dir)
    assert mails, "no e-mail was sent"
    assert {a for to, _ in mails for a in to} == {"ops@seller.example"}
    assert not {a for to, _ in mails for a in to} & buyer_addresses()
    # Digests, not one e-mail per order: each sweep run sends one per person, and the
    # every-minute safety net may pick up rows a run committed before its own digest.
    assert len(mails) <= 6 < len(more)
    assert any("Please confirm shipment by" in body for _, body in mails)
