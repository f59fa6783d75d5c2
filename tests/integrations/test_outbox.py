"""The outbox: nothing lost, nothing doubled."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from integrations.outbox import services
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import EventKind, OrderEvent
from tenants.scope import tenant_context
from tests.support.processes import qcluster
from tests.support.sink import Sink


def _enqueue(merchant, sink, key="k1", order=None, **kw):
    with tenant_context(merchant), transaction.atomic():
        return services.enqueue(
            merchant_id=merchant.id,
            kind="sandbox.webhook",
            payload={"url": sink.url, "body": {"hello": key}, "timeout": kw.pop("timeout", 5)},
            idempotency_key=key,
            order_id=order.id if order else None,
            **kw,
        )


def _make_due(merchant, message):
    with tenant_context(merchant):
        OutboxMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )


def _deliver(merchant):
    with tenant_context(merchant):
        return services.deliver_due()


def _reload(merchant, message):
    with tenant_context(merchant):
        return OutboxMessage.objects.get(pk=message.pk)


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused(two_merchants):
    a, _ = two_merchants
    with tenant_context(a), pytest.raises(RuntimeError, match="inside the transaction"):
        services.enqueue(merchant_id=a.id, kind="sandbox.webhook", payload={}, idempotency_key="x")


@pytest.mark.django_db
def test_unknown_kind_is_refused_when_enqueued(two_merchants):
    a, _ = two_merchants
    with tenant_context(a), transaction.atomic(), pytest.raises(LookupError):
        services.enqueue(merchant_id=a.id, kind="nope", payload={}, idempotency_key="x")


@pytest.mark.django_db
def test_same_idempotency_key_enqueues_one_message(two_merchants):
    a, _ = two_merchants
    with Sink() as sink:
        first = _enqueue(a, sink, key="same")
        second = _enqueue(a, sink, key="same")
    assert first.pk == second.pk
    with tenant_context(a):
        assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_state_change_sends_nothing(two_merchants):
    a, _ = two_merchants
    with Sink() as sink:
        with pytest.raises(RuntimeError), tenant_context(a), transaction.atomic():
            services.enqueue(
                merchant_id=a.id,
                kind="sandbox.webhook",
                payload={"url": sink.url},
                idempotency_key="rolled-back",
            )
            raise RuntimeError("the use case failed")
        assert _deliver(a) == 0
        assert sink.requests == []
    with tenant_context(a):
        assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_transient_failures_are_retried_with_backoff_then_sent(two_merchants, make_order):
    a, _ = two_merchants
    order = make_order(a)
    with Sink() as sink:
        sink.fail_next = [503, 429]
        message = _enqueue(a, sink, order=order, deliver_after=timezone.now())
        assert _deliver(a) == 1
        message = _reload(a, message)
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == 1 and message.last_error_code == "http_503"
        assert message.next_attempt_at > timezone.now()  # backing off
        assert _deliver(a) == 0  # not due yet
        _make_due(a, message)
        _deliver(a)
        _make_due(a, message)
        _deliver(a)
        message = _reload(a, message)
    assert message.status == OutboxStatus.SENT
    assert message.attempts == 2  # the 429 (slow down) is not counted
    assert len(sink.requests) == 3 and len(sink.effects) == 1
    with tenant_context(a):
        event = OrderEvent.objects.get(order=order, kind=EventKind.OUTBOX)
    assert "attempt 2" in event.message


@pytest.mark.django_db(transaction=True)
def test_a_refused_message_fails_at_once_shows_on_the_timeline_and_can_be_retried(
    two_merchants, make_order
):
    a, _ = two_merchants
    order = make_order(a)
    with Sink() as sink:
        sink.fail_next = [422]
        message = _enqueue(a, sink, order=order, deliver_after=timezone.now())
        _deliver(a)
        message = _reload(a, message)
        assert message.status == OutboxStatus.FAILED
        assert message.last_error_code == "http_422"
        with tenant_context(a):
            failed_event = OrderEvent.objects.get(order=order, kind=EventKind.OUTBOX)
            assert "Could not send" in failed_event.message
            services.retry_message(message=message)
        _deliver(a)
        assert _reload(a, message).status == OutboxStatus.SENT
    assert len(sink.effects) == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_fails_after_its_last_attempt(two_merchants):
    a, _ = two_merchants
    with Sink() as sink:
        sink.fail_next = [500, 500]
        message = _enqueue(a, sink, deliver_after=timezone.now(), max_attempts=2)
        _deliver(a)
        _make_due(a, message)
        _deliver(a)
        message = _reload(a, message)
    assert message.status == OutboxStatus.FAILED
    assert message.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_other_merchants_messages_are_not_delivered_in_my_scope(two_merchants):
    a, b = two_merchants
    with Sink() as sink:
        _enqueue(b, sink, key="theirs", deliver_after=timezone.now())
        assert _deliver(a) == 0
        assert _deliver(b) == 1
    assert list(sink.effects) == ["theirs"]


def test_backoff_grows_and_is_capped():
    import random

    rng = random.Random(1)
    delays = [services.backoff_delay(n, rng=rng) for n in range(1, 15)]
    assert 2.5 <= delays[0] <= 5
    assert 5 <= delays[1] <= 10
    assert all(d <= services.BACKOFF_MAX_SECONDS for d in delays)
    assert delays[-1] >= services.BACKOFF_MAX_SECONDS / 2


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_qcluster_delivers_right_after_commit(two_merchants, make_order):
    a, _ = two_merchants
    order = make_order(a)
    with Sink() as sink, qcluster():
        message = _enqueue(a, sink, key="fast", order=order)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _reload(a, message).status != OutboxStatus.SENT:
            time.sleep(0.2)
    assert _reload(a, message).status == OutboxStatus.SENT
    assert list(sink.effects) == ["fast"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_between_send_and_ack_causes_the_effect_once(two_merchants):
    a, _ = two_merchants
    with Sink() as sink:
        sink.hold_seconds = 30  # the destination applies the effect, then answers late
        with qcluster() as cluster:
            message = _enqueue(a, sink, key="once", timeout=60)
            assert sink.received.wait(60), "the worker never sent the message"
            import os
            import signal

            os.killpg(cluster.pid, signal.SIGKILL)  # killed before it could record the answer
            cluster.wait(10)
        message = _reload(a, message)
        assert message.status == OutboxStatus.PENDING and message.attempts == 1
        # Nobody else may take it while the dead worker's lease lasts...
        assert _deliver(a) == 0
        # ...and once the lease has expired, it is delivered again, with the same key.
        sink.hold_seconds = 0
        with tenant_context(a):
            OutboxMessage.objects.filter(pk=message.pk).update(
                lease_until=timezone.now() - timedelta(seconds=1)
            )
        assert _deliver(a) == 1
    message = _reload(a, message)
    assert message.status == OutboxStatus.SENT and message.attempts == 2
    assert [r["key"] for r in sink.requests] == ["once", "once"]
    assert list(sink.effects) == ["once"]  # the effect happened once


@pytest.mark.django_db(transaction=True)
def test_a_deferred_delivery_is_not_a_failed_attempt(two_merchants):
    """A handler that asks to be called later (a message waiting for companions to share an
    Amazon feed) neither uses up its attempts nor backs off: it comes back when it asked."""
    from integrations.outbox.errors import DeferredDelivery
    from integrations.outbox.registry import Handler, register

    a, _ = two_merchants
    calls = []

    def send(message):
        calls.append(message.attempts)
        if len(calls) <= 5:
            raise DeferredDelivery("waiting for companions", code="waiting", retry_after=40)
        return {"sent": True}

    register(Handler(kind="tests.deferred", send=send, describe_sent=lambda m, r: None))
    with tenant_context(a), transaction.atomic():
        message = services.enqueue(
            merchant_id=a.id,
            kind="tests.deferred",
            payload={},
            idempotency_key="deferred",
            max_attempts=2,
        )
    for _ in range(5):
        _make_due(a, message)
        _deliver(a)
        message = _reload(a, message)
        assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
        assert message.last_error_code == "waiting"
        assert message.next_attempt_at >= message.updated_at + timedelta(seconds=39)
    _make_due(a, message)
    _deliver(a)
    message = _reload(a, message)
    assert (message.status, message.attempts) == (OutboxStatus.SENT, 1)
    assert calls == [1, 1, 1, 1, 1, 1]  # each call was its message's first attempt


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_with_a_claimed_batch_uses_up_no_attempt_of_messages_it_never_sent(
    two_merchants,
):
    """Found by bench/faults/outbox.py: a claim counted an attempt for every message of the
    batch (up to 50), so each SIGKILLed worker used up an attempt of messages it never tried,
    and after a few kills and a few 5xx a message was parked as failed, never sent."""
    a, _ = two_merchants
    with Sink() as sink:
        messages = [
            _enqueue(a, sink, key=f"batch-{n}", deliver_after=timezone.now(), max_attempts=2)
            for n in range(3)
        ]
        for _ in range(3):  # three workers claim the batch and die before sending anything
            with tenant_context(a):
                ids, _token = services.claim()
                assert len(ids) == 3
                OutboxMessage.objects.filter(pk__in=ids).update(
                    lease_until=timezone.now() - timedelta(seconds=1)
                )
        sink.fail_next = [503]  # and the first real try fails: one attempt is left for it
        _deliver(a)
        _make_due(a, messages[0])
        _deliver(a)
        sent = [_reload(a, m) for m in messages]
    assert [m.status for m in sent] == [OutboxStatus.SENT] * 3
    assert [m.attempts for m in sent] == [2, 1, 1]
    assert len(sink.effects) == 3


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_429s_never_parks_a_message_the_destination_did_not_refuse(two_merchants):
    """Found by bench/faults/outbox.py: refunds met 429 storms on several calls each, every 429
    used up an attempt, and they came close to being parked as failed though Amazon had refused
    nothing. A 429 says "slow down": retried after Retry-After, without using up an attempt."""
    a, _ = two_merchants
    with Sink() as sink:
        sink.fail_next = [429, 429, 429, 429]
        message = _enqueue(a, sink, key="throttled", deliver_after=timezone.now(), max_attempts=2)
        for _ in range(5):
            _make_due(a, message)
            _deliver(a)
        message = _reload(a, message)
    assert message.status == OutboxStatus.SENT and message.attempts == 1
    assert len(sink.requests) == 5 and len(sink.effects) == 1
