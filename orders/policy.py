"""Amazon's order timelines and what may be done to an order, as pure rules.

No ORM, no I/O, no clock of its own: every function takes the order as an ``OrderTimes`` value and,
where time matters, ``now``. The API, the portal, the sync and the policy sweep all ask these
functions, so a rule lives in exactly one place. ``orders.selectors.order_times`` builds the
input from an ``Order`` row.

Rules: A1 (30-minute buyer-cancel hold, nothing can be done while Pending), A2 (verification may
keep an order Pending up to 21 days), A6 (only Unshipped or PartiallyShipped orders ship), A8
(confirm shipment within 30 days of the order date, or a shorter per-marketplace horizon: the
earlier wins), A9 (warn a week, or the merchant's chosen number of days, before that), R5 (orders
Amazon fulfils, AFN, are read-only and have no deadlines), F3/F11 (not while a fulfillment request
is in progress), B4 (cancel as requested by the buyer), R7 (cancelling needs a refund).

Instants, all aware datetimes (stored in UTC):

- ``ship_by``, ``confirm_by`` and ``verify_by`` are the last moments still in time: an order is
  *past* one strictly after it (``now > deadline``).
- ``warn_at`` and the end of the buyer-cancel hold take effect at the instant
  (``now >= instant``).

Days are counted on the wall clock of a time zone, not as multiples of 24 hours: the
confirmation horizon in the marketplace's time zone, the warning lead in the merchant's, so a
warning "7 days before" lands at the same local time of day even across a DST switch. A local
time that does not exist (the hour skipped in spring) resolves with the offset in force before
the switch, i.e. one hour later on the new clock; an ambiguous one (the hour repeated in
autumn) takes its first occurrence. Business days skip Saturdays and Sundays (public holidays
are not modelled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from foundation.text import N_, When


class Status(StrEnum):
    """Amazon's OrderStatus (the same values as ``orders.models.AmazonOrderStatus``)."""

    PENDING_AVAILABILITY = "PendingAvailability"
    PENDING = "Pending"
    UNSHIPPED = "Unshipped"
    PARTIALLY_SHIPPED = "PartiallyShipped"
    SHIPPED = "Shipped"
    CANCELED = "Canceled"
    UNFULFILLABLE = "Unfulfillable"
    INVOICE_UNCONFIRMED = "InvoiceUnconfirmed"


class Channel(StrEnum):
    AMAZON = "amazon"
    SHOPIFY = "shopify"
    MANUAL = "manual"


class FulfillmentChannel(StrEnum):
    MFN = "MFN"  # the merchant fulfils
    AFN = "AFN"  # Amazon fulfils (FBA): read-only here (R5)


class Fulfillment(StrEnum):
    """Fulfillment progress in our product (``orders.models.FulfillmentStatus``)."""

    UNFULFILLED = "unfulfilled"
    IN_PROGRESS = "in_progress"  # a request is with a fulfillment service (F3)
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"


class Confirmation(StrEnum):
    """Shipment confirmation to Amazon: none yet, sent (through the outbox), or acknowledged."""

    NONE = "none"
    SENT = "sent"
    CONFIRMED = "confirmed"


class Action(StrEnum):
    FULFIL = "fulfil"
    MARK_FULFILLED = "mark_fulfilled"
    REQUEST_FULFILLMENT = "request_fulfillment"
    CANCEL = "cancel"
    CANCEL_AS_REQUESTED = "cancel_as_requested"
    REFUND = "refund"
    CONFIRM_SHIPMENT = "confirm_shipment"


# Stable error codes (docs api.md); a refused action carries one.
ORDER_PENDING = "order_pending"
ORDER_READ_ONLY = "order_read_only"
ORDER_NOT_SHIPPABLE = "order_not_shippable"
FULFILLMENT_REQUEST_IN_PROGRESS = "fulfillment_request_in_progress"
INVALID_TRANSITION = "invalid_transition"
ALREADY_REFUNDED_ON_AMAZON = "already_refunded_on_amazon"

BUYER_CANCEL_HOLD = timedelta(minutes=30)  # A1
VERIFICATION_LIMIT = timedelta(days=21)  # A2
DEFAULT_CONFIRM_DAYS = 30  # A8
DEFAULT_WARNING_DAYS = 7  # A9
MIN_WARNING_DAYS, MAX_WARNING_DAYS = 1, 29

PENDING_STATUSES = frozenset({Status.PENDING, Status.PENDING_AVAILABILITY})
OPEN_STATUSES = frozenset({Status.UNSHIPPED, Status.PARTIALLY_SHIPPED})  # A6: these ship
SHIPPED_STATUSES = frozenset({Status.SHIPPED, Status.INVOICE_UNCONFIRMED})
CLOSED_STATUSES = frozenset({Status.CANCELED, Status.UNFULFILLABLE})
SHIP_ACTIONS = (
    Action.FULFIL,
    Action.MARK_FULFILLED,
    Action.REQUEST_FULFILLMENT,
    Action.CONFIRM_SHIPMENT,
)
ALL_ACTIONS = tuple(Action)


@dataclass(frozen=True)
class MarketplaceRule:
    """A marketplace's confirmation horizon (A8); ``orders.models.MarketplacePolicy`` as data."""

    confirm_days_after_order: int = DEFAULT_CONFIRM_DAYS
    confirm_business_days_after_ship_by: int | None = None
    time_zone: str = "UTC"
    marketplace_id: str = ""


DEFAULT_MARKETPLACE = MarketplaceRule()


@dataclass(frozen=True)
class OrderTimes:
    """What the rules need to know about one order."""

    purchase_date: datetime
    status: str = Status.PENDING
    fulfillment_channel: str = FulfillmentChannel.MFN
    channel: str = Channel.AMAZON
    latest_ship_date: datetime | None = None
    quantity_ordered: int = 0
    quantity_shipped: int = 0
    fulfillment: str = Fulfillment.UNFULFILLED
    confirmation: str = Confirmation.NONE
    buyer_cancel_requested: bool = False
    marketplace: MarketplaceRule = DEFAULT_MARKETPLACE
    # The merchant's settings: lead time of the A9 warning, and the zone its people read dates in.
    warning_days: int = DEFAULT_WARNING_DAYS
    time_zone: str = "UTC"
    warned_at: datetime | None = None
    # R6: Amazon shows a refund of this order made outside Keelson (Seller Central).
    refunded_on_amazon: bool = False

    def __post_init__(self) -> None:
        for name in ("purchase_date", "latest_ship_date", "warned_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True)
class Deadlines:
    ship_by: datetime | None = None
    confirm_by: datetime | None = None
    warn_at: datetime | None = None
    verify_by: datetime | None = None


NO_DEADLINES = Deadlines()


@dataclass(frozen=True)
class Decision:
    """Whether an action may be taken now; a refusal has a stable code and a reason to show."""

    action: Action
    allowed: bool
    code: str | None = None
    reason: str | None = None
    rule: str | None = None

    def as_dict(self) -> dict:
        return {
            "action": str(self.action),
            "allowed": self.allowed,
            "code": self.code,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Assessment:
    """Everything the portal and the API show about an order's timeline, at one instant."""

    deadlines: Deadlines
    hold_ends_at: datetime | None
    in_buyer_cancel_hold: bool
    pending_too_long: bool
    is_late: bool
    is_at_risk: bool
    expected_auto_cancel: bool
    actions: Mapping[Action, Decision] = field(default_factory=dict)

    @property
    def allowed_actions(self) -> list[str]:
        return [str(a) for a, d in self.actions.items() if d.allowed]


# --- time arithmetic -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def shift_days(instant: datetime, days: int, time_zone: str) -> datetime:
    """``instant`` moved by whole days on the wall clock of ``time_zone``, returned in UTC."""
    local = instant.astimezone(zone(time_zone))
    return (local + timedelta(days=days)).astimezone(UTC)


def add_business_days(instant: datetime, days: int, time_zone: str) -> datetime:
    """``instant`` moved forward by ``days`` weekdays (Monday to Friday) in ``time_zone``."""
    local = instant.astimezone(zone(time_zone))
    counted = 0
    while counted < days:
        local += timedelta(days=1)
        if local.weekday() < 5:
            counted += 1
    return local.astimezone(UTC)


# --- facts about an order --------------------------------------------------------------------


def is_amazon(t: OrderTimes) -> bool:
    return t.channel == Channel.AMAZON


def is_read_only(t: OrderTimes) -> bool:
    """R5: orders Amazon fulfils are imported for reporting only."""
    return is_amazon(t) and t.fulfillment_channel == FulfillmentChannel.AFN


def all_items_shipped(t: OrderTimes) -> bool:
    return t.quantity_ordered > 0 and t.quantity_shipped >= t.quantity_ordered


def needs_shipment_confirmation(t: OrderTimes) -> bool:
    """A seller-fulfilled Amazon order that still has to ship and be confirmed (A6, A8)."""
    return (
        is_amazon(t)
        and not is_read_only(t)
        and t.status in OPEN_STATUSES
        and t.confirmation != Confirmation.CONFIRMED
        and not all_items_shipped(t)
    )


def confirm_deadline(
    purchase_date: datetime, ship_by: datetime | None, rule: MarketplaceRule
) -> datetime:
    """A8: days after the order date, or business days after ship-by; the earlier wins."""
    candidates = [shift_days(purchase_date, rule.confirm_days_after_order, rule.time_zone)]
    if rule.confirm_business_days_after_ship_by is not None and ship_by is not None:
        candidates.append(
            add_business_days(ship_by, rule.confirm_business_days_after_ship_by, rule.time_zone)
        )
    return min(candidates)


def warning_days(t: OrderTimes) -> int:
    """The merchant's lead time (A9), kept within 1..29 days."""
    return max(MIN_WARNING_DAYS, min(MAX_WARNING_DAYS, t.warning_days))


def deadlines(t: OrderTimes) -> Deadlines:
    """The deadlines the order has now; None where it does not need one (cleared)."""
    verify_by = None
    if is_amazon(t) and not is_read_only(t) and t.status == Status.PENDING:
        verify_by = t.purchase_date + VERIFICATION_LIMIT  # A2
    if not needs_shipment_confirmation(t):
        return Deadlines(verify_by=verify_by)
    ship_by = t.latest_ship_date
    confirm_by = confirm_deadline(t.purchase_date, ship_by, t.marketplace)
    warn_at = shift_days(confirm_by, -warning_days(t), t.time_zone)
    return Deadlines(ship_by=ship_by, confirm_by=confirm_by, warn_at=warn_at, verify_by=verify_by)


def hold_ends_at(t: OrderTimes) -> datetime:
    """A1: Amazon holds every new order 30 minutes so the buyer can cancel."""
    return t.purchase_date + BUYER_CANCEL_HOLD


def in_buyer_cancel_hold(t: OrderTimes, now: datetime) -> bool:
    return (
        is_amazon(t)
        and not is_read_only(t)
        and t.status in PENDING_STATUSES
        and now < hold_ends_at(t)
    )


def pending_too_long(t: OrderTimes, now: datetime) -> bool:
    """A2: still Pending after Amazon's 21-day verification limit."""
    verify_by = deadlines(t).verify_by
    return verify_by is not None and now > verify_by


def is_late(t: OrderTimes, now: datetime) -> bool:
    """Not (completely) shipped after its ship-by date."""
    ship_by = deadlines(t).ship_by
    return ship_by is not None and now > ship_by


def is_at_risk(t: OrderTimes, now: datetime) -> bool:
    """Shipment not confirmed and the A9 warning is due (or was given)."""
    d = deadlines(t)
    if d.confirm_by is None or d.warn_at is None:
        return False
    return t.warned_at is not None or now >= d.warn_at


def expected_auto_cancel(t: OrderTimes, now: datetime) -> bool:
    """A8: past the confirmation deadline unconfirmed; Amazon cancels it and does not pay."""
    confirm_by = deadlines(t).confirm_by
    return confirm_by is not None and now > confirm_by


# --- what may be done ------------------------------------------------------------------------


def _all(
    actions: tuple[Action, ...],
    allowed: bool,
    code: str | None = None,
    reason: str | None = None,
    rule: str | None = None,
) -> dict[Action, Decision]:
    return {a: Decision(a, allowed, code, reason, rule) for a in actions}


def _pending_reason(t: OrderTimes, now: datetime) -> tuple[str, str]:
    if t.status == Status.PENDING_AVAILABILITY:
        return (
            N_(
                "Amazon is still verifying this order: it is a pre-order, pending until the item "
                "is released. No action can be taken on it yet."
            ),
            "A1",
        )
    if now < hold_ends_at(t):
        return (
            N_(
                "Amazon is still verifying this order: the buyer may cancel until %(when)s. "
                "No action can be taken on it yet.",
                when=When(hold_ends_at(t), t.time_zone),
            ),
            "A1",
        )
    if pending_too_long(t, now):
        return (
            N_(
                "Amazon is still verifying this order, for more than 21 days now: do not ship it. "
                "Amazon cancels it if payment is not approved."
            ),
            "A2",
        )
    return (
        N_(
            "Amazon is still verifying this order (payment or order details; this can take up to "
            "21 days). Do not ship it yet, even if the buyer asks."
        ),
        "A2",
    )


def allowed_actions(t: OrderTimes, now: datetime) -> dict[Action, Decision]:
    """Every action with whether it is allowed now, in ``Action`` order."""
    out = _allowed_actions(t, now)
    if t.refunded_on_amazon:
        # R6: refunded on Amazon outside Keelson; a cancellation implies a refund too (R7).
        for action in (Action.REFUND, Action.CANCEL, Action.CANCEL_AS_REQUESTED):
            if out[action].allowed:
                out[action] = Decision(
                    action,
                    False,
                    ALREADY_REFUNDED_ON_AMAZON,
                    N_(
                        "Already refunded on Amazon (in Seller Central): the order can no "
                        "longer be "
                        "refunded or cancelled in Keelson. Make further refunds in Seller Central."
                    ),
                    "R6",
                )
    return out


def _allowed_actions(t: OrderTimes, now: datetime) -> dict[Action, Decision]:
    if is_read_only(t):
        return _all(
            ALL_ACTIONS,
            False,
            ORDER_READ_ONLY,
            N_("Amazon fulfils this order (FBA): it is shown for reporting only."),
            "R5",
        )
    if is_amazon(t) and t.status in PENDING_STATUSES:
        reason, rule = _pending_reason(t, now)
        return _all(ALL_ACTIONS, False, ORDER_PENDING, reason, rule)
    if is_amazon(t) and t.status in CLOSED_STATUSES:
        text = (
            N_("This order was cancelled.")
            if t.status == Status.CANCELED
            else N_("Amazon marked this order unfulfillable.")
        )
        out = _all(SHIP_ACTIONS, False, ORDER_NOT_SHIPPABLE, text, "A6")
        out.update(
            _all(
                (Action.CANCEL, Action.CANCEL_AS_REQUESTED, Action.REFUND),
                False,
                INVALID_TRANSITION,
                text,
            )
        )
        return _ordered(out)
    if is_amazon(t) and t.status in SHIPPED_STATUSES:
        return _shipped_actions()
    if is_amazon(t) and t.status not in OPEN_STATUSES:
        return _all(
            ALL_ACTIONS,
            False,
            INVALID_TRANSITION,
            N_("Unknown Amazon status %(status)s.", status=repr(t.status)),
        )
    return _open_actions(t)


def _shipped_actions() -> dict[Action, Decision]:
    text = N_("Amazon reports this order as shipped.")
    out = _all(SHIP_ACTIONS, False, ORDER_NOT_SHIPPABLE, text, "A6")
    refuse_cancel = (
        INVALID_TRANSITION,
        "A shipped order cannot be cancelled: refund it instead.",
        "A4",
    )
    out[Action.CANCEL] = Decision(Action.CANCEL, False, *refuse_cancel)
    out[Action.CANCEL_AS_REQUESTED] = Decision(Action.CANCEL_AS_REQUESTED, False, *refuse_cancel)
    out[Action.REFUND] = Decision(Action.REFUND, True)
    return _ordered(out)


def _open_actions(t: OrderTimes) -> dict[Action, Decision]:
    """Unshipped or PartiallyShipped Amazon orders, and orders of other channels."""
    out: dict[Action, Decision] = {}
    in_progress = t.fulfillment == Fulfillment.IN_PROGRESS
    fully_fulfilled = t.fulfillment == Fulfillment.FULFILLED or all_items_shipped(t)
    something_shipped = (
        t.status == Status.PARTIALLY_SHIPPED
        or t.quantity_shipped > 0
        or t.fulfillment in (Fulfillment.PARTIALLY_FULFILLED, Fulfillment.FULFILLED)
    )
    amazon = is_amazon(t)

    # Shipping it ourselves, or through a fulfillment service.
    for action in (Action.FULFIL, Action.MARK_FULFILLED, Action.REQUEST_FULFILLMENT):
        if fully_fulfilled:
            out[action] = Decision(
                action, False, ORDER_NOT_SHIPPABLE, N_("Every item is already fulfilled."), "F7"
            )
        elif in_progress:
            rule = "F11" if action != Action.REQUEST_FULFILLMENT else "F3"
            out[action] = Decision(
                action,
                False,
                FULFILLMENT_REQUEST_IN_PROGRESS,
                "A fulfillment request is in progress: cancel it first.",
                rule,
            )
        else:
            out[action] = Decision(action, True)

    # Cancelling (R7: with a refund of what was paid for the items not shipped).
    if in_progress:
        cancel = Decision(
            Action.CANCEL,
            False,
            FULFILLMENT_REQUEST_IN_PROGRESS,
            "A fulfillment request is in progress: cancel the request before the order.",
            "F3",
        )
    elif fully_fulfilled:
        cancel = Decision(
            Action.CANCEL,
            False,
            INVALID_TRANSITION,
            N_("Every item is fulfilled: refund the order instead."),
            "A4",
        )
    else:
        cancel = Decision(Action.CANCEL, True)
    out[Action.CANCEL] = cancel
    if not cancel.allowed:
        out[Action.CANCEL_AS_REQUESTED] = Decision(
            Action.CANCEL_AS_REQUESTED, False, cancel.code, cancel.reason, cancel.rule
        )
    elif not t.buyer_cancel_requested:
        out[Action.CANCEL_AS_REQUESTED] = Decision(
            Action.CANCEL_AS_REQUESTED,
            False,
            INVALID_TRANSITION,
            N_("The buyer has not asked to cancel this order."),
            "B4",
        )
    else:
        out[Action.CANCEL_AS_REQUESTED] = Decision(Action.CANCEL_AS_REQUESTED, True)

    # Refunding: only what has shipped (an unshipped Amazon order is cancelled instead); never
    # while a fulfillment request is in progress (F3).
    if in_progress:
        out[Action.REFUND] = Decision(
            Action.REFUND,
            False,
            FULFILLMENT_REQUEST_IN_PROGRESS,
            "A fulfillment request is in progress: the order cannot be refunded now.",
            "F3",
        )
    elif amazon and not something_shipped:
        out[Action.REFUND] = Decision(
            Action.REFUND,
            False,
            INVALID_TRANSITION,
            N_(
                "Nothing has shipped yet: cancel the order instead (the cancellation records its "
                "refund)."
            ),
            "R7",
        )
    else:
        out[Action.REFUND] = Decision(Action.REFUND, True)

    # Confirming shipment to Amazon (A7): what was fulfilled here, once.
    if not amazon:
        confirm = Decision(
            Action.CONFIRM_SHIPMENT,
            False,
            INVALID_TRANSITION,
            N_("Only Amazon orders are confirmed to Amazon."),
        )
    elif t.confirmation != Confirmation.NONE:
        confirm = Decision(
            Action.CONFIRM_SHIPMENT,
            False,
            INVALID_TRANSITION,
            N_("The shipment confirmation was already sent to Amazon."),
            "A7",
        )
    elif t.fulfillment not in (Fulfillment.FULFILLED, Fulfillment.PARTIALLY_FULFILLED):
        confirm = Decision(
            Action.CONFIRM_SHIPMENT,
            False,
            INVALID_TRANSITION,
            N_("Nothing was fulfilled in Keelson yet: fulfil the order first."),
            "R3",
        )
    else:
        confirm = Decision(Action.CONFIRM_SHIPMENT, True)
    out[Action.CONFIRM_SHIPMENT] = confirm
    return _ordered(out)


def _ordered(decisions: dict[Action, Decision]) -> dict[Action, Decision]:
    return {a: decisions[a] for a in ALL_ACTIONS}


def assess(t: OrderTimes, now: datetime) -> Assessment:
    """Deadlines, flags and allowed actions of an order at ``now``."""
    d = deadlines(t)
    amazon_mfn = is_amazon(t) and not is_read_only(t)
    return Assessment(
        deadlines=d,
        hold_ends_at=hold_ends_at(t) if amazon_mfn else None,
        in_buyer_cancel_hold=in_buyer_cancel_hold(t, now),
        pending_too_long=pending_too_long(t, now),
        is_late=is_late(t, now),
        is_at_risk=is_at_risk(t, now),
        expected_auto_cancel=expected_auto_cancel(t, now),
        actions=allowed_actions(t, now),
    )


# --- what the merchant reads -----------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_text(instant: datetime, time_zone: str) -> str:
    """An instant as the merchant reads it, in its own time zone: ``Tue 10 Mar 2026, 08:00 EDT``.

    Independent of the process locale. The zone abbreviation tells which side of a DST switch.
    """
    local = instant.astimezone(zone(time_zone))
    return (
        f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
        f"{local:%H:%M} {local.tzname()}"
    )


def deadline_warning_message(confirm_by: datetime, time_zone: str) -> str:
    """A9's warning, with the date in the merchant's time zone."""
    return N_(
        "Please confirm shipment by %(when)s to avoid cancellation",
        when=When(confirm_by, time_zone),
    )


def ship_by_passed_message(ship_by: datetime, time_zone: str) -> str:
    return N_(
        "The ship-by date (%(when)s) has passed and the order has not shipped completely: "
        "ship it, or cancel it.",
        when=When(ship_by, time_zone),
    )


def auto_cancel_expected_message(confirm_by: datetime, time_zone: str) -> str:
    return N_(
        "Shipment was not confirmed to Amazon by %(when)s: Amazon cancels such orders "
        "automatically and the seller is not paid, even if the goods shipped.",
        when=When(confirm_by, time_zone),
    )


def pending_too_long_message(purchase_date: datetime, time_zone: str) -> str:
    return N_(
        "Amazon has been verifying this order since %(when)s, more than 21 days: do not ship "
        "it, even if the buyer asks. Amazon cancels it if payment is not approved.",
        when=When(purchase_date, time_zone),
    )


# --- an order line's tax: item and shipping --------------------------------------------------
#
# Amazon's payment-adjustment feed refunds ItemTax and ShippingTax separately, each at most
# what the buyer paid of it (else error 18034), so a refund needs the split. Orders v0 always
# gives it (getOrderItems: ItemTax, ShippingTax); Orders 2026-01-01 gives it only when the TAX
# breakdown carries its ``detailedBreakdowns``. The sync stores what it knows and asks v0 for
# the rest (orders/tax_splits.py); these rules decide what is stored.


@dataclass(frozen=True)
class TaxSplit:
    """A line's tax: the item's and the shipping's; ``known`` False when Amazon gave it as one
    figure (all of it in ``item_tax``) and part of it may be the shipping's."""

    item_tax: Decimal
    shipping_tax: Decimal
    known: bool = True

    @property
    def total(self) -> Decimal:
        return self.item_tax + self.shipping_tax


def kept_tax_split(incoming: TaxSplit, stored: TaxSplit | None) -> TaxSplit:
    """The split the sync's upsert writes for a line: what Amazon sent, except that a tax
    without its split (``incoming.known`` False) never replaces a known one: Amazon may leave
    the detail out of one answer after giving it (or getOrderItems giving it) before. The
    known split stays unless the undivided tax is now larger than it: searchOrders reports the
    tax of the quantity not cancelled, v0 that of the whole line, so a smaller figure is the
    same tax after a cancellation, while a larger one is news whose split is unknown again."""
    if incoming.known or stored is None or not stored.known:
        return incoming
    if incoming.total <= stored.total:
        return stored
    return incoming


def resolved_tax_split(
    undivided: Decimal, item_tax: Decimal | None, shipping_tax: Decimal | None
) -> TaxSplit | None:
    """The split getOrderItems gives for a line whose tax Amazon gave as one figure
    (``undivided``, held as item tax), or None when its answer cannot settle it: no tax in it
    (Amazon shows none while an order is Pending), or less tax than searchOrders reported (an
    answer from before the order last changed). v0's figures are for the whole line, as the
    v0 sync stores them (a refund takes its share per shipped unit)."""
    if item_tax is None:
        return None
    shipping_tax = shipping_tax or Decimal(0)
    if item_tax + shipping_tax < undivided:
        return None
    return TaxSplit(item_tax, shipping_tax, True)
