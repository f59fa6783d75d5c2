"""orders.policy: pure rules, table-driven. No database, no clock: `now` is always given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orders import policy
from orders.policy import (
    Action,
    Channel,
    Confirmation,
    Fulfillment,
    FulfillmentChannel,
    MarketplaceRule,
    OrderTimes,
    Status,
)

A = Action
PURCHASE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday
SHIP_BY = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
UK = MarketplaceRule(30, 7, "Europe/London", "A1F83G8C2ARO7P")
LATER = PURCHASE + timedelta(days=2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def times(**fields) -> OrderTimes:
    base = OrderTimes(
        purchase_date=PURCHASE,
        status=Status.UNSHIPPED,
        latest_ship_date=SHIP_BY,
        quantity_ordered=2,
        quantity_shipped=0,
    )
    return replace(base, **fields)


def allowed(t: OrderTimes, now: datetime = LATER) -> set[Action]:
    return {a for a, d in policy.allowed_actions(t, now).items() if d.allowed}


# --- allowed actions: every status × fulfillment channel ---------------------------------------

SHIP = {A.FULFIL, A.MARK_FULFILLED, A.REQUEST_FULFILLMENT}

ACTION_TABLE = [
    # status, channel, quantity shipped, allowed, code of the refused ones (one per row)
    (Status.PENDING_AVAILABILITY, "MFN", 0, set(), "order_pending"),
    (Status.PENDING, "MFN", 0, set(), "order_pending"),
    (Status.UNSHIPPED, "MFN", 0, SHIP | {A.CANCEL}, None),
    (Status.PARTIALLY_SHIPPED, "MFN", 1, SHIP | {A.CANCEL, A.REFUND}, None),
    (Status.SHIPPED, "MFN", 2, {A.REFUND}, None),
    (Status.INVOICE_UNCONFIRMED, "MFN", 2, {A.REFUND}, None),
    (Status.CANCELED, "MFN", 0, set(), None),
    (Status.UNFULFILLABLE, "MFN", 0, set(), None),
    *[(status, "AFN", 0, set(), "order_read_only") for status in Status],
]


@pytest.mark.parametrize(("status", "channel", "shipped", "expected", "code"), ACTION_TABLE)
def test_allowed_actions_by_status_and_channel_A1_A6_R5(status, channel, shipped, expected, code):
    t = times(status=status, fulfillment_channel=channel, quantity_shipped=shipped)
    decisions = policy.allowed_actions(t, LATER)
    assert list(decisions) == list(Action), "every action, in a stable order"
    assert allowed(t) == expected
    for decision in decisions.values():
        if decision.allowed:
            assert decision.code is None and decision.reason is None
        else:
            assert decision.code and decision.reason, decision
            if code:
                assert decision.code == code


@pytest.mark.parametrize(
    ("status", "action", "code", "rule"),
    [
        (Status.UNSHIPPED, A.REFUND, "invalid_transition", "R7"),
        (Status.UNSHIPPED, A.CONFIRM_SHIPMENT, "invalid_transition", "R3"),
        (Status.UNSHIPPED, A.CANCEL_AS_REQUESTED, "invalid_transition", "B4"),
        (Status.SHIPPED, A.FULFIL, "order_not_shippable", "A6"),
        (Status.SHIPPED, A.CANCEL, "invalid_transition", "A4"),
        (Status.CANCELED, A.FULFIL, "order_not_shippable", "A6"),
        (Status.CANCELED, A.REFUND, "invalid_transition", None),
        (Status.PENDING, A.CANCEL, "order_pending", "A2"),
    ],
)
def test_refusals_carry_stable_codes_and_the_rule(status, action, code, rule):
    decision = policy.allowed_actions(times(status=status), LATER)[action]
    assert (decision.allowed, decision.code, decision.rule) == (False, code, rule)
    assert decision.as_dict()["code"] == code


@pytest.mark.parametrize(
    ("now", "rule", "says"),
    [
        (PURCHASE, "A1", "the buyer may cancel until"),
        (PURCHASE + timedelta(minutes=29, seconds=59), "A1", "the buyer may cancel until"),
        (PURCHASE + timedelta(minutes=30), "A2", "can take up to 21 days"),
        (PURCHASE + timedelta(days=21), "A2", "can take up to 21 days"),
        (PURCHASE + timedelta(days=21, seconds=1), "A2", "more than 21 days"),
    ],
)
def test_pending_order_offers_nothing_and_says_why_A1_A2(now, rule, says):
    t = times(status=Status.PENDING)
    decisions = policy.allowed_actions(t, now)
    assert not any(d.allowed for d in decisions.values())
    reasons = {d.reason for d in decisions.values()}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert reason.startswith("Amazon is still verifying this order")
    assert says in reason
    assert {d.rule for d in decisions.values()} == {rule}


def test_buyer_cancel_hold_ends_30_minutes_after_the_order_A1():
    t = times(status=Status.PENDING)
    assert policy.hold_ends_at(t) == PURCHASE + timedelta(minutes=30)
    assert policy.in_buyer_cancel_hold(t, PURCHASE + timedelta(minutes=29, seconds=59))
    assert not policy.in_buyer_cancel_hold(t, PURCHASE + timedelta(minutes=30))
    # Only while Pending, and never for orders Amazon fulfils.
    assert not policy.in_buyer_cancel_hold(times(status=Status.UNSHIPPED), PURCHASE)
    assert not policy.in_buyer_cancel_hold(
        times(status=Status.PENDING, fulfillment_channel="AFN"), PURCHASE
    )


@pytest.mark.parametrize(
    ("fulfillment", "confirmation", "buyer_cancel", "expected"),
    [
        (
            Fulfillment.UNFULFILLED,
            Confirmation.NONE,
            True,
            SHIP | {A.CANCEL, A.CANCEL_AS_REQUESTED},
        ),
        # F3/F11: a request with a fulfillment service blocks shipping here, cancel and refund.
        (Fulfillment.IN_PROGRESS, Confirmation.NONE, True, set()),
        # What was fulfilled here has shipped: it can be refunded even before Amazon knows.
        (
            Fulfillment.PARTIALLY_FULFILLED,
            Confirmation.NONE,
            False,
            SHIP | {A.CANCEL, A.REFUND, A.CONFIRM_SHIPMENT},
        ),
        (Fulfillment.PARTIALLY_FULFILLED, Confirmation.SENT, False, SHIP | {A.CANCEL, A.REFUND}),
        (Fulfillment.FULFILLED, Confirmation.NONE, False, {A.REFUND, A.CONFIRM_SHIPMENT}),
        (Fulfillment.FULFILLED, Confirmation.SENT, False, {A.REFUND}),
    ],
)
def test_unshipped_actions_follow_fulfillment_progress_F3_B4_A7(
    fulfillment, confirmation, buyer_cancel, expected
):
    t = times(
        fulfillment=fulfillment, confirmation=confirmation, buyer_cancel_requested=buyer_cancel
    )
    assert allowed(t) == expected


def test_fulfillment_request_in_progress_refusals_use_its_code_F3():
    decisions = policy.allowed_actions(times(fulfillment=Fulfillment.IN_PROGRESS), LATER)
    for action in (A.FULFIL, A.MARK_FULFILLED, A.REQUEST_FULFILLMENT, A.CANCEL, A.REFUND):
        assert decisions[action].code == "fulfillment_request_in_progress", action


@pytest.mark.parametrize("channel", [Channel.SHOPIFY, Channel.MANUAL])
def test_other_channels_have_no_amazon_deadlines_and_no_confirmation(channel):
    t = times(channel=channel, status=Status.PENDING)
    assert policy.deadlines(t) == policy.NO_DEADLINES
    assert allowed(t) == SHIP | {A.CANCEL, A.REFUND}


# --- deadlines: which orders have them ---------------------------------------------------------

DEADLINE_TABLE = [
    # status, channel, confirmation, shipped of 2, has ship/confirm deadlines, has verify_by
    (Status.PENDING_AVAILABILITY, "MFN", Confirmation.NONE, 0, False, False),
    (Status.PENDING, "MFN", Confirmation.NONE, 0, False, True),
    (Status.UNSHIPPED, "MFN", Confirmation.NONE, 0, True, False),
    (Status.UNSHIPPED, "MFN", Confirmation.SENT, 0, True, False),
    (Status.UNSHIPPED, "MFN", Confirmation.CONFIRMED, 0, False, False),
    (Status.UNSHIPPED, "MFN", Confirmation.NONE, 2, False, False),  # lines say all shipped
    (Status.PARTIALLY_SHIPPED, "MFN", Confirmation.NONE, 1, True, False),
    (Status.PARTIALLY_SHIPPED, "MFN", Confirmation.CONFIRMED, 1, False, False),
    (Status.SHIPPED, "MFN", Confirmation.NONE, 2, False, False),
    (Status.INVOICE_UNCONFIRMED, "MFN", Confirmation.NONE, 2, False, False),
    (Status.CANCELED, "MFN", Confirmation.NONE, 0, False, False),
    (Status.UNFULFILLABLE, "MFN", Confirmation.NONE, 0, False, False),
    *[(status, "AFN", Confirmation.NONE, 0, False, False) for status in Status],
]


@pytest.mark.parametrize(
    ("status", "channel", "confirmation", "shipped", "has_deadlines", "has_verify_by"),
    DEADLINE_TABLE,
)
def test_deadlines_exist_only_while_the_order_must_ship_A8_R5(
    status, channel, confirmation, shipped, has_deadlines, has_verify_by
):
    t = times(
        status=status,
        fulfillment_channel=channel,
        confirmation=confirmation,
        quantity_shipped=shipped,
    )
    d = policy.deadlines(t)
    assert (d.ship_by is not None) == has_deadlines
    assert (d.confirm_by is not None) == has_deadlines
    assert (d.warn_at is not None) == has_deadlines
    assert (d.verify_by is not None) == has_verify_by
    if has_deadlines:
        assert d.ship_by == SHIP_BY
        assert d.confirm_by == PURCHASE + timedelta(days=30)
        assert d.warn_at == d.confirm_by - timedelta(days=7)
    if has_verify_by:
        assert d.verify_by == PURCHASE + timedelta(days=21)


@pytest.mark.parametrize("status", list(Status))
def test_afn_orders_have_no_deadlines_and_no_flags_ever_R5(status):
    t = times(status=status, fulfillment_channel=FulfillmentChannel.AFN)
    far = PURCHASE + timedelta(days=400)
    a = policy.assess(t, far)
    assert a.deadlines == policy.NO_DEADLINES
    assert a.hold_ends_at is None
    assert not (a.is_late or a.is_at_risk or a.expected_auto_cancel or a.pending_too_long)
    assert not a.in_buyer_cancel_hold
    assert a.allowed_actions == []


def test_deadlines_are_stored_in_utc():
    berlin = MarketplaceRule(30, None, "Europe/Berlin")
    d = policy.deadlines(times(marketplace=berlin, time_zone="America/New_York"))
    for value in (d.confirm_by, d.warn_at):
        assert value.tzinfo is UTC


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        times(purchase_date=datetime(2026, 6, 1, 12))


# --- boundaries --------------------------------------------------------------------------------

CONFIRM_BY = PURCHASE + timedelta(days=30)
WARN_AT = CONFIRM_BY - timedelta(days=7)
S = timedelta(seconds=1)

BOUNDARIES = [
    # check, now, expected
    ("is_late", SHIP_BY - S, False),
    ("is_late", SHIP_BY, False),  # ship-by is the last moment in time
    ("is_late", SHIP_BY + S, True),
    ("is_at_risk", WARN_AT - S, False),
    ("is_at_risk", WARN_AT, True),  # the warning is due at warn_at
    ("expected_auto_cancel", CONFIRM_BY, False),
    ("expected_auto_cancel", CONFIRM_BY + S, True),
    ("is_at_risk", CONFIRM_BY + S, True),
]


@pytest.mark.parametrize(("check", "now", "expected"), BOUNDARIES)
def test_deadline_boundaries_A8_A9(check, now, expected):
    assert getattr(policy, check)(times(), now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (PURCHASE + timedelta(days=21) - S, False),
        (PURCHASE + timedelta(days=21), False),
        (PURCHASE + timedelta(days=21) + S, True),
    ],
)
def test_pending_past_21_days_boundary_A2(now, expected):
    assert policy.pending_too_long(times(status=Status.PENDING), now) is expected
    # Not for orders that left Pending, nor for pre-orders waiting for their release.
    assert not policy.pending_too_long(times(status=Status.UNSHIPPED), now)
    assert not policy.pending_too_long(times(status=Status.PENDING_AVAILABILITY), now)


def test_a_warned_order_stays_at_risk_until_confirmed_A9():
    # The merchant shortened the warning lead after the warning: still at risk.
    t = times(warned_at=WARN_AT, warning_days=1)
    assert policy.is_at_risk(t, WARN_AT + S)
    assert not policy.is_at_risk(replace(t, confirmation=Confirmation.CONFIRMED), WARN_AT + S)


def test_a_shipped_order_is_neither_late_nor_at_risk():
    t = times(status=Status.SHIPPED, quantity_shipped=2)
    far = CONFIRM_BY + timedelta(days=10)
    assert not (policy.is_late(t, far) or policy.is_at_risk(t, far))
    assert not policy.expected_auto_cancel(t, far)


# --- partial shipments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ordered", "shipped", "late"),
    [
        (Status.PARTIALLY_SHIPPED, 3, 1, True),
        (Status.PARTIALLY_SHIPPED, 3, 2, True),
        (Status.PARTIALLY_SHIPPED, 3, 3, False),  # Amazon's status lags the lines
        (Status.UNSHIPPED, 3, 0, True),
        (Status.UNSHIPPED, 0, 0, True),  # lines not imported yet: still must ship
    ],
)
def test_partial_shipments_stay_late_until_every_item_ships_F7(status, ordered, shipped, late):
    t = times(status=status, quantity_ordered=ordered, quantity_shipped=shipped)
    assert policy.is_late(t, SHIP_BY + S) is late
    assert (policy.deadlines(t).confirm_by is not None) is late


# --- merchant warning days ----------------------------------------------------------------------


@pytest.mark.parametrize("days", range(1, 30))
def test_warning_comes_the_merchants_number_of_days_before_the_deadline_A9(days):
    t = times(warning_days=days)
    warn_at = policy.deadlines(t).warn_at
    assert warn_at == CONFIRM_BY - timedelta(days=days)
    assert not policy.is_at_risk(t, warn_at - S)
    assert policy.is_at_risk(t, warn_at)


@pytest.mark.parametrize(("days", "used"), [(0, 1), (-3, 1), (30, 29), (365, 29)])
def test_warning_days_outside_1_to_29_are_clamped(days, used):
    assert policy.deadlines(times(warning_days=days)).warn_at == CONFIRM_BY - timedelta(days=used)


# --- per-marketplace horizons (A8) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ship_by", "expected"),
    [
        # ship-by (UTC), confirm_by (UTC): 7 business days later on the London clock
        (utc(2026, 6, 1, 22, 59), utc(2026, 6, 10, 22, 59)),  # Mon 23:59 BST -> Wed
        (utc(2026, 6, 5, 22, 59), utc(2026, 6, 16, 22, 59)),  # Fri -> Tue, weekends skipped
        (utc(2026, 6, 6, 12, 0), utc(2026, 6, 16, 12, 0)),  # Sat -> Tue
        (utc(2026, 6, 7, 12, 0), utc(2026, 6, 16, 12, 0)),  # Sun -> Tue
        (utc(2026, 6, 5, 23, 30), utc(2026, 6, 15, 23, 30)),  # Fri UTC is Sat 00:30 in London
        (utc(2026, 6, 25, 12, 0), utc(2026, 7, 1, 12, 0)),  # late ship-by: 30 days is earlier
    ],
)
def test_uk_confirms_within_7_business_days_after_ship_by_or_30_days_A8(ship_by, expected):
    t = times(marketplace=UK, latest_ship_date=ship_by)
    assert policy.deadlines(t).confirm_by == expected


def test_uk_rule_without_a_ship_by_date_falls_back_to_30_days_A8():
    t = times(marketplace=UK, latest_ship_date=None)
    d = policy.deadlines(t)
    assert d.ship_by is None
    assert d.confirm_by == PURCHASE + timedelta(days=30)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (policy.DEFAULT_MARKETPLACE, PURCHASE + timedelta(days=30)),
        (MarketplaceRule(20, None, "UTC"), PURCHASE + timedelta(days=20)),
        (MarketplaceRule(30, 2, "UTC"), utc(2026, 6, 5, 12, 0)),  # Wed + 2 business days
    ],
)
def test_the_earlier_of_the_marketplace_horizons_wins_A8(rule, expected):
    assert policy.deadlines(times(marketplace=rule)).confirm_by == expected


def test_days_after_the_order_count_on_the_marketplace_clock():
    # Amazon.com counts in Los Angeles: 30 days after noon PST is noon PDT, 23 hours earlier
    # in UTC than 30 × 24 hours.
    us = MarketplaceRule(30, None, "America/Los_Angeles")
    t = times(purchase_date=utc(2026, 2, 20, 20, 0), marketplace=us, latest_ship_date=None)
    assert policy.deadlines(t).confirm_by == utc(2026, 3, 22, 19, 0)


# --- time zones and DST: what the merchant reads -----------------------------------------------

LOCAL_TEXT = [
    (utc(2026, 3, 8, 6, 30), "America/New_York", "Sun 8 Mar 2026, 01:30 EST"),
    (utc(2026, 3, 8, 7, 30), "America/New_York", "Sun 8 Mar 2026, 03:30 EDT"),
    (utc(2026, 11, 1, 5, 30), "America/New_York", "Sun 1 Nov 2026, 01:30 EDT"),
    (utc(2026, 11, 1, 6, 30), "America/New_York", "Sun 1 Nov 2026, 01:30 EST"),
    (utc(2026, 3, 10, 3, 0), "America/New_York", "Mon 9 Mar 2026, 23:00 EDT"),  # a day earlier
    (utc(2026, 3, 29, 0, 30), "Europe/Berlin", "Sun 29 Mar 2026, 01:30 CET"),
    (utc(2026, 3, 29, 1, 30), "Europe/Berlin", "Sun 29 Mar 2026, 03:30 CEST"),
    (utc(2026, 10, 25, 0, 30), "Europe/Berlin", "Sun 25 Oct 2026, 02:30 CEST"),
    (utc(2026, 10, 25, 1, 30), "Europe/Berlin", "Sun 25 Oct 2026, 02:30 CET"),
    (utc(2026, 3, 9, 23, 0), "Asia/Tokyo", "Tue 10 Mar 2026, 08:00 JST"),  # a day later
    (utc(2026, 3, 9, 23, 0), "UTC", "Mon 9 Mar 2026, 23:00 UTC"),
]


@pytest.mark.parametrize(("instant", "tz", "text"), LOCAL_TEXT)
def test_merchant_reads_dates_in_its_own_time_zone(instant, tz, text):
    assert policy.local_text(instant, tz) == text


@pytest.mark.parametrize(
    ("tz", "purchase", "confirm_by", "text"),
    [
        # 30 days after 02:30 local lands at 02:30 on the spring-forward day, a time that does not
        # exist: it resolves to 03:30 on the new clock (the offset in force before the switch).
        (
            "America/New_York",
            utc(2026, 2, 6, 7, 30),
            utc(2026, 3, 8, 7, 30),
            "Sun 8 Mar 2026, 03:30 EDT",
        ),
        (
            "Europe/Berlin",
            utc(2026, 2, 27, 1, 30),
            utc(2026, 3, 29, 1, 30),
            "Sun 29 Mar 2026, 03:30 CEST",
        ),
        # Noon before the switch + 30 days is noon after it: one hour less in UTC.
        (
            "America/New_York",
            utc(2026, 2, 6, 17, 0),
            utc(2026, 3, 8, 16, 0),
            "Sun 8 Mar 2026, 12:00 EDT",
        ),
        (
            "Europe/Berlin",
            utc(2026, 2, 27, 11, 0),
            utc(2026, 3, 29, 10, 0),
            "Sun 29 Mar 2026, 12:00 CEST",
        ),
    ],
)
def test_confirm_by_on_a_dst_switch_day_A8_A9(tz, purchase, confirm_by, text):
    rule = MarketplaceRule(30, None, tz)
    t = times(purchase_date=purchase, latest_ship_date=None, marketplace=rule, time_zone=tz)
    d = policy.deadlines(t)
    assert d.confirm_by == confirm_by
    assert policy.deadline_warning_message(d.confirm_by, tz) == (
        f"Please confirm shipment by {text} to avoid cancellation"
    )


@pytest.mark.parametrize(
    ("tz", "confirm_by", "warn_at"),
    [
        # A week before, at the same local time, across the switch: 7 days and 1 hour in UTC.
        ("America/New_York", utc(2026, 3, 10, 16, 0), utc(2026, 3, 3, 17, 0)),
        ("Europe/Berlin", utc(2026, 4, 2, 10, 0), utc(2026, 3, 26, 11, 0)),
        # Across the autumn switch: 7 days less 1 hour.
        ("America/New_York", utc(2026, 11, 5, 17, 0), utc(2026, 10, 29, 16, 0)),
        ("Europe/Berlin", utc(2026, 10, 29, 11, 0), utc(2026, 10, 22, 10, 0)),
        ("UTC", utc(2026, 3, 10, 16, 0), utc(2026, 3, 3, 16, 0)),
    ],
)
def test_warning_lead_counts_days_on_the_merchants_clock_A9(tz, confirm_by, warn_at):
    # The marketplace horizon is 30 days in UTC here; the merchant's zone moves only warn_at.
    purchase = confirm_by - timedelta(days=30)
    t = times(purchase_date=purchase, latest_ship_date=None, time_zone=tz)
    d = policy.deadlines(t)
    assert d.confirm_by == confirm_by
    assert d.warn_at == warn_at
    local = policy.zone(tz)
    assert d.warn_at.astimezone(local).time() == d.confirm_by.astimezone(local).time()


def test_warning_message_A9():
    assert policy.deadline_warning_message(utc(2026, 3, 10, 16, 0), "America/New_York") == (
        "Please confirm shipment by Tue 10 Mar 2026, 12:00 EDT to avoid cancellation"
    )


# --- the whole picture --------------------------------------------------------------------------


def test_assess_combines_deadlines_flags_and_actions():
    t = times(buyer_cancel_requested=True)
    a = policy.assess(t, WARN_AT + S)
    assert a.deadlines.confirm_by == CONFIRM_BY
    assert a.hold_ends_at == PURCHASE + timedelta(minutes=30)
    assert (a.is_late, a.is_at_risk, a.expected_auto_cancel) == (True, True, False)
    assert set(a.allowed_actions) == {
        "fulfil",
        "mark_fulfilled",
        "request_fulfillment",
        "cancel",
        "cancel_as_requested",
    }


def test_policy_values_match_the_model_choices():
    from orders import models

    assert {s.value for s in Status} == set(models.AmazonOrderStatus.values)
    assert {c.value for c in Channel} == set(models.Channel.values)
    assert {c.value for c in FulfillmentChannel} == set(models.FulfillmentChannel.values)
    assert {f.value for f in Fulfillment} == set(models.FulfillmentStatus.values)
    assert {c.value for c in Confirmation} == set(models.ShipmentConfirmation.values)


def test_policy_imports_no_orm():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(policy))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
    assert not {m for m in modules if m.startswith(("django", "orders.models", "tenants"))}


# --- a line's tax split (orders/tax_splits.py) -----------------------------------------------

D = Decimal
KNOWN = policy.TaxSplit(D("3.20"), D("0.40"))  # getOrderItems: ItemTax, ShippingTax
UNDIVIDED = policy.TaxSplit(D("3.60"), D("0"), known=False)  # searchOrders without detail


@pytest.mark.parametrize(
    ("incoming", "stored", "kept"),
    [
        # Nothing known yet: the undivided tax is stored, pending.
        (UNDIVIDED, None, UNDIVIDED),
        (UNDIVIDED, policy.TaxSplit(D("3.60"), D("0"), known=False), UNDIVIDED),
        # A page without the detail keeps what getOrderItems (or the detail) said.
        (UNDIVIDED, KNOWN, KNOWN),
        # ... also after a cancellation (searchOrders: the tax of the quantity not cancelled).
        (policy.TaxSplit(D("1.80"), D("0"), known=False), KNOWN, KNOWN),
        # More tax than the known split: news, whose split is unknown again.
        (
            policy.TaxSplit(D("4.00"), D("0"), known=False),
            KNOWN,
            policy.TaxSplit(D("4.00"), D("0"), known=False),
        ),
        # A split Amazon gives replaces whatever was stored.
        (policy.TaxSplit(D("1.60"), D("0.20")), KNOWN, policy.TaxSplit(D("1.60"), D("0.20"))),
    ],
)
def test_a_tax_without_its_split_never_replaces_a_known_split(incoming, stored, kept):
    assert policy.kept_tax_split(incoming, stored) == kept


@pytest.mark.parametrize(
    ("item_tax", "shipping_tax", "resolved"),
    [
        (D("3.20"), D("0.40"), KNOWN),
        (D("3.60"), None, policy.TaxSplit(D("3.60"), D("0"))),  # no ShippingTax: none
        (D("6.40"), D("0.80"), policy.TaxSplit(D("6.40"), D("0.80"))),  # whole line (v0)
        (None, None, None),  # Pending: Amazon shows no tax
        (D("1.60"), D("0.20"), None),  # less than searchOrders said: an older answer
    ],
)
def test_get_order_items_settles_a_split_only_with_at_least_the_tax_reported(
    item_tax, shipping_tax, resolved
):
    assert policy.resolved_tax_split(D("3.60"), item_tax, shipping_tax) == resolved
