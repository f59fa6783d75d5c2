"""R8, the reference product's hazard: remove the Amazon channel, cancel orders, connect it
again, and the cancelled orders are refunded on Amazon, even fulfilled ones. Here, nothing is
ever sent to Amazon as a side effect of disconnecting, reconnecting or re-enabling: what a
person created while the account was not connected is held (on hold, never sent to a
disconnected account), and goes to Amazon only when a person sends it, exactly once. The
emulator's feed log is the witness of what Amazon received."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foundation.api.errors import DomainError
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from notifications.models import Notification
from orders.models import Order
from refunds import services
from refunds.models import AmazonSync, Refund, RefundStatus
from refunds.policy import RequestedLine
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AccountStatus, AmazonAccount, Merchant
from tenants.scope import tenant_context
from tenants.services import update_amazon_account
from tests.refunds.amazon import (
    connect,
    deliver_all,
    fast_feeds,
    feeds_received,
    import_orders,
    place,
    ship,
)
from tests.refunds.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(transactional_db):
    with running_amazon_sandbox(rate_limits=False) as running:
        fast_feeds(running)
        yield running


def set_status(account: AmazonAccount, status: str) -> None:
    with tenant_context(account.merchant_id):
        AmazonAccount.objects.filter(pk=account.pk).update(status=status)


def fresh(merchant, obj):
    with tenant_context(merchant):
        obj.refresh_from_db()
    return obj


def feed_log(account) -> list[tuple[str, str]]:
    """(feed type, Amazon order id) of every feed Amazon received for the seller."""
    out = []
    for feed in feeds_received(account.selling_partner_id):
        content = bytes(feed.input_document.content).decode()
        order_id = content.split("<AmazonOrderID>")[1].split("</AmazonOrderID>")[0]
        out.append((feed.feed_type, order_id))
    return out


def test_reconnecting_sends_nothing_and_explicit_ones_go_exactly_once_R8(make_merchant, sandbox):
    merchant = make_merchant(name="Reconnecting merchant")
    account = connect(merchant, sandbox.seller)
    unshipped_a = place(sandbox, sandbox.seller, [{"quantity": 1, "unit_price": "20.00"}])
    unshipped_b = place(sandbox, sandbox.seller, [{"quantity": 1, "unit_price": "30.00"}])
    shipped_c = place(sandbox, sandbox.seller, [{"quantity": 1, "unit_price": "40.00"}])
    ship(sandbox, account, shipped_c)
    a, b, c = import_orders(account, unshipped_a, unshipped_b, shipped_c)

    # The merchant removes the channel (the account is disconnected) ...
    set_status(account, AccountStatus.DISCONNECTED)
    # ... and, meanwhile, cancels A and refunds C in Keelson. B is left alone.
    with tenant_context(merchant):
        cancel_a = services.cancel_order(
            a.pk, actor=ACTOR, reason="NoInventory", refund=Decimal("20.00")
        )
        line_c = c.lines.get()
        refund_c = services.create_refund(c.pk, actor=ACTOR, lines=[RequestedLine(line_c.pk, 1)])
    assert cancel_a.amazon_sync == refund_c.amazon_sync == AmazonSync.ON_HOLD

    # The outbox runs: nothing goes to a disconnected account; both are held, not failed.
    deliver_all(merchant)
    assert feed_log(account) == []
    for held in (fresh(merchant, cancel_a), fresh(merchant, refund_c)):
        assert held.status == RefundStatus.PENDING
        assert held.amazon_sync == AmazonSync.ON_HOLD
        assert held.failure_code == "amazon_account_not_connected"
        assert "R8" in held.failure_message
    with tenant_context(merchant):
        assert Notification.objects.filter(title__contains="not sent to Amazon").count() == 2
        with pytest.raises(DomainError) as caught:
            services.send_again(cancel_a.pk, actor=ACTOR)
    assert caught.value.code == "amazon_account_not_connected"

    # The merchant connects the channel again: the sync imports, the outbox and its sweep run.
    with tenant_context(merchant):
        update_amazon_account(account=account, changes={"status": AccountStatus.ACTIVE})
    import_orders(account, unshipped_a, unshipped_b, shipped_c)
    deliver_all(merchant)
    with tenant_context(merchant):
        assert outbox.deliver_due() == 0  # nothing due: held messages wait for a person
    assert feed_log(account) == []  # Amazon received nothing it was not explicitly asked for
    assert fresh(merchant, cancel_a).amazon_sync == AmazonSync.ON_HOLD

    # A person sends the cancellation of A: Amazon gets it, once.
    with tenant_context(merchant):
        services.send_again(cancel_a.pk, actor=ACTOR)
        with pytest.raises(DomainError):
            services.send_again(cancel_a.pk, actor=ACTOR)  # a double click: on its way already
    deliver_all(merchant)
    assert fresh(merchant, cancel_a).status == RefundStatus.SUCCEEDED
    assert feed_log(account) == [("POST_ORDER_ACKNOWLEDGEMENT_DATA", unshipped_a)]
    with tenant_context(merchant), pytest.raises(DomainError):
        services.send_again(cancel_a.pk, actor=ACTOR)  # succeeded: nothing to send again

    # ... and later the refund of C, once too. B was never sent anywhere.
    with tenant_context(merchant):
        services.send_again(refund_c.pk, actor=ACTOR)
    deliver_all(merchant)
    deliver_all(merchant)
    assert fresh(merchant, refund_c).status == RefundStatus.SUCCEEDED
    assert feed_log(account) == [
        ("POST_ORDER_ACKNOWLEDGEMENT_DATA", unshipped_a),
        ("POST_PAYMENT_ADJUSTMENT_DATA", shipped_c),
    ]
    state_b = sandbox.control.order(account.selling_partner_id, unshipped_b)
    assert state_b["status"] == "Unshipped" and state_b["refunds"] == []
    state_c = sandbox.control.order(account.selling_partner_id, shipped_c)
    assert len({r["adjustment_id"] for r in state_c["refunds"]}) == 1  # one refund, once
    assert {r["component"] for r in state_c["refunds"]} >= {"Principal"}
    with tenant_context(merchant):
        assert Order.objects.get(pk=b.pk).status == "Unshipped"
        assert not Refund.objects.filter(order=b).exists()


def test_re_enabling_a_merchant_sends_nothing_by_itself_R8(make_merchant, sandbox):
    merchant = make_merchant(name="Paused merchant")
    account = connect(merchant, sandbox.seller)
    amazon_id = place(sandbox, sandbox.seller, [{"quantity": 1, "unit_price": "20.00"}])
    (order,) = import_orders(account, amazon_id)
    with tenant_context(merchant):
        cancellation = services.cancel_order(
            order.pk, actor=ACTOR, reason="NoInventory", refund=Decimal("20.00")
        )
    # Deactivated before the outbox got to it (the message was already queued).
    Merchant.objects.filter(pk=merchant.pk).update(is_active=False)
    deliver_all(merchant)
    assert feed_log(account) == []
    assert fresh(merchant, cancellation).amazon_sync == AmazonSync.ON_HOLD

    Merchant.objects.filter(pk=merchant.pk).update(is_active=True)
    deliver_all(merchant)
    assert feed_log(account) == []
    with tenant_context(merchant):
        message = OutboxMessage.objects.get(kind="amazon.cancel_order")
        assert message.status == OutboxStatus.FAILED  # held: visible, with a retry button
        services.send_again(cancellation.pk, actor=ACTOR)
    deliver_all(merchant)
    assert fresh(merchant, cancellation).status == RefundStatus.SUCCEEDED
    assert feed_log(account) == [("POST_ORDER_ACKNOWLEDGEMENT_DATA", amazon_id)]
