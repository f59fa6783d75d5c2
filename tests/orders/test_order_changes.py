"""The push lane of the sync: Amazon's ORDER_CHANGE notifications, through our SQS reader and
the real python-amazon-sp-api client, against the emulator (rules R1, A1, A3, B1, B5)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from integrations.amazon.queue import address
from integrations.outbox.models import OutboxMessage
from integrations.outbox.services import deliver_due
from notifications.models import Notification
from orders import order_changes
from orders.models import EventKind, Order, OrderEvent
from orders.selectors import amazon_sync_statuses
from portal.schedules import ensure_schedules
from sandbox.amazon import sqs
from sandbox.amazon.models import AmazonQueueMessage, AmazonSubscription
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.support.amazon_sync import (
    connect,
    imported_events_per_order,
    state_of,
    sync_until_caught_up,
)
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pushed(settings):
    """The emulator, and our queue setting pointing at its SQS."""
    settings.KEELSON_AMAZON_RATE_LIMITS = False
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    settings.KEELSON_AMAZON_SQS_ACCESS_KEY_ID = "sandbox"
    settings.KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY = "sandbox"
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        settings.KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL = sandbox.queue_url
        yield sandbox


def connect_and_subscribe(merchant, sandbox):
    account = connect(merchant, sandbox, backfill_days=0)
    with tenant_context(merchant):
        message = OutboxMessage.objects.get(kind=order_changes.SUBSCRIBE_KIND)
        assert deliver_due(message_id=message.pk) == 1
        message.refresh_from_db()
        assert message.status == "sent", message.last_error
    return account


def receive(seconds: float = 2) -> order_changes.ReceiveReport:
    return order_changes.receive(seconds=seconds)


def our_order(merchant, amazon_order_id: str) -> Order:
    with tenant_context(merchant):
        return Order.objects.prefetch_related("lines").get(external_id=amazon_order_id)


def queue_client(sandbox):
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=address(sandbox.queue_url).endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_connecting_subscribes_the_seller_to_order_changes_through_the_outbox(
    pushed, make_merchant
):
    merchant = make_merchant()
    account = connect_and_subscribe(merchant, pushed)
    state = state_of(account)
    subscription = AmazonSubscription.objects.get(
        seller__selling_partner_id=pushed.seller["selling_partner_id"]
    )
    assert state.order_change_subscription_id == subscription.subscription_id
    assert state.order_change_queue_arn == sqs.queue_arn() == subscription.destination.sqs_arn
    with tenant_context(merchant):
        [status] = amazon_sync_statuses()  # what the portal and GET /api/v1/merchants/ show
    assert status.notifications_subscribed and status.last_notification_at is None
    # Reconnecting (new credentials) subscribes again: found in place, nothing doubled.
    connect(merchant, pushed, backfill_days=0)
    with tenant_context(merchant):
        assert deliver_due() == 1
        assert OutboxMessage.objects.filter(status="sent").count() == 2
    assert AmazonSubscription.objects.count() == 1
    assert state_of(account).order_change_subscription_id == subscription.subscription_id


def test_no_queue_configured_means_no_subscription_and_nothing_received(
    settings, pushed, make_merchant
):
    settings.KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL = ""
    merchant = make_merchant()
    connect(merchant, pushed, backfill_days=0)
    with tenant_context(merchant):
        assert not OutboxMessage.objects.filter(kind=order_changes.SUBSCRIBE_KIND).exists()
    assert receive(0.1).messages == 0


def test_an_order_arrives_through_its_notification_without_any_poll_R1_A1_A3_B1_B5(
    pushed, make_merchant, make_user
):
    merchant = make_merchant()
    make_user(merchant=merchant, role="merchant_admin")
    connect_and_subscribe(merchant, pushed)
    control, sid = pushed.control, pushed.seller["selling_partner_id"]

    placed = control.place_order(sid, items=[{"quantity": 2}, {"quantity": 1}])
    order_id = placed["amazon_order_id"]
    # Amazon would list it only two minutes from now; the notification brings it at once.
    report = receive()
    assert (report.orders, report.created, report.dropped, report.retried) == (1, 1, 0, 0)
    order = our_order(merchant, order_id)
    assert order.status == "Pending"
    assert sorted(line.quantity_ordered for line in order.lines.all()) == [1, 2]

    control.advance_clock(minutes=31)
    assert receive().updated == 1
    assert our_order(merchant, order_id).status == "Unshipped"

    control.request_buyer_cancellation(sid, order_id, "Ordered by mistake.")
    assert receive().updated == 1
    order = our_order(merchant, order_id)
    assert order.buyer_cancel_requested
    with tenant_context(merchant):
        kinds = list(
            OrderEvent.objects.filter(order=order).order_by("id").values_list("kind", flat=True)
        )
        assert kinds.count(EventKind.BUYER_CANCEL_REQUESTED) == 1
        assert Notification.objects.filter(order=order).count() == 1  # B5, to the merchant
    assert receive(0.5).messages == 0  # every message was deleted


def test_redelivered_and_junk_messages_change_nothing(pushed, make_merchant):
    merchant = make_merchant()
    connect_and_subscribe(merchant, pushed)
    control, sid = pushed.control, pushed.seller["selling_partner_id"]
    client = queue_client(pushed)
    placed = control.place_order(sid, items=[{"quantity": 1}])
    bodies = [
        m["Body"]
        for m in client.receive_message(
            QueueUrl=pushed.queue_url, WaitTimeSeconds=5, VisibilityTimeout=0
        )["Messages"]
    ]
    assert len(bodies) == 1
    stranger = json.loads(bodies[0])
    stranger["Payload"]["OrderChangeNotification"]["SellerId"] = "ANOBODYWESYNC"
    for body in [
        bodies[0],
        "not json at all",
        json.dumps({"NotificationType": "OTHER"}),
        json.dumps(stranger),
    ]:
        client.send_message(QueueUrl=pushed.queue_url, MessageBody=body)

    report = receive()
    # The original and its copy: one order, imported once; three messages dropped for good.
    assert (report.messages, report.orders, report.created, report.dropped) == (5, 1, 1, 3)
    assert imported_events_per_order(merchant) == {
        our_order(merchant, placed["amazon_order_id"]).pk: 1
    }
    assert receive(0.5).messages == 0


def test_a_notification_that_cannot_be_fetched_now_comes_back_and_then_applies(
    pushed, make_merchant
):
    merchant = make_merchant()
    connect_and_subscribe(merchant, pushed)
    control, sid = pushed.control, pushed.seller["selling_partner_id"]
    control.inject_fault("error_503", operations=["getOrder"], share=1.0, count=10)
    placed = control.place_order(sid, items=[{"quantity": 1}])
    report = receive()
    assert report.retried >= 1 and report.orders == 0
    control.clear_faults()
    # SQS hands the message out again after its visibility timeout (120 s): let the emulated
    # queue's time pass.
    assert AmazonQueueMessage.objects.update(visible_at="2000-01-01T00:00:00Z") == 1
    assert receive().created == 1
    assert our_order(merchant, placed["amazon_order_id"]).status == "Pending"


def test_push_and_poll_together_import_each_order_once(pushed, make_merchant):
    merchant = make_merchant()
    account = connect_and_subscribe(merchant, pushed)
    control, sid = pushed.control, pushed.seller["selling_partner_id"]
    ids = [control.place_order(sid, items=[{"quantity": 1}])["amazon_order_id"] for _ in range(3)]
    receive()
    control.advance_clock(minutes=5)  # listable now: the poll reads the same orders again
    sync_until_caught_up(account)
    receive(0.5)
    counts = imported_events_per_order(merchant)
    assert sorted(counts.values()) == [1, 1, 1]
    assert {our_order(merchant, i).pk for i in ids} == set(counts)


@pytest.mark.slow
def test_with_a_qcluster_an_order_is_pushed_to_the_api_without_waiting_for_a_poll_R1(
    settings, make_merchant, make_api_key, call
):
    """The real django-q2 cluster runs the schedules: it delivers the subscription (outbox),
    long-polls the queue and upserts the notified order; nobody calls anything by hand."""
    merchant = make_merchant()
    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    with running_amazon_sandbox() as sandbox:  # Amazon's rate limits on
        queue = {
            "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL": sandbox.queue_url,
            "KEELSON_AMAZON_SQS_ACCESS_KEY_ID": "sandbox",
            "KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY": "sandbox",
        }
        for name, value in queue.items():
            setattr(settings, name, value)
        account = connect(merchant, sandbox, backfill_days=0)
        ensure_schedules()  # the test database was flushed: register them as `migrate` does

        def listed() -> list[str]:
            response = call("get", "/api/v1/orders/", key=key)
            assert response.status_code == 200
            return [o["order_number"] for o in response.json()["results"]]

        with qcluster(KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS="20", **queue) as proc:
            deadline = time.monotonic() + 90
            while not state_of(account).order_change_subscription_id:
                assert proc.poll() is None, "qcluster died"
                assert time.monotonic() < deadline, "the subscription was not made"
                time.sleep(0.5)
            placed = sandbox.control.place_order(
                sandbox.seller["selling_partner_id"], items=[{"quantity": 3}]
            )["amazon_order_id"]
            deadline = time.monotonic() + 120
            while placed not in listed():
                assert proc.poll() is None, "qcluster died"
                assert time.monotonic() < deadline, "the order did not arrive"
                time.sleep(0.5)
    state = state_of(account)
    assert state.notifications_received >= 1 and state.last_notification_at is not None
    with tenant_context(merchant):
        assert Order.objects.get(external_id=placed).lines.get().quantity_ordered == 3


def test_a_second_receiver_ends_at_once_while_one_long_polls(pushed):
    """The schedule fires every minute: while a run still long-polls, the next one must not
    hold a second worker (KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS = 1)."""
    import threading

    from django.db import connections

    first: list[order_changes.ReceiveReport] = []

    def long_poll() -> None:
        try:
            first.append(receive(4))
        finally:
            connections.close_all()

    worker = threading.Thread(target=long_poll)
    worker.start()
    time.sleep(1)
    assert receive(4).busy
    worker.join(15)
    assert first and not first[0].busy
    assert not receive(0.1).busy  # the slot is free again
