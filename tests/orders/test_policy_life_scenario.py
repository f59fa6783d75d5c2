"""The 30-day life of an Amazon order nobody confirms, on the emulator's clock, with a real
django-q2 cluster running the schedules (rules A1, A3, A8, A9, R4; issue #4).

An order is placed in the Amazon emulator and the seller account is connected through the real
``connect_amazon_account``; from then on nothing here calls a task: the cluster's scheduler
starts the sync and the policy sweep, which read Amazon through the real SP-API client and, with
``KEELSON_CLOCK=sandbox``, Amazon's timelines on the emulator's clock. The test advances that
clock step by step (control API) and checks the timeline, the notifications, the e-mail and the
flags after each step:

1. Pending: imported, no action allowed (A1).
2. +35 minutes: Unshipped (A3), actions allowed, deadlines set, not at risk.
3. Day 23 (a week before the 30-day deadline): one A9 warning on the timeline, one merchant
   notification, one digest e-mail to the merchant's opted-in person (R4: nobody else, never the
   buyer); the order is at risk (and late: its ship-by date passed on day 2).
4. Day 30: Amazon cancels it (A8); we import Canceled with its timeline event, no deadlines, no
   flags.
5. A sweep after that finds nothing to do: nothing doubled.

Speed: django-q2's scheduler looks at the schedules every 30 s and our schedules run every
minute. Instead of waiting a minute per step, the test makes the one schedule a step needs due
(``Schedule.next_run``: the scheduler's own work list, as an operator's "run now" would) and,
for the sync, the account (``next_sync_at``, its "sync now"); the scheduler still picks them up
on its next pass and the cluster's workers run them. About 30 s per step, under 3 minutes in
all.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task

from integrations.amazon.gateway import parse_datetime
from notifications.models import EmailState, Notification, NotificationKind, NotificationRecipient
from orders import policy
from orders.models import EventKind, Order, OrderEvent
from orders.services import STEPS
from portal.schedules import ensure_schedules
from sandbox.amazon.lifecycle import NOT_CONFIRMED_REASON
from sandbox.amazon.models import AmazonOrder as EmulatedOrder
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AmazonAccount, Role
from tenants.scope import tenant_context
from tests.support.amazon_sync import connect, iso
from tests.support.mail_backends import sent_mail
from tests.support.policy import buyer_addresses
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SYNC = "orders.tasks.sync_due_amazon_accounts"
SWEEP = "orders.tasks.sweep_deadlines"
# One scheduler pass is due within 30 s of a step (the first about 30 s after start-up), and a
# schedule due just after a pass waits for the next one: three passes, and the task's own run
# on a loaded machine (CI saw 80 s run out by six seconds), before a step is declared stuck.
STEP_TIMEOUT = 120.0
MERCHANT_TZ = "America/New_York"
OPEN_ACTIONS = {"fulfil", "mark_fulfilled", "request_fulfillment", "cancel"}


@pytest.mark.slow
def test_an_unconfirmed_order_is_warned_on_day_23_and_cancelled_by_amazon_on_day_30(
    make_merchant, make_user, make_api_key, call, settings, tmp_path
):
    settings.KEELSON_CLOCK = "sandbox"  # this process reads the flags on the cluster's clock
    merchant = make_merchant(name="Lakeside Kayaks", time_zone=MERCHANT_TZ)
    ops = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@lakeside.example")
    make_user(
        role=Role.MERCHANT_STAFF,
        merchant=merchant,
        email="quiet@lakeside.example",
        email_notifications=False,
    )
    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    mail_dir = tmp_path / "mail"

    with running_amazon_sandbox() as sandbox:  # Amazon's rate limits on
        sid = sandbox.seller["selling_partner_id"]
        placed = sandbox.control.place_order(sid, items=[{"quantity": 2}])
        amazon_id = placed["amazon_order_id"]
        purchased = parse_datetime(placed["purchase_date"])
        buyer_email = EmulatedOrder.objects.get(amazon_order_id=amazon_id).buyer_email
        sandbox.control.advance_clock(minutes=3)  # Amazon lists changes two minutes old
        account = connect(merchant, sandbox, backfill_days=1)
        ensure_schedules()  # the test database was flushed: register them as `migrate` does

        env = {
            "KEELSON_CLOCK": "sandbox",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
        }
        with qcluster(**env) as proc:
            steps = Steps(proc, merchant, account, amazon_id, call, key)

            # 1. Pending (A1): the first scheduler pass syncs the new account.
            order = steps.wait("the sync to import the Pending order", lambda: steps.order())
            assert order.status == "Pending" and order.purchase_date == purchased
            detail = steps.detail()
            assert detail["allowed_actions"] == []
            assert {a["code"] for a in detail["actions"]} == {policy.ORDER_PENDING}
            assert detail["flags"]["in_buyer_cancel_hold"] is True
            assert detail["deadlines"]["confirm_by"] is None
            assert steps.timeline() == [(EventKind.IMPORTED, "Imported from Amazon (Pending).")]
            assert steps.notifications() == []

            # 2. Unshipped after Amazon's 30-minute hold (A3): the next sync sees it.
            sandbox.control.set_clock(iso(purchased + timedelta(minutes=35)))
            steps.run_sync()
            order = steps.wait("the sync to see Unshipped", lambda: steps.order("Unshipped"))
            detail = steps.detail()
            assert set(detail["allowed_actions"]) == OPEN_ACTIONS  # ship it or cancel it (A4)
            assert detail["flags"]["in_buyer_cancel_hold"] is False
            confirm_by, warn_at = order.confirm_by, order.warn_at
            assert abs(confirm_by - (purchased + timedelta(days=30))) <= timedelta(hours=1)  # A8
            assert warn_at == policy.shift_days(confirm_by, -7, MERCHANT_TZ)  # A9: a week before
            assert parse_datetime(detail["deadlines"]["warn_at"]) == warn_at
            assert not steps.flags_set()
            assert order.pk not in steps.listed(at_risk="true")
            assert steps.timeline()[1:] == [
                (EventKind.STATUS_CHANGED, "Amazon status changed from Pending to Unshipped.")
            ]
            assert steps.notifications() == []

            # 3. Day 23: the sweep warns, once, and the merchant's person gets one digest.
            sandbox.control.set_clock(iso(warn_at + timedelta(hours=1)))
            ran = steps.run_sweep()
            steps.wait("the sweep to give the A9 warning", lambda: steps.warned())
            steps.wait("the sweep run to finish", lambda: steps.sweep_since(ran))
            warning = policy.deadline_warning_message(confirm_by, MERCHANT_TZ)
            assert warning.startswith("Please confirm shipment by ")
            assert warning.endswith(" to avoid cancellation")
            late = policy.ship_by_passed_message(order.ship_by, MERCHANT_TZ)
            assert sorted(steps.timeline()[2:]) == sorted(
                [(EventKind.SHIP_BY_PASSED, late), (EventKind.DEADLINE_WARNING, warning)]
            )
            assert steps.notifications() == sorted(
                [NotificationKind.DEADLINE_WARNING, NotificationKind.SHIP_BY_PASSED]
            )
            with tenant_context(merchant):
                recipients = dict(
                    NotificationRecipient.objects.filter(
                        notification__kind=NotificationKind.DEADLINE_WARNING
                    ).values_list("user__email", "email_state")
                )
            assert recipients == {
                "ops@lakeside.example": EmailState.SENT,
                "quiet@lakeside.example": EmailState.NOT_WANTED,  # opted out of e-mail
            }
            mails = sent_mail(mail_dir)
            assert [to for to, _ in mails] == [{ops.email}], mails  # one digest, to ops only
            assert warning in mails[0][1]
            detail = steps.detail()
            assert detail["flags"]["is_at_risk"] is True
            assert detail["flags"]["is_late"] is True
            assert detail["flags"]["expected_auto_cancel"] is False
            assert set(detail["allowed_actions"]) == OPEN_ACTIONS  # still time to ship
            assert steps.flags_set() == {"warned", "late"}
            assert order.pk in steps.listed(at_risk="true")

            # 4. Day 30: Amazon cancels the unconfirmed order (A8); the sync brings it in. The
            # sweep is held until then, so that it cannot see the deadline pass first.
            steps.hold(SWEEP)
            auto_cancel_at = parse_datetime(
                sandbox.control.order(sid, amazon_id)["schedule"]["auto_cancel_at"]
            )
            sandbox.control.set_clock(iso(max(confirm_by, auto_cancel_at) + timedelta(hours=1)))
            emulated = sandbox.control.order(sid, amazon_id)
            assert emulated["status"] == "Canceled" and emulated["canceled_by"] == "AMAZON"
            assert emulated["cancel_reason"] == NOT_CONFIRMED_REASON
            steps.run_sync()
            order = steps.wait("the sync to see Canceled", lambda: steps.order("Canceled"))
            detail = steps.detail()
            assert detail["allowed_actions"] == []
            assert detail["deadlines"] == dict.fromkeys(detail["deadlines"])  # all None
            assert detail["flags"]["is_at_risk"] is False
            assert detail["flags"]["is_late"] is False
            assert detail["flags"]["expected_auto_cancel"] is False
            assert steps.flags_set() == {"warned"}  # the warning stays given, once
            assert order.pk not in steps.listed(at_risk="true")
            final = steps.timeline()
            assert final[-1] == (
                EventKind.STATUS_CHANGED,
                "Amazon status changed from Unshipped to Canceled.",
            )

            # 5. The next sweep finds nothing left to do: nothing is doubled.
            ran = steps.run_sweep()
            result = steps.wait("a sweep after the cancellation", lambda: steps.sweep_since(ran))
            assert {step: result[step] for step in STEPS} == dict.fromkeys(STEPS, 0), result
            assert result["emailed"] == 0, result

    # The whole life on the timeline, each event once (no A8 "expected" flag: Amazon's own
    # cancellation came first).
    assert sorted(kind for kind, _ in final) == sorted(
        [
            EventKind.IMPORTED,
            EventKind.STATUS_CHANGED,  # Pending -> Unshipped
            EventKind.SHIP_BY_PASSED,
            EventKind.DEADLINE_WARNING,
            EventKind.STATUS_CHANGED,  # Unshipped -> Canceled
        ]
    )
    assert steps.timeline() == final
    assert steps.notifications() == sorted(
        [NotificationKind.DEADLINE_WARNING, NotificationKind.SHIP_BY_PASSED]
    )
    mails = sent_mail(mail_dir)
    assert [to for to, _ in mails] == [{ops.email}]
    # R4: never a word to the buyer (the address Amazon has, and any we stored).
    mailed = {a for to, _ in mails for a in to}
    assert not mailed & (buyer_addresses() | {buyer_email.lower()})


class Steps:
    """What the test does and reads between scheduler passes."""

    def __init__(self, proc, merchant, account: AmazonAccount, amazon_id: str, call, key: str):
        self.proc, self.merchant, self.account = proc, merchant, account
        self.amazon_id, self.call, self.key = amazon_id, call, key

    # -- making a schedule due on the scheduler's next pass -----------------------------------

    def _due(self, func: str) -> datetime:
        now = timezone.now()
        assert Schedule.objects.filter(func=func).update(next_run=now - timedelta(seconds=1))
        return now

    def run_sync(self) -> datetime:
        """The sync fan-out on the next pass, with the account due ("sync now")."""
        with tenant_context(self.merchant):
            AmazonAccount.objects.filter(pk=self.account.pk).update(next_sync_at=timezone.now())
        return self._due(SYNC)

    def run_sweep(self) -> datetime:
        return self._due(SWEEP)

    def hold(self, func: str) -> None:
        Schedule.objects.filter(func=func).update(next_run=timezone.now() + timedelta(days=1))

    def sweep_since(self, moment: datetime) -> dict | None:
        task = (
            Task.objects.filter(func=SWEEP, started__gte=moment, success=True)
            .order_by("-started")
            .first()
        )
        return task.result if task is not None else None

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, what: str, check, timeout: float = STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, (
                f"the qcluster died while waiting for {what}; its log: {self.proc.log_path}"
            )
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"waited {timeout:.0f} s for {what}, in vain. {self._report()} "
                    f"The qcluster's log: {self.proc.log_path}"
                )
            time.sleep(0.5)

    def _report(self) -> str:
        tasks = [
            f"{t.func} {'ok' if t.success else 'FAILED'} at {t.started:%H:%M:%S}"
            + ("" if t.success else f": {str(t.result)[-300:]}")
            for t in Task.objects.order_by("-started")[:8]
        ]
        schedules = {s.func: f"{s.next_run:%H:%M:%S}" for s in Schedule.objects.all()}
        order = self.order()
        return (
            f"Our order: {order.status if order else 'not imported'}. Latest tasks: {tasks}. "
            f"Schedules' next runs: {schedules}. Now: {timezone.now():%H:%M:%S}."
        )

    # -- reading --------------------------------------------------------------------------------

    def order(self, status: str | None = None) -> Order | None:
        with tenant_context(self.merchant):
            order = Order.objects.filter(external_id=self.amazon_id).first()
        if order is None or (status is not None and order.status != status):
            return None
        return order

    def warned(self) -> bool:
        order = self.order()
        return order is not None and order.warned_at is not None

    def flags_set(self) -> set[str]:
        order = self.order()
        flags = {
            "warned": order.warned_at is not None,
            "late": order.is_late,
            "auto_cancel_expected": order.auto_cancel_expected,
            "pending_too_long": order.pending_too_long,
        }
        return {name for name, on in flags.items() if on}

    def timeline(self) -> list[tuple[str, str]]:
        with tenant_context(self.merchant):
            events = OrderEvent.objects.filter(order__external_id=self.amazon_id).order_by("id")
            return [(e.kind, e.message) for e in events]

    def notifications(self) -> list[str]:
        with tenant_context(self.merchant):
            return sorted(Notification.objects.values_list("kind", flat=True))

    def detail(self) -> dict:
        order = self.order()
        response = self.call("get", f"/api/v1/orders/{order.pk}/", key=self.key)
        assert response.status_code == 200, response.content[:500]
        return response.json()

    def listed(self, **params: str) -> set[int]:
        response = self.call("get", "/api/v1/orders/", key=self.key, data=params)
        assert response.status_code == 200, response.content[:500]
        return {o["id"] for o in response.json()["results"]}
