"""Refunds and cancellations of one Amazon account go to Amazon in one feed (issue 14), against
the SP-API emulator with the real python-amazon-sp-api classes: one createFeed for the window,
each refund settled from its own line of the processing report, one refused message failing
only its refund, a lost createFeed answer resumed without refunding twice, a held refund
leaving its batch (R8), and a message Amazon's schema refuses never sent."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.amazon import feed_batches, feed_sending
from integrations.models import AmazonFeedBatch, AmazonFeedBatchStatus
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import EventKind, Order, OrderEvent
from refunds import amazon as refunds_amazon
from refunds import selectors, services
from refunds.models import AmazonSync, Refund, RefundStatus
from refunds.policy import RequestedLine
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import tenant_context
from tests.refunds.amazon import (
    adjustments_applied_twice,
    connect,
    deliver_all,
    fast_feeds,
    feeds_received,
    import_orders,
    messages_in,
    place,
    ship,
)
from tests.refunds.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

ITEM = {"quantity": 2, "unit_price": "20.00", "seller_sku": "TENT-2P", "item_tax": "3.20"}
ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
CANCELLATION = "POST_ORDER_ACKNOWLEDGEMENT_DATA"


@pytest.fixture
def sandbox(transactional_db):
    with running_amazon_sandbox(rate_limits=False) as running:
        fast_feeds(running)
        yield running


@pytest.fixture
def seller(make_merchant, sandbox):
    merchant = make_merchant(name="Busy merchant")
    return merchant, connect(merchant, sandbox.seller)


def shipped_orders(sandbox, account, count: int) -> list[Order]:
    ids = [place(sandbox, sandbox.seller, [ITEM]) for _ in range(count)]
    for amazon_id in ids:
        ship(sandbox, account, amazon_id)
    return import_orders(account, *ids)


def refund_one(merchant, order) -> Refund:
    with tenant_context(merchant):
        line = order.lines.get()
        return services.create_refund(order.pk, actor=ACTOR, lines=[RequestedLine(line.pk, 1)])


def fresh(merchant, obj):
    with tenant_context(merchant):
        obj.refresh_from_db()
    return obj


def amazon_refunds(sandbox, order) -> list[dict]:
    return sandbox.control.order(sandbox.seller["selling_partner_id"], order.external_id)["refunds"]


def test_refunds_of_one_account_in_one_window_go_in_one_feed_each_settled_by_its_line(
    seller, sandbox
):
    merchant, account = seller
    orders = shipped_orders(sandbox, account, 6)
    refunds = [refund_one(merchant, order) for order in orders[:5]]

    deliver_all(merchant)

    feeds = feeds_received(account.selling_partner_id)
    print(f"\n5 refunds of one account -> {len(feeds)} createFeed call(s) at the emulator")
    assert [f.feed_type for f in feeds] == [ADJUSTMENT]
    (feed,) = feeds
    assert messages_in(feed) == 5
    message_ids = set()
    for refund, order in zip(refunds, orders, strict=False):
        refund = fresh(merchant, refund)
        assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
        assert refund.amazon_feed_id == feed.feed_id
        assert refund.amazon_report["successful"] == 1
        message_ids.add(refund.amazon_report["message_id"])
        assert {r["component"] for r in amazon_refunds(sandbox, order)} == {"Principal", "Tax"}
        with tenant_context(merchant):
            assert (
                OrderEvent.objects.filter(order=order, kind=EventKind.REFUND_SUCCEEDED).count() == 1
            )
    assert message_ids == {1, 2, 3, 4, 5}  # each refund its own MessageID
    assert amazon_refunds(sandbox, orders[5]) == []  # not refunded: not in the feed
    with tenant_context(merchant):
        (batch,) = AmazonFeedBatch.objects.all()
    assert (batch.status, batch.message_count, batch.create_feed_calls) == ("done", 5, 1)
    assert adjustments_applied_twice(account.selling_partner_id) == 0


def test_cancellations_share_a_feed_of_their_own_type(seller, sandbox):
    merchant, account = seller
    ids = [place(sandbox, sandbox.seller, [{"quantity": 1}]) for _ in range(3)]
    orders = import_orders(account, *ids)
    with tenant_context(merchant):
        cancellations = [
            services.cancel_order(o.pk, actor=ACTOR, reason="NoInventory", refund=Decimal("1.00"))
            for o in orders
        ]

    deliver_all(merchant)

    feeds = feeds_received(account.selling_partner_id)
    assert [(f.feed_type, messages_in(f)) for f in feeds] == [(CANCELLATION, 3)]
    for cancellation, amazon_id in zip(cancellations, ids, strict=True):
        assert fresh(merchant, cancellation).status == RefundStatus.SUCCEEDED
        assert sandbox.control.order(account.selling_partner_id, amazon_id)["status"] == "Canceled"


def test_one_refund_amazon_refuses_fails_alone_and_the_others_succeed(seller, sandbox):
    """Keelson believes the buyer paid more than Amazon charged for one order (a price edited
    by hand, say): Amazon refuses that adjustment as exceeding the order's total; only that
    refund fails, with Amazon's words; the others of the same feed succeed."""
    merchant, account = seller
    good_a, bad, good_b = shipped_orders(sandbox, account, 3)
    with tenant_context(merchant):
        bad.lines.update(item_price=Decimal("100.00"))  # Amazon charged 40.00
    refunds = [refund_one(merchant, order) for order in (good_a, bad, good_b)]
    assert fresh(merchant, refunds[1]).total == Decimal("51.60")  # 50.00 + 1.60 tax

    deliver_all(merchant)

    (feed,) = feeds_received(account.selling_partner_id)
    assert messages_in(feed) == 3
    ok_a, refused, ok_b = (fresh(merchant, r) for r in refunds)
    assert ok_a.status == ok_b.status == RefundStatus.SUCCEEDED
    assert refused.status == RefundStatus.FAILED
    assert refused.amazon_sync == AmazonSync.FAILED
    assert refused.failure_code == "amazon_18034"
    assert "more than the buyer paid" in refused.failure_message
    assert refused.amazon_report["with_error"] == 1
    assert amazon_refunds(sandbox, bad) == []
    assert {r["component"] for r in amazon_refunds(sandbox, good_a)} == {"Principal", "Tax"}
    with tenant_context(merchant):
        assert OrderEvent.objects.filter(order=bad, kind=EventKind.REFUND_FAILED).count() == 1
        assert OrderEvent.objects.filter(kind=EventKind.REFUND_SUCCEEDED).count() == 2


def test_a_lost_create_feed_answer_is_resumed_and_nothing_is_refunded_twice(seller, sandbox):
    """Amazon created the feed but its answer never came back (a crash, a dropped
    connection): the retry resumes the same batch with the same document; Amazon sees the
    MerchantAdjustmentItemIDs again and refunds nothing twice."""
    merchant, account = seller
    orders = shipped_orders(sandbox, account, 3)
    refunds = [refund_one(merchant, order) for order in orders]
    sandbox.control.inject_fault("lost_response", count=1, operations=["createFeed"])

    deliver_all(merchant)

    for refund in refunds:
        refund = fresh(merchant, refund)
        assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
    feeds = feeds_received(account.selling_partner_id)
    contents = {bytes(f.input_document.content) for f in feeds}
    duplicated = adjustments_applied_twice(account.selling_partner_id)
    print(
        f"\nlost createFeed answer: {len(feeds)} feeds, {len(contents)} document, "
        f"{duplicated} adjustments applied twice"
    )
    assert len(feeds) == 2 and len(contents) == 1  # the same document, resubmitted
    assert duplicated == 0
    for order in orders:
        assert len({r["adjustment_id"] for r in amazon_refunds(sandbox, order)}) == 1
    with tenant_context(merchant):
        (batch,) = AmazonFeedBatch.objects.all()
        assert batch.create_feed_calls == 2 and batch.feed_id == feeds[1].feed_id
        assert OrderEvent.objects.filter(kind=EventKind.REFUND_SUCCEEDED).count() == 3


def test_a_follower_killed_while_reading_the_report_holds_the_others_only_for_its_lease(
    seller, sandbox
):
    """Amazon processed the feed, and the worker that took the batch to read its report was
    killed (its lease stays on the row). The other members neither read it too nor count the
    wait as a failed attempt: they come back when the lease ends; then one of them reads the
    report once and every refund is settled (found by the outbox fault run: the wait had been
    counted, and the backoff outgrew the run)."""
    merchant, account = seller
    orders = shipped_orders(sandbox, account, 2)
    refunds = [refund_one(merchant, order) for order in orders]
    deliver_all(merchant)
    assert all(fresh(merchant, r).status == RefundStatus.SUCCEEDED for r in refunds)
    with tenant_context(merchant):
        messages = [selectors.outbox_message_for(r) for r in refunds]
        # The same moment again, with a follower that died holding the report's lease.
        batch = AmazonFeedBatch.objects.get()
        AmazonFeedBatch.objects.filter(pk=batch.pk).update(
            status=AmazonFeedBatchStatus.SUBMITTED,
            lease_until=timezone.now() + timedelta(seconds=45),
            lease_token=uuid.uuid4(),
        )
        for refund in refunds:
            Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING)
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
            status=OutboxStatus.PENDING, attempts=0
        )
        # A tripwire: any getFeed or report read now would be answered with a 500 and counted.
        sandbox.control.inject_fault(
            "error_500", count=10, operations=["getFeed", "getFeedDocument"]
        )

        outbox.deliver_due()

        for message in OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]):
            assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
            assert message.last_error_code == "feed_processing"
            wait = (message.next_attempt_at - timezone.now()).total_seconds()
            assert 20 <= wait <= 45, wait  # back when the dead follower's lease ends (45 s)
        assert sandbox.control.faults()["served"].get("error_500", 0) == 0  # nobody looked
        sandbox.control.clear_faults()

        AmazonFeedBatch.objects.filter(pk=batch.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        deliver_all(merchant)

    for refund in refunds:
        assert fresh(merchant, refund).status == RefundStatus.SUCCEEDED
    assert len(feeds_received(account.selling_partner_id)) == 1
    assert adjustments_applied_twice(account.selling_partner_id) == 0


def test_a_killed_sender_holds_its_batch_no_longer_than_its_outbox_message(
    seller, sandbox, settings
):
    """The worker sending a sealed batch owns it as long as it owns its message: killed, it
    holds the others up for the outbox's lease (here 20 s), not longer."""
    merchant, account = seller
    settings.KEELSON_OUTBOX_LEASE_SECONDS = 20
    (order,) = shipped_orders(sandbox, account, 1)
    refund = refund_one(merchant, order)
    with tenant_context(merchant):
        message = selectors.outbox_message_for(refund)
        feed_type, body = refunds_amazon.build_message(refund)
        one = feed_batches.Limits(max_messages=1, max_bytes=10**6, wait_seconds=0)
        member = feed_batches.join(
            message, refunds_amazon.batch_key(refund, feed_type), body, limits=one
        )
        assert member.batch.status == AmazonFeedBatchStatus.SEALED

        assert feed_sending.take_lease(member.batch_id) is not None  # then the worker dies
        lease_left = (
            AmazonFeedBatch.objects.get(pk=member.batch_id).lease_until - timezone.now()
        ).total_seconds()
        assert 10 <= lease_left <= 20, lease_left
        assert feed_sending.take_lease(member.batch_id) is None  # nobody sends it meanwhile


def test_delivering_a_settled_message_again_sends_nothing(seller, sandbox):
    merchant, account = seller
    (order,) = shipped_orders(sandbox, account, 1)
    refund = refund_one(merchant, order)
    deliver_all(merchant)
    assert fresh(merchant, refund).status == RefundStatus.SUCCEEDED
    with tenant_context(merchant):
        message = selectors.outbox_message_for(refund)
        OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxStatus.PENDING)
        outbox.deliver_due(message_id=message.pk)
        assert OutboxMessage.objects.get(pk=message.pk).result == {"skipped": "succeeded"}
    assert len(feeds_received(account.selling_partner_id)) == 1
    assert adjustments_applied_twice(account.selling_partner_id) == 0


def test_a_refund_put_on_hold_leaves_its_batch_and_goes_only_when_sent_again_R8(
    seller, sandbox, settings
):
    merchant, account = seller
    settings.KEELSON_FEED_BATCH_WAIT_SECONDS = 3600
    first, second = shipped_orders(sandbox, account, 2)
    r1, r2 = refund_one(merchant, first), refund_one(merchant, second)
    with tenant_context(merchant):
        m1 = selectors.outbox_message_for(r1)
        outbox.deliver_due(message_id=m1.pk)  # joins a batch and waits for r2's message
        (batch,) = AmazonFeedBatch.objects.all()
        assert (batch.status, batch.message_count) == ("open", 1)
        AmazonAccount.objects.filter(pk=account.pk).update(status=AccountStatus.DISCONNECTED)

    deliver_all(merchant)

    for held in (fresh(merchant, r1), fresh(merchant, r2)):
        assert (held.status, held.amazon_sync) == (RefundStatus.PENDING, AmazonSync.ON_HOLD)
    assert feeds_received(account.selling_partner_id) == []
    with tenant_context(merchant):
        assert AmazonFeedBatch.objects.get().status == AmazonFeedBatchStatus.ABANDONED
        AmazonAccount.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE)
        services.send_again(r1.pk, actor=ACTOR)  # a person sends the first one only
    deliver_all(merchant)

    assert fresh(merchant, r1).status == RefundStatus.SUCCEEDED
    assert fresh(merchant, r2).amazon_sync == AmazonSync.ON_HOLD
    (feed,) = feeds_received(account.selling_partner_id)
    assert (
        messages_in(feed) == 1 and first.external_id in bytes(feed.input_document.content).decode()
    )
    assert amazon_refunds(sandbox, second) == []


def test_a_message_amazons_schema_refuses_is_never_sent_and_the_others_go(seller, sandbox):
    merchant, account = seller
    broken, fine = shipped_orders(sandbox, account, 2)
    bad, good = refund_one(merchant, broken), refund_one(merchant, fine)
    with tenant_context(merchant):  # a reason Amazon does not know (our bug, say)
        Refund.objects.filter(pk=bad.pk).update(reason="BecauseWeCan")

    deliver_all(merchant)

    bad, good = fresh(merchant, bad), fresh(merchant, good)
    assert good.status == RefundStatus.SUCCEEDED
    assert bad.status == RefundStatus.FAILED
    assert bad.failure_code == "invalid_feed_document"
    assert "AdjustmentReason" in bad.failure_message and "nothing was sent" in bad.failure_message
    (feed,) = feeds_received(account.selling_partner_id)
    assert (
        messages_in(feed) == 1
        and broken.external_id not in bytes(feed.input_document.content).decode()
    )
    assert amazon_refunds(sandbox, broken) == []
