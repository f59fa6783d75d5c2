"""Stored deadlines: recompute_deadlines writes what orders.policy computes, per marketplace
policy (data, rule A8) and merchant (warning days, A9), and clears what is no longer needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders import errors, policy, selectors, services
from orders.models import MarketplacePolicy, Order, OrderLine
from tenants.scope import tenant_context
from tests.support.policy import UK, US

pytestmark = pytest.mark.django_db

PURCHASE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday; no DST switch in the next 30 days
SHIP_BY = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
NOW = PURCHASE + timedelta(days=1)


@pytest.fixture
def merchant(make_merchant):
    return make_merchant(time_zone="America/New_York", deadline_warning_days=7)


def reload(order: Order) -> Order:
    with tenant_context(order.merchant_id):
        return Order.objects.get(pk=order.pk)


def test_common_marketplaces_are_seeded_with_their_horizons_A8():
    rows = {p.marketplace_id: p for p in MarketplacePolicy.objects.all()}
    assert set(rows) >= {
        "ATVPDKIKX0DER",
        "A2EUQ1WTGCTBG2",
        "A1AM78C64UM0Y8",
        "A1F83G8C2ARO7P",
        "A1PA6795UKMFR9",
        "A13V1IB3VIYZZH",
        "APJ6JRA9NG5V4",
        "A1RKKUPIHCS9HS",
        "A1VC38T7YXB528",
    }
    assert all(p.confirm_days_after_order == 30 for p in rows.values())
    business = {m: p.confirm_business_days_after_ship_by for m, p in rows.items()}
    assert business.pop(UK) == 7
    assert set(business.values()) == {None}


def test_recompute_stores_ship_by_confirm_by_and_warn_at_A8_A9(merchant, make_order):
    order = make_order(
        merchant, purchase_date=PURCHASE, latest_ship_date=SHIP_BY, now=NOW, marketplace_id=US
    )
    assert order.ship_by == SHIP_BY
    assert order.confirm_by == PURCHASE + timedelta(days=30)
    assert order.warn_at == order.confirm_by - timedelta(days=7)
    assert order.verify_by is None
    assert (order.is_late, order.auto_cancel_expected, order.warned_at) == (False, False, None)


def test_uk_orders_use_the_seeded_business_day_rule_A8(merchant, make_order):
    order = make_order(
        merchant, purchase_date=PURCHASE, latest_ship_date=SHIP_BY, marketplace_id=UK, now=NOW
    )
    # Wednesday 3 June + 7 business days (weekend skipped) = Friday 12 June, same London time.
    assert order.confirm_by == datetime(2026, 6, 12, 12, 0, tzinfo=UTC)


def test_unknown_marketplace_falls_back_to_30_days_A8(merchant, make_order):
    order = make_order(merchant, purchase_date=PURCHASE, marketplace_id="AXXXXXXXXXXXXX", now=NOW)
    assert order.confirm_by == PURCHASE + timedelta(days=30)


def test_a_policy_change_is_data_A8(merchant, make_order):
    order = make_order(merchant, purchase_date=PURCHASE, marketplace_id=US, now=NOW)
    MarketplacePolicy.objects.filter(marketplace_id=US).update(confirm_days_after_order=10)
    with tenant_context(merchant):
        assert services.recompute_open_orders(now=NOW) == 1
    assert reload(order).confirm_by == PURCHASE + timedelta(days=10)


def test_merchant_warning_days_move_warn_at_A9(merchant, make_order):
    order = make_order(merchant, purchase_date=PURCHASE, now=NOW)
    merchant.deadline_warning_days = 3
    merchant.save(update_fields=["deadline_warning_days"])
    with tenant_context(merchant):
        services.recompute_open_orders(now=NOW)
    order = reload(order)
    assert order.warn_at == order.confirm_by - timedelta(days=3)


def test_pending_orders_get_only_the_21_day_limit_A2(merchant, make_order):
    order = make_order(merchant, purchase_date=PURCHASE, status="Pending", now=NOW)
    assert order.verify_by == PURCHASE + timedelta(days=21)
    assert (order.ship_by, order.confirm_by, order.warn_at) == (None, None, None)


def _ship(order):
    Order.objects.filter(pk=order.pk).update(status="Shipped")
    OrderLine.objects.filter(order=order).update(quantity_shipped=2)


def _cancel(order):
    Order.objects.filter(pk=order.pk).update(status="Canceled")


def _afn(order):
    Order.objects.filter(pk=order.pk).update(fulfillment_channel="AFN")


def _confirmed(order):
    Order.objects.filter(pk=order.pk).update(shipment_confirmation="confirmed")


def _lines_shipped(order):
    OrderLine.objects.filter(order=order).update(quantity_shipped=2)


def _other_channel(order):
    Order.objects.filter(pk=order.pk).update(channel="shopify")


@pytest.mark.parametrize(
    "change", [_ship, _cancel, _afn, _confirmed, _lines_shipped, _other_channel]
)
def test_deadlines_are_cleared_when_the_order_no_longer_needs_them(merchant, make_order, change):
    order = make_order(merchant, purchase_date=PURCHASE, now=NOW)
    assert order.confirm_by is not None
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(warned_at=NOW, is_late=True)
        change(order)
        assert services.recompute_deadlines([order.pk], now=NOW) == 1
    order = reload(order)
    assert (order.ship_by, order.confirm_by, order.warn_at, order.verify_by) == (None,) * 4
    assert order.is_late is False
    assert order.warned_at == NOW, "the warning was given: its record stays"


def test_recompute_clears_flags_that_no_longer_hold_but_never_sets_them(merchant, make_order):
    late_now = SHIP_BY + timedelta(hours=1)
    order = make_order(merchant, purchase_date=PURCHASE, latest_ship_date=SHIP_BY, now=late_now)
    assert order.is_late is False, "the sweep flags it, with its event and notification"
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(is_late=True)
        # Still late: the flag stays.
        assert services.recompute_deadlines([order.pk], now=late_now) == 0
        # Amazon moved the ship-by date: no longer late.
        Order.objects.filter(pk=order.pk).update(latest_ship_date=late_now + timedelta(days=1))
        assert services.recompute_deadlines([order.pk], now=late_now) == 1
    order = reload(order)
    assert order.is_late is False
    assert order.ship_by == late_now + timedelta(days=1)


def test_recompute_writes_only_rows_that_changed_in_batches(merchant, make_order):
    orders = [make_order(merchant, purchase_date=PURCHASE, recompute=False) for _ in range(5)]
    with tenant_context(merchant):
        assert services.recompute_deadlines(orders, now=NOW, batch_size=2) == 5
        assert services.recompute_deadlines(orders, now=NOW, batch_size=2) == 0
        assert Order.objects.filter(confirm_by__isnull=False).count() == 5


def test_recompute_sees_only_the_merchants_in_scope(make_merchant, make_order):
    a, b = make_merchant(), make_merchant()
    theirs = make_order(b, purchase_date=PURCHASE, recompute=False)
    with tenant_context(a):
        assert services.recompute_deadlines([theirs.pk], now=NOW) == 0
    assert reload(theirs).confirm_by is None


def test_assessment_of_a_stored_order(merchant, make_order):
    order = make_order(merchant, purchase_date=PURCHASE, now=NOW, buyer_cancel_requested=True)
    with tenant_context(merchant):
        a = selectors.assess_order(order, order.warn_at)
    assert a.is_at_risk and a.is_late and not a.expected_auto_cancel
    assert a.deadlines.confirm_by == order.confirm_by
    assert "cancel_as_requested" in a.allowed_actions


@pytest.mark.parametrize(
    ("status", "channel", "error"),
    [
        ("Pending", "MFN", errors.OrderPending),
        ("Unshipped", "AFN", errors.OrderReadOnly),
        ("Shipped", "MFN", errors.OrderNotShippable),
    ],
)
def test_services_refuse_with_the_policys_stable_code(merchant, make_order, status, channel, error):
    order = make_order(merchant, status=status, fulfillment_channel=channel)
    with tenant_context(merchant), pytest.raises(error) as caught:
        services.ensure_action_allowed(order, policy.Action.FULFIL)
    assert caught.value.code == error.code
    assert caught.value.message


@pytest.mark.parametrize("marketplace_id", [US, UK, "AXXXXXXXXXXXXX"])
def test_the_detail_reads_the_marketplace_rule_with_the_order_A8(
    merchant, make_order, marketplace_id
):
    """The API's detail reads the rule in the order's own statement (``order_detail``): the
    deadlines it assesses are the stored ones, the business-day rule and the default alike."""
    order = make_order(
        merchant, purchase_date=PURCHASE, latest_ship_date=SHIP_BY, marketplace_id=marketplace_id
    )
    with tenant_context(merchant):
        read = selectors.order_detail().get(pk=order.pk)
        known = MarketplacePolicy.objects.filter(marketplace_id=marketplace_id).first()
    assert read.marketplace_rule_read == (
        None
        if known is None
        else {
            "confirm_days_after_order": known.confirm_days_after_order,
            "confirm_business_days_after_ship_by": known.confirm_business_days_after_ship_by,
            "time_zone": known.time_zone,
        }
    )
    assert selectors.assess_order(read, NOW).deadlines.confirm_by == reload(order).confirm_by
