"""Creating refunds and cancellations (one service for portal, API and tasks): every refusal
with its stable code, partial and full refunds, amounts in the order's currency (JPY has no
minor unit; EU prices include tax), and the financial status they lead to."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foundation.api.errors import DomainError
from fulfillment import services as fulfillment_services
from integrations.outbox.models import OutboxMessage
from orders.models import EventKind, OrderEvent, OrderLine
from refunds import services
from refunds.models import AmazonSync, Refund, RefundStatus
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import tenant_context
from tests.refunds.conftest import ACTOR

pytestmark = pytest.mark.django_db


def refused(code: str, fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


def succeed(shop, refund: Refund) -> Refund:
    """What the outbox does once Amazon accepted the feed (refunds/amazon.py's caller)."""
    return shop.run(services.refund_succeeded, refund.pk, {})


def test_partial_then_full_refund_and_the_financial_status(shop):
    order = shop.order(
        [("TENT", 2, "50.00", 2, {"shipping_price": "6.00", "item_tax": "8.00"})],
    )
    (line,) = shop.lines(order)

    first = shop.refund(order, [(line.pk, 1, None)])
    assert first.status == RefundStatus.PENDING
    assert first.amazon_sync == AmazonSync.PENDING
    # Price and the tax added on top (US): half of 50.00 + 8.00.
    assert (first.items_amount, first.shipping_amount, first.total) == (
        Decimal("29.00"),
        Decimal("0.00"),
        Decimal("29.00"),
    )
    (rl,) = shop.run(lambda: list(first.lines.all()))
    assert (rl.principal, rl.tax, rl.quantity) == (Decimal("25.00"), Decimal("4.00"), 1)
    with tenant_context(shop.merchant):
        assert OutboxMessage.objects.filter(kind="amazon.refund", order=order).count() == 1
        event = OrderEvent.objects.get(order=order, kind=EventKind.REFUND_CREATED)
        assert "29.00 USD" in event.message and event.actor == ACTOR.name

    assert shop.fresh(order).financial_status == "paid"  # pending refunds change nothing yet
    succeed(shop, first)
    assert shop.fresh(order).financial_status == "partially_refunded"

    # The rest: the other unit and all the shipping.
    second = shop.refund(order, [(line.pk, 1, None)], shipping="6.00")
    assert second.total == Decimal("35.00")
    succeed(shop, second)
    assert shop.fresh(order).financial_status == "refunded"

    error = refused("refund_exceeds_balance", shop.refund, order, [(line.pk, 0, "0.01")])
    assert error.status == 422
    refused("quantity_exceeds_remaining", shop.refund, order, [(line.pk, 1, None)])


def test_a_refund_cannot_exceed_what_is_left_on_a_line_or_the_shipping(shop):
    order = shop.order([("MUG", 1, "12.00", 1, {"shipping_price": "3.00"})])
    (line,) = shop.lines(order)
    error = refused("refund_exceeds_balance", shop.refund, order, [(line.pk, 1, "12.01")])
    assert "12.00 USD" in error.message
    refused("refund_exceeds_balance", shop.refund, order, [], shipping="3.01")
    refused("quantity_exceeds_remaining", shop.refund, order, [(line.pk, 2, None)])
    refused("refund_amount_required", shop.refund, order, [(line.pk, 0, "0")])
    # A line of another order is not this order's.
    other = shop.order()
    (other_line,) = shop.lines(other)
    error = refused("validation_error", shop.refund, order, [(other_line.pk, 1, None)])
    assert error.errors == {"lines[0].line": [f"Line {other_line.pk} is not a line of this order."]}
    # What is allowed goes through: the amount, and shipping alone.
    assert shop.refund(order, [(line.pk, 0, "4.50")]).total == Decimal("4.50")
    assert shop.refund(order, [], shipping="3.00").shipping_amount == Decimal("3.00")


def test_amounts_with_more_decimals_than_the_currency_allows_are_refused(shop):
    usd = shop.order([("A", 1, "10.00", 1)])
    (line,) = shop.lines(usd)
    error = refused("invalid_amount", shop.refund, usd, [(line.pk, 0, "1.001")])
    assert error.status == 422
    refused("invalid_amount", shop.refund, usd, [(line.pk, 0, "-1")])

    jpy = shop.order([("B", 3, "5940", 3)], currency="JPY", marketplace_id="A1VC38T7YXB528")
    (jline,) = shop.lines(jpy)
    error = refused("invalid_amount", shop.refund, jpy, [(jline.pk, 0, "100.5")])
    assert "JPY" in error.message and "no decimals" in error.message
    refund = shop.refund(jpy, [(jline.pk, 1, None)])
    assert refund.total == Decimal("1980") and refund.currency == "JPY"
    # Two more units: 1980 each, nothing left over by rounding.
    rest = shop.refund(jpy, [(jline.pk, 2, None)])
    assert rest.total == Decimal("3960")
    refused("refund_exceeds_balance", shop.refund, jpy, [(jline.pk, 0, "1")])


def test_suggested_amounts_in_jpy_round_to_whole_yen_and_add_up(shop):
    jpy = shop.order([("C", 3, "1000", 3)], currency="JPY", marketplace_id="A1VC38T7YXB528")
    (line,) = shop.lines(jpy)
    parts = [shop.refund(jpy, [(line.pk, 1, None)]).total for _ in range(3)]
    assert sorted(parts) == [Decimal("333"), Decimal("333"), Decimal("334")]
    assert sum(parts) == Decimal("1000")  # whole yen, and nothing left over


def test_where_prices_include_tax_the_tax_is_not_refunded_twice(shop):
    """Amazon.de: ItemPrice includes the VAT shown in ItemTax; the refund is the price."""
    order = shop.order(
        [("ZELT", 1, "119.00", 1, {"item_tax": "19.00", "shipping_price": "5.95"})],
        currency="EUR",
        marketplace_id="A1PA6795UKMFR9",
    )
    (line,) = shop.lines(order)
    refund = shop.refund(order, [(line.pk, 1, None)], shipping="5.95")
    assert refund.total == Decimal("124.95")
    (rl,) = shop.run(lambda: list(refund.lines.all()))
    assert (rl.principal, rl.tax, rl.shipping) == (Decimal("119.00"), 0, Decimal("5.95"))
    refused("refund_exceeds_balance", shop.refund, order, [], shipping="0.01")


def test_a_pending_order_cannot_be_refunded_A1(shop):
    order = shop.order(status="Pending", financial_status="pending")
    (line,) = shop.lines(order)
    error = refused("order_pending", shop.refund, order, [(line.pk, 1, None)])
    assert error.status == 409
    refused("order_pending", shop.cancel, order, refund="10.00")


def test_an_order_amazon_fulfils_is_read_only_R5(shop):
    order = shop.order(fulfillment_channel="AFN")
    (line,) = shop.lines(order)
    refused("order_read_only", shop.refund, order, [(line.pk, 1, None)])
    refused("order_read_only", shop.cancel, order, refund="10.00")


def test_an_unshipped_amazon_order_is_cancelled_not_refunded_R7(shop):
    order = shop.order([("X", 1, "10.00", 0)], status="Unshipped")
    (line,) = shop.lines(order)
    error = refused("invalid_transition", shop.refund, order, [(line.pk, 1, None)])
    assert "cancel" in error.message


def test_no_refund_or_cancel_while_a_fulfillment_request_is_in_progress_F3(shop):
    order = shop.order([("X", 2, "10.00", 1)], status="PartiallyShipped")
    (line,) = shop.lines(order)
    fulfillment_services.create_fulfillment_service(name="3PL", merchant=shop.merchant)
    with tenant_context(shop.merchant):
        (fo,) = fulfillment_services.prepare_fulfillment_orders(order)
        fulfillment_services.submit_request(
            fo.pk, actor=fulfillment_services.Actor.system(), note=""
        )
    error = refused("fulfillment_request_in_progress", shop.refund, order, [(line.pk, 1, None)])
    assert error.status == 409
    refused("fulfillment_request_in_progress", shop.cancel, order, refund="10.00")
    with tenant_context(shop.merchant):
        assert not Refund.objects.filter(order=order).exists()


def refund_event(order_item_id: str, key: str, principal: str, tax: str = "0.00") -> dict:
    """A RefundEvent as Amazon's listFinancialEventsByOrderId answers it."""
    charges = [
        {
            "ChargeType": "Principal",
            "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": f"-{principal}"},
        }
    ]
    if tax != "0.00":
        charges.append(
            {
                "ChargeType": "Tax",
                "ChargeAmount": {"CurrencyCode": "USD", "CurrencyAmount": f"-{tax}"},
            }
        )
    return {
        "AmazonOrderId": "111-0000000-0000000",
        "PostedDate": "2026-01-10T10:00:00Z",
        "ShipmentItemAdjustmentList": [
            {
                "OrderItemId": order_item_id,
                "OrderAdjustmentItemId": key,
                "QuantityShipped": 1,
                "ItemChargeAdjustmentList": charges,
            }
        ],
    }


def test_an_order_refunded_in_seller_central_can_no_longer_be_refunded_here_R6(shop):
    order = shop.order([("X", 2, "20.00", 2)])
    (line,) = shop.lines(order)
    events = {"RefundEventList": [refund_event(line.external_id, "adj-1", "10.00")]}
    result = shop.run(services.record_external_refunds, order.pk, events)
    (external,) = result.recorded
    assert external.origin == "amazon" and external.total == Decimal("10.00")
    assert external.amazon_sync == AmazonSync.FROM_AMAZON
    assert shop.fresh(order).financial_status == "partially_refunded"
    # Idempotent: the same events record nothing again.
    assert not shop.run(services.record_external_refunds, order.pk, events).changed
    with tenant_context(shop.merchant):
        (event,) = OrderEvent.objects.filter(order=order, kind=EventKind.EXTERNAL_REFUND)
        assert event.actor_type == "amazon" and "R6" in event.message

    error = refused("already_refunded_on_amazon", shop.refund, order, [(line.pk, 1, None)])
    assert error.message.startswith("Refund failed: already refunded on Amazon")
    assert error.status == 409


def test_our_own_refund_seen_in_amazons_events_is_not_taken_for_an_external_one(shop):
    order = shop.order([("X", 2, "20.00", 2, {"item_tax": "2.00"})])
    (line,) = shop.lines(order)
    ours = shop.refund(order, [(line.pk, 1, None)])
    shop.run(services.mark_sending, ours.pk)
    events = {"RefundEventList": [refund_event(line.external_id, "adj-9", "10.00", "1.00")]}
    result = shop.run(services.record_external_refunds, order.pk, events)
    assert result.matched == {"adj-9": ours.pk} and not result.recorded
    assert shop.fresh(ours).amazon_refund_key == "adj-9"
    # Refunding more is still allowed: nothing was refunded outside Keelson.
    assert shop.refund(order, [(line.pk, 1, None)]).total == Decimal("11.00")


def test_a_manual_order_refund_needs_no_amazon_and_succeeds_at_once(shop):
    order = shop.order(
        [("M", 1, "30.00", 0)], channel="manual", status="Unshipped", amazon_account=None
    )
    (line,) = shop.lines(order)
    refund = shop.refund(order, [(line.pk, 1, None)])
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.amazon_sync == AmazonSync.NOT_APPLICABLE
    assert refund.shopify_sync == "not_applicable"
    assert shop.fresh(order).financial_status == "refunded"
    with tenant_context(shop.merchant):
        assert not OutboxMessage.objects.filter(order=order).exists()


def test_the_same_request_key_gives_the_same_refund_and_another_body_is_refused(shop):
    order = shop.order([("X", 3, "30.00", 3)])
    (line,) = shop.lines(order)
    first = shop.refund(order, [(line.pk, 1, None)], idempotency_key="portal:1:abc")
    again = shop.refund(order, [(line.pk, 1, None)], idempotency_key="portal:1:abc")
    assert again.pk == first.pk
    refused(
        "idempotency_key_reused",
        shop.refund,
        order,
        [(line.pk, 2, None)],
        idempotency_key="portal:1:abc",
    )
    with tenant_context(shop.merchant):
        assert Refund.objects.filter(order=order).count() == 1


# --- a line whose tax split Amazon has not given (orders/tax_splits.py) -----------------------


def split_pending(shop, line, **known) -> None:
    """searchOrders gave the line's tax as one figure: all of it is held as item tax, pending;
    with ``known``, getOrderItems has since given the split."""
    fields = {"tax_split_pending": not known, **{k: Decimal(v) for k, v in known.items()}}
    shop.run(lambda: OrderLine.objects.filter(pk=line.pk).update(**fields))


def test_a_refund_never_guesses_how_a_lines_tax_divides_R6(shop):
    """3.60 of tax, of which Amazon charged 3.20 on the items and 0.40 on shipping: refunding
    the tent with all 3.60 as ItemTax would be refused by Amazon (18034, R6)."""
    order = shop.order(
        [
            ("TENT", 2, "40.00", 2, {"item_tax": "3.60", "shipping_price": "5.00"}),
            ("MUG", 1, "10.00", 1, {"item_tax": "0.80"}),
        ]
    )
    tent, mug = shop.lines(order)
    split_pending(shop, tent)

    error = refused("tax_split_pending", shop.refund, order, [(tent.pk, 1, None)])
    assert (error.status, error.retry_after) == (409, 60)
    assert error.message == (
        "TENT: Amazon has not yet told Keelson how this item's tax divides between the item "
        "and its shipping, so Keelson cannot tell how much of each a refund may take back "
        "without Amazon refusing it. Keelson is asking Amazon now: try again in a few minutes."
    )
    assert error.follow_up is not None  # what asks Amazon, once the refusal is rolled back
    refused("tax_split_pending", shop.refund, order, [(tent.pk, 0, "5.00")])  # an amount
    refused("tax_split_pending", shop.refund, order, [], shipping="1.00")  # its shipping
    with tenant_context(shop.merchant):
        assert not Refund.objects.filter(order=order).exists()
    # The other line is refunded as ever.
    assert shop.refund(order, [(mug.pk, 1, None)]).total == Decimal("10.80")

    # Once Amazon gave the split, the refund takes each part back to what was paid of it.
    split_pending(shop, tent, item_tax="3.20", shipping_tax="0.40")
    refund = shop.refund(order, [(tent.pk, 2, None)], shipping="5.40")
    (rl,) = shop.run(lambda: list(refund.lines.all()))
    assert (rl.principal, rl.tax, rl.shipping, rl.shipping_tax) == (
        Decimal("40.00"),
        Decimal("3.20"),
        Decimal("5.00"),
        Decimal("0.40"),
    )


def test_where_prices_include_tax_a_pending_split_holds_no_refund_up(shop):
    """Amazon.de: the tax is inside price and shipping; a refund carries no tax components."""
    order = shop.order(
        [("ZELT", 1, "119.00", 1, {"item_tax": "20.00", "shipping_price": "5.95"})],
        currency="EUR",
        marketplace_id="A1PA6795UKMFR9",
    )
    (line,) = shop.lines(order)
    split_pending(shop, line)
    assert shop.refund(order, [(line.pk, 1, None)], shipping="5.95").total == Decimal("124.95")


def test_a_cancellation_does_not_wait_for_a_tax_split_R7(shop):
    """Amazon works out a cancellation's refund itself (no components are sent), and its total
    is known: cancelling is never held up."""
    order = shop.order(
        [("TENT", 1, "40.00", 0, {"item_tax": "3.60", "shipping_price": "5.00"})],
        status="Unshipped",
    )
    (line,) = shop.lines(order)
    split_pending(shop, line)
    assert shop.cancel(order, refund="48.60").total == Decimal("48.60")


def test_a_split_is_not_asked_for_while_the_account_is_disconnected_R8(shop):
    order = shop.order([("TENT", 1, "40.00", 1, {"item_tax": "3.60", "shipping_price": "5.00"})])
    (line,) = shop.lines(order)
    split_pending(shop, line)
    shop.run(
        lambda: AmazonAccount.objects.filter(pk=shop.account.pk).update(
            status=AccountStatus.DISCONNECTED
        )
    )
    error = refused("tax_split_pending", shop.refund, order, [(line.pk, 1, None)])
    assert "once the order's Amazon account is connected and active again" in error.message
    assert error.follow_up is None
