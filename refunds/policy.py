"""Refund and cancellation arithmetic, as pure rules (no ORM, no I/O).

Money is ``Decimal`` in the order's currency with its minor-unit rules: two decimals for most
currencies, none for JPY (and the other zero-decimal currencies Amazon sells in). An amount with
more decimals than its currency allows is refused, never rounded silently; amounts we compute
(a suggested refund, a share of shipping) are rounded half up to the minor unit, and shares are
allocated by largest remainder so they always add up exactly.

What a buyer paid for an order line is split the way Amazon's payment-adjustment feed wants it:
``principal`` (item price less promotion), ``tax`` (item tax where it is added on top of the
price: US and Canada), ``shipping`` and ``shipping_tax``. Where prices include tax (EU, UK, JP,
MX, AU, SE, ...) the tax is inside principal and shipping already and the tax components are
zero. A refund never exceeds, component by component, what was paid and not yet refunded.

Where tax is added on top of the price, a line's tax must be split between the item and its
shipping, each refunded at most to what was paid of it (Amazon refuses more: 18034). When
Amazon has not said how a line's tax divides (``LineMoney.tax_split_pending``: searchOrders gave
it as one figure, orders/tax_splits.py), a refund that would take from that line, its items or
its shipping, is refused with ``tax_split_pending`` rather than guessed (R6: a refund made here
must sync to Amazon, not be refused there); cancellations are not (Amazon works out a
cancellation's refund itself, and its total is known).

Rules: R6 (refunds are made here and sync to Amazon; an order refunded on Amazon can no longer
be refunded here), R7 (cancelling needs a refund above 0), A4 (cancellations for missing
inventory are counted), A5 (an address change is a cancellation for the buyer to re-order), B4
(cancel as requested by the buyer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from foundation.text import N_, Amount

ZERO = Decimal(0)
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "HUF", "TWD", "UGX"})
# Amazon marketplaces (by country) where item prices include the tax shown in ItemTax.
TAX_INCLUDED_COUNTRIES = frozenset(
    {
        "GB",
        "DE",
        "FR",
        "IT",
        "ES",
        "NL",
        "SE",
        "PL",
        "BE",
        "IE",
        "TR",
        "AE",
        "SA",
        "EG",
        "IN",
        "JP",
        "AU",
        "SG",
        "MX",
        "BR",
    }
)


# --- currencies ------------------------------------------------------------------------------


def minor_units(currency: str) -> int:
    """Digits after the decimal point: 0 for JPY, 2 for USD/EUR/..."""
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(unit(currency), rounding=ROUND_HALF_UP)


def has_valid_precision(amount: Decimal, currency: str) -> bool:
    """No more decimals than the currency allows (``12.5`` is fine for USD, ``12.5`` JPY not)."""
    exponent = amount.normalize().as_tuple().exponent
    return not isinstance(exponent, int) or -exponent <= minor_units(currency)


def parse_amount(value: object) -> Decimal | None:
    """A decimal from a string or number; None when it is not one (floats go through str)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def money_text(amount: Decimal, currency: str) -> str:
    """``12.50 USD``, ``1980 JPY``."""
    return f"{quantize(amount, currency):f} {currency}"


# --- what was paid, by component -------------------------------------------------------------


@dataclass(frozen=True)
class Components:
    principal: Decimal = ZERO
    tax: Decimal = ZERO
    shipping: Decimal = ZERO
    shipping_tax: Decimal = ZERO

    NAMES = ("principal", "tax", "shipping", "shipping_tax")

    @property
    def item(self) -> Decimal:
        return self.principal + self.tax

    @property
    def shipping_total(self) -> Decimal:
        return self.shipping + self.shipping_tax

    @property
    def total(self) -> Decimal:
        return self.item + self.shipping_total

    def as_dict(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in self.NAMES}

    def __add__(self, other: Components) -> Components:
        return Components(*(getattr(self, n) + getattr(other, n) for n in self.NAMES))

    def __sub__(self, other: Components) -> Components:
        return Components(*(getattr(self, n) - getattr(other, n) for n in self.NAMES))

    def floor_zero(self) -> Components:
        return Components(*(max(ZERO, getattr(self, n)) for n in self.NAMES))

    def scaled(self, part: int, whole: int, currency: str) -> Components:
        """This much for ``part`` of ``whole`` units (Amazon charges per shipped unit)."""
        if whole <= 0 or part <= 0:
            return Components()
        if part >= whole:
            return self
        return Components(
            *(quantize(getattr(self, n) * part / whole, currency) for n in self.NAMES)
        )

    def items_only(self) -> Components:
        return Components(principal=self.principal, tax=self.tax)

    def shipping_only(self) -> Components:
        return Components(shipping=self.shipping, shipping_tax=self.shipping_tax)


def line_charge(
    *,
    item_price: Decimal,
    item_tax: Decimal,
    shipping_price: Decimal,
    shipping_tax: Decimal,
    promotion_discount: Decimal,
    tax_included: bool,
) -> Components:
    """What the buyer pays for a whole order line, as Amazon's adjustment components."""
    return Components(
        principal=item_price - promotion_discount,
        tax=ZERO if tax_included else item_tax,
        shipping=shipping_price,
        shipping_tax=ZERO if tax_included else shipping_tax,
    )


def tax_included(country: str | None) -> bool:
    return (country or "").upper() in TAX_INCLUDED_COUNTRIES


# --- allocation ------------------------------------------------------------------------------


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` in minor units (largest remainder), so the
    parts add up to ``total`` exactly and none exceeds its weight when ``total`` <= sum."""
    step = unit(currency)
    units = int((total / step).to_integral_value(rounding=ROUND_HALF_UP))
    whole = sum((w for w in weights if w > 0), ZERO)
    if units <= 0 or whole <= 0:
        return [ZERO for _ in weights]
    raw = [(w / whole) * units if w > 0 else ZERO for w in weights]
    floors = [int(r.to_integral_value(rounding=ROUND_DOWN)) for r in raw]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order:
        if left <= 0:
            break
        if weights[i] > 0:
            floors[i] += 1
            left -= 1
    return [Decimal(n) * step for n in floors]


def split(amount: Decimal, parts: Components, names: Sequence[str], currency: str) -> Components:
    """``amount`` spread over the named components of ``parts`` in proportion to them."""
    weights = [getattr(parts, n) for n in names]
    if sum(weights, ZERO) <= 0:
        # Nothing to weigh by (e.g. free shipping): all on the first named component.
        return Components(**{names[0]: amount})
    shares = allocate(amount, weights, currency)
    return Components(**dict(zip(names, shares, strict=True)))


# --- the state of an order's money -----------------------------------------------------------


@dataclass(frozen=True)
class LineMoney:
    """One order line: what was paid, and what refunds and cancellations took already."""

    line_id: int
    label: str
    ordered: int
    shipped: int  # shipped, on Amazon or through Keelson (the larger)
    charge: Components
    refunded: Components = Components()  # refunds (ours and Amazon's), pending or done
    refunded_quantity: int = 0
    cancelled: Components = Components()  # refunds that came with a cancellation
    cancelled_quantity: int = 0
    # Amazon has not said how the line's tax divides between the item and its shipping (all
    # of it is in ``charge.tax`` meanwhile): see ``tax_split_unknown``.
    tax_split_pending: bool = False

    @property
    def tax_split_unknown(self) -> bool:
        """A refund of this line would need a split nobody knows yet: pending, and the charge
        has tax components (where prices include tax it has none, and nothing is missing)."""
        return self.tax_split_pending and (self.charge.tax + self.charge.shipping_tax) > 0

    @property
    def open_quantity(self) -> int:
        """Neither shipped nor cancelled: what a cancellation may still take."""
        return max(0, self.ordered - self.shipped - self.cancelled_quantity)

    def refundable_quantity(self, charged_per_shipped_unit: bool) -> int:
        base = self.shipped if charged_per_shipped_unit else self.ordered - self.cancelled_quantity
        return max(0, base - self.refunded_quantity)

    def refundable(self, charged_per_shipped_unit: bool, currency: str) -> Components:
        """What a refund may still take from this line."""
        if charged_per_shipped_unit:
            paid = self.charge.scaled(self.shipped, self.ordered, currency)
        else:
            paid = self.charge - self.cancelled
        return (paid - self.refunded).floor_zero()

    def cancellable(self, quantity: int, currency: str) -> Components:
        """What cancelling ``quantity`` open units takes off the buyer's payment."""
        if quantity <= 0:
            return Components()
        if quantity >= self.open_quantity:
            # The last open units take what is left, so rounding leaves no cent behind.
            kept = self.charge.scaled(self.shipped, self.ordered, currency)
            return (self.charge - kept - self.cancelled - self._refunded_beyond(kept)).floor_zero()
        return self.charge.scaled(quantity, self.ordered, currency)

    def _refunded_beyond(self, kept: Components) -> Components:
        return (self.refunded - kept).floor_zero()


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    lines: Mapping[int, LineMoney]
    # Amazon charges buyers per shipped unit: a refund takes only from what shipped; what did
    # not ship is cancelled instead (R7), never refunded through the payment feed.
    charged_per_shipped_unit: bool
    paid_total: Decimal
    refunded_total: Decimal  # every refund that is not failed (cancellations' included)

    @property
    def balance(self) -> Decimal:
        return max(ZERO, self.paid_total - self.refunded_total)


# --- planning a refund -----------------------------------------------------------------------


class RefundRefused(Exception):
    """A refund the rules refuse; ``code`` is api.md's stable code, ``field`` the input."""

    def __init__(self, code: str, message: str, field: str | None = None, line: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.line = line  # the label of the line it is about, when it is about one


REFUND_EXCEEDS_BALANCE = "refund_exceeds_balance"
REFUND_AMOUNT_REQUIRED = "refund_amount_required"
INVALID_AMOUNT = "invalid_amount"
QUANTITY_EXCEEDS_REMAINING = "quantity_exceeds_remaining"
UNKNOWN_LINE = "validation_error"
NOTHING_TO_CANCEL = "invalid_transition"
TAX_SPLIT_PENDING = "tax_split_pending"


def tax_split_pending_message(label: str, *, asking: bool = True) -> str:
    """Why a refund of a line whose tax split is pending is refused, for the merchant;
    ``asking`` False when Keelson cannot ask Amazon now (the account is not connected)."""
    if asking:
        return N_(
            "%(line)s: Amazon has not yet told Keelson how this item's tax divides between "
            "the item and its shipping, so Keelson cannot tell how much of each a refund may "
            "take back without Amazon refusing it. Keelson is asking Amazon now: try again in "
            "a few minutes.",
            line=label,
        )
    return N_(
        "%(line)s: Amazon has not yet told Keelson how this item's tax divides between the "
        "item and its shipping, so Keelson cannot tell how much of each a refund may take "
        "back without Amazon refusing it. Keelson can ask Amazon once the order's Amazon "
        "account is connected and active again.",
        line=label,
    )


def _check_tax_split(line: LineMoney, field: str) -> None:
    if line.tax_split_unknown:
        raise RefundRefused(
            TAX_SPLIT_PENDING, tax_split_pending_message(line.label), field, line=line.label
        )


@dataclass(frozen=True)
class RequestedLine:
    line_id: int
    quantity: int | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class PlannedLine:
    line_id: int
    quantity: int
    components: Components

    @property
    def amount(self) -> Decimal:
        return self.components.item

    @property
    def shipping_amount(self) -> Decimal:
        return self.components.shipping_total


@dataclass(frozen=True)
class Plan:
    currency: str
    lines: tuple[PlannedLine, ...]
    full_cancellation: bool = False  # nothing is left open or shipped after it

    @property
    def shipping_amount(self) -> Decimal:
        return sum((p.shipping_amount for p in self.lines), ZERO)

    @property
    def items_amount(self) -> Decimal:
        return sum((p.amount for p in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.items_amount + self.shipping_amount


def _checked_amount(value: Decimal, currency: str, field: str) -> Decimal:
    if value < 0:
        raise RefundRefused(INVALID_AMOUNT, N_("An amount cannot be negative."), field)
    if not has_valid_precision(value, currency):
        digits = minor_units(currency)
        message = (
            N_("%(value)s has more decimals than %(currency)s allows (no decimals).")
            if digits == 0
            else N_(
                "%(value)s has more decimals than %(currency)s allows (at most %(digits)s "
                "decimals)."
            )
        )
        raise RefundRefused(
            INVALID_AMOUNT, message.bind(value=value, currency=currency, digits=digits), field
        )
    return quantize(value, currency)


def _line(money: OrderMoney, line_id: int, field: str) -> LineMoney:
    line = money.lines.get(line_id)
    if line is None:
        raise RefundRefused(
            UNKNOWN_LINE,
            N_("Line %(line_id)s is not a line of this order.", line_id=line_id),
            field,
        )
    return line


def plan_refund(
    money: OrderMoney, requested: Sequence[RequestedLine], shipping_amount: Decimal | None
) -> Plan:
    """The refund of these lines (and shipping), component by component, or a refusal.

    A line's amount, when omitted, is the suggested one: its price (and tax) for the quantity.
    Shipping is spread over the lines in proportion to the shipping left on each. Refused with
    ``tax_split_pending`` when it would take from a line whose tax split Amazon has not given
    (its items, or shipping while that line has shipping left): every amount of such a line
    would be divided by a guess, and Amazon refuses a component beyond what was paid of it
    (R6: the refund must sync to Amazon).
    """
    cur = money.currency
    per_unit = money.charged_per_shipped_unit
    seen: set[int] = set()
    planned: dict[int, PlannedLine] = {}
    for i, req in enumerate(requested):
        field = f"lines[{i}]"
        line = _line(money, req.line_id, f"{field}.line")
        if req.line_id in seen:
            raise RefundRefused(UNKNOWN_LINE, N_("Each line may appear once."), f"{field}.line")
        seen.add(req.line_id)
        quantity = req.quantity or 0
        left_quantity = line.refundable_quantity(per_unit)
        if quantity < 0:
            raise RefundRefused(
                INVALID_AMOUNT, N_("A quantity cannot be negative."), f"{field}.quantity"
            )
        if quantity > left_quantity:
            message = (
                N_("%(line)s: %(quantity)s asked, %(left)s shipped and not yet refunded.")
                if per_unit
                else N_("%(line)s: %(quantity)s asked, %(left)s not yet refunded.")
            )
            raise RefundRefused(
                QUANTITY_EXCEEDS_REMAINING,
                message.bind(line=line.label, quantity=quantity, left=left_quantity),
                f"{field}.quantity",
            )
        if quantity or req.amount:
            _check_tax_split(line, f"{field}.line")
        available = line.refundable(per_unit, cur).items_only()
        if req.amount is None:
            if quantity == 0:
                raise RefundRefused(
                    REFUND_AMOUNT_REQUIRED,
                    N_("%(line)s: give a quantity, or an amount to refund.", line=line.label),
                    f"{field}.amount",
                )
            if quantity >= left_quantity:
                amount = available.item
            else:
                amount = quantize(available.item * quantity / left_quantity, cur)
        else:
            amount = _checked_amount(req.amount, cur, f"{field}.amount")
            if amount > available.item:
                raise RefundRefused(
                    REFUND_EXCEEDS_BALANCE,
                    N_(
                        "%(line)s: %(amount)s is more than the %(left)s left to refund on it.",
                        line=line.label,
                        amount=Amount(amount, cur),
                        left=Amount(available.item, cur),
                    ),
                    f"{field}.amount",
                )
        planned[line.line_id] = PlannedLine(
            line.line_id, quantity, split(amount, available, ("principal", "tax"), cur)
        )

    if shipping_amount:
        ship = _checked_amount(shipping_amount, cur, "shipping_amount")
        shippable = {
            lid: line.refundable(per_unit, cur).shipping_only() for lid, line in money.lines.items()
        }
        for lid in sorted(shippable):
            if shippable[lid].shipping_total > 0:
                _check_tax_split(money.lines[lid], "shipping_amount")
        left = sum((c.shipping_total for c in shippable.values()), ZERO)
        if ship > left:
            raise RefundRefused(
                REFUND_EXCEEDS_BALANCE,
                N_(
                    "Shipping: %(amount)s is more than the %(amount2)s of shipping left to refund.",
                    amount=Amount(ship, cur),
                    amount2=Amount(left, cur),
                ),
                "shipping_amount",
            )
        ids = sorted(lid for lid, c in shippable.items() if c.shipping_total > 0)
        shares = allocate(ship, [shippable[lid].shipping_total for lid in ids], cur)
        for lid, share in zip(ids, shares, strict=True):
            if share <= 0:
                continue
            parts = split(share, shippable[lid], ("shipping", "shipping_tax"), cur)
            before = planned.get(lid, PlannedLine(lid, 0, Components()))
            planned[lid] = PlannedLine(lid, before.quantity, before.components + parts)

    plan = Plan(cur, tuple(planned[k] for k in sorted(planned)))
    _check_total(money, plan, "lines")
    return plan


def plan_cancellation(
    money: OrderMoney,
    line_ids: Sequence[int] | None,
    refund: Decimal | None,
) -> Plan:
    """Cancel the open quantity of these lines (all open lines when None) with a refund of
    ``refund`` (R7: above 0, at most what the cancelled items and their shipping cost)."""
    cur = money.currency
    if line_ids is None:
        chosen = [line for line in money.lines.values() if line.open_quantity > 0]
    else:
        chosen = []
        for i, lid in enumerate(line_ids):
            line = _line(money, lid, f"lines[{i}].line")
            if line.open_quantity <= 0:
                raise RefundRefused(
                    NOTHING_TO_CANCEL,
                    N_(
                        "%(line)s: nothing is left to cancel (shipped or cancelled already).",
                        line=line.label,
                    ),
                    f"lines[{i}].line",
                )
            if line not in chosen:
                chosen.append(line)
    if not chosen:
        raise RefundRefused(
            NOTHING_TO_CANCEL, N_("Nothing is left to cancel: every item shipped or was cancelled.")
        )
    full = [(line, line.cancellable(line.open_quantity, cur)) for line in chosen]
    most = sum((c.total for _, c in full), ZERO)
    if refund is None or refund == 0:
        raise RefundRefused(
            REFUND_AMOUNT_REQUIRED,
            N_(
                "Cancelling an Amazon order needs a refund of more than 0 (R7): suggested "
                "%(amount)s, what the cancelled items and their shipping cost.",
                amount=Amount(most, cur),
            ),
            "refund",
        )
    amount = _checked_amount(refund, cur, "refund")
    if amount > most:
        raise RefundRefused(
            REFUND_EXCEEDS_BALANCE,
            N_(
                "A cancellation refunds at most what it cancels: %(most)s (asked %(asked)s). "
                "Refund the rest once items have shipped.",
                most=Amount(most, cur),
                asked=Amount(amount, cur),
            ),
            "refund",
        )
    weights = [getattr(c, n) for _, c in full for n in Components.NAMES]
    shares = allocate(amount, weights, cur)
    planned = []
    for i, (line, _) in enumerate(full):
        parts = shares[i * 4 : i * 4 + 4]
        planned.append(PlannedLine(line.line_id, line.open_quantity, Components(*parts)))
    chosen_ids = {line.line_id for line in chosen}
    nothing_left = all(
        line.shipped == 0 and (line.line_id in chosen_ids or line.open_quantity == 0)
        for line in money.lines.values()
    )
    plan = Plan(cur, tuple(sorted(planned, key=lambda p: p.line_id)), nothing_left)
    _check_total(money, plan, "refund")
    return plan


def _check_total(money: OrderMoney, plan: Plan, field: str) -> None:
    if plan.total <= 0:
        raise RefundRefused(
            REFUND_AMOUNT_REQUIRED, N_("A refund needs an amount of more than 0."), field
        )
    if plan.total > money.balance:
        raise RefundRefused(
            REFUND_EXCEEDS_BALANCE,
            N_(
                "%(amount)s is more than the %(left)s left to refund on this order.",
                amount=Amount(plan.total, money.currency),
                left=Amount(money.balance, money.currency),
            ),
            field,
        )


def suggested_cancellation_refund(money: OrderMoney, line_ids: Iterable[int] | None) -> Decimal:
    """What cancelling these lines (all open ones when None) refunds in full."""
    chosen = [
        line
        for line in money.lines.values()
        if line.open_quantity > 0 and (line_ids is None or line.line_id in set(line_ids))
    ]
    return sum(
        (line.cancellable(line.open_quantity, money.currency).total for line in chosen), ZERO
    )


# --- Amazon's side ---------------------------------------------------------------------------


class CancelReason(StrEnum):
    """Amazon's CancelReason (OrderAcknowledgement feed)."""

    NO_INVENTORY = "NoInventory"
    SHIPPING_ADDRESS_UNDELIVERABLE = "ShippingAddressUndeliverable"
    CUSTOMER_EXCHANGE = "CustomerExchange"
    BUYER_CANCELED = "BuyerCanceled"
    GENERAL_ADJUSTMENT = "GeneralAdjustment"
    CARRIER_CREDIT_DECISION = "CarrierCreditDecision"
    RISK_ASSESSMENT_INFORMATION_NOT_VALID = "RiskAssessmentInformationNotValid"
    CARRIER_COVERAGE_FAILURE = "CarrierCoverageFailure"
    CUSTOMER_RETURN = "CustomerReturn"
    MERCHANDISE_NOT_RECEIVED = "MerchandiseNotReceived"


CANCEL_REASON_TEXT = {
    CancelReason.NO_INVENTORY: N_("No inventory (counts against your pre-fulfillment cancel rate)"),
    CancelReason.SHIPPING_ADDRESS_UNDELIVERABLE: N_("Shipping address undeliverable"),
    CancelReason.CUSTOMER_EXCHANGE: N_("Customer exchange"),
    CancelReason.BUYER_CANCELED: N_("Buyer cancelled"),
    CancelReason.GENERAL_ADJUSTMENT: N_("General adjustment"),
    CancelReason.CARRIER_CREDIT_DECISION: N_("Carrier credit decision"),
    CancelReason.RISK_ASSESSMENT_INFORMATION_NOT_VALID: N_("Risk assessment information not valid"),
    CancelReason.CARRIER_COVERAGE_FAILURE: N_("Carrier coverage failure"),
    CancelReason.CUSTOMER_RETURN: N_("Customer return"),
    CancelReason.MERCHANDISE_NOT_RECEIVED: N_("Merchandise not received"),
}

# Reasons the API and the portal take besides Amazon's own names.
BUYER_REQUESTED = "buyer_requested"  # B4
ADDRESS_CHANGE = "address_change"  # A5
SPECIAL_CANCEL_REASONS = {
    BUYER_REQUESTED: CancelReason.BUYER_CANCELED,
    # A5: the buyer wants the order elsewhere; Amazon ships only to the order's address, so the
    # order is cancelled (its address is, for this buyer, undeliverable) and the buyer re-orders.
    ADDRESS_CHANGE: CancelReason.SHIPPING_ADDRESS_UNDELIVERABLE,
}


def amazon_cancel_reason(reason: str) -> CancelReason:
    """Amazon's CancelReason for what the API or the portal was given; ValueError if unknown."""
    if reason in SPECIAL_CANCEL_REASONS:
        return SPECIAL_CANCEL_REASONS[reason]
    return CancelReason(reason)


def counts_against_cancel_rate(reason: str) -> bool:
    """A4: seller cancellations for missing inventory hurt the pre-fulfillment cancel rate."""
    return reason == CancelReason.NO_INVENTORY


class AdjustmentReason(StrEnum):
    """Amazon's AdjustmentReason (OrderAdjustment feed)."""

    CUSTOMER_RETURN = "CustomerReturn"
    GENERAL_ADJUSTMENT = "GeneralAdjustment"
    NO_INVENTORY = "NoInventory"
    COULD_NOT_SHIP = "CouldNotShip"
    DIFFERENT_ITEM = "DifferentItem"
    ABANDONED = "Abandoned"
    CUSTOMER_CANCEL = "CustomerCancel"
    PRICE_ERROR = "PriceError"
    PRODUCT_OUT_OF_STOCK = "ProductOutofStock"
    CUSTOMER_ADDRESS_INCORRECT = "CustomerAddressIncorrect"
    EXCHANGE = "Exchange"
    OTHER = "Other"
    CARRIER_CREDIT_DECISION = "CarrierCreditDecision"
    RISK_ASSESSMENT_INFORMATION_NOT_VALID = "RiskAssessmentInformationNotValid"
    CARRIER_COVERAGE_FAILURE = "CarrierCoverageFailure"
    TRANSACTION_RECORD = "TransactionRecord"
    UNDELIVERABLE = "Undeliverable"
    REFUSED_DELIVERY = "RefusedDelivery"


# --- Finances events (R6) --------------------------------------------------------------------

CHARGE_COMPONENT = {
    "Principal": "principal",
    "Tax": "tax",
    "ShippingCharge": "shipping",
    "Shipping": "shipping",
    "ShippingTax": "shipping_tax",
}


@dataclass(frozen=True)
class AmazonRefundEvent:
    """One RefundEvent of listFinancialEventsByOrderId: an adjustment Amazon made."""

    key: str  # stable: Amazon's OrderAdjustmentItemIds
    posted_date: str
    items: tuple[tuple[str, Components, int | None], ...]  # (OrderItemId, components, quantity)

    @property
    def total(self) -> Decimal:
        return sum((c.total for _, c, _ in self.items), ZERO)

    def signature(self) -> tuple:
        return refund_signature((item_id, c) for item_id, c, _ in self.items)


def refund_signature(items: Iterable[tuple[str, Components]]) -> tuple:
    """What identifies an adjustment's money: (item, component, amount), sorted. Our refund
    and the RefundEvent Amazon posts for it have the same signature."""
    out = []
    for item_id, comps in items:
        for name, value in comps.as_dict().items():
            if value:
                out.append((item_id, name, value))
    return tuple(sorted(out))


def parse_refund_events(
    financial_events: Mapping, currency: str, *, tax_included: bool
) -> list[AmazonRefundEvent]:
    """The RefundEventList of a Finances answer, as our components (positive amounts). Where
    prices include tax, Amazon's Tax components are inside the principal: they are dropped."""
    events = []
    for raw in financial_events.get("RefundEventList") or []:
        items: list[tuple[str, Components, int | None]] = []
        keys: list[str] = []
        for item in raw.get("ShipmentItemAdjustmentList") or []:
            values = dict.fromkeys(Components.NAMES, ZERO)
            for charge in item.get("ItemChargeAdjustmentList") or []:
                name = CHARGE_COMPONENT.get(str(charge.get("ChargeType")))
                amount = parse_amount((charge.get("ChargeAmount") or {}).get("CurrencyAmount"))
                if name is None or amount is None:
                    continue
                if tax_included and name in ("tax", "shipping_tax"):
                    continue
                values[name] += quantize(abs(amount), currency)
            quantity = item.get("QuantityShipped")
            items.append(
                (
                    str(item.get("OrderItemId") or ""),
                    Components(**values),
                    int(quantity) if isinstance(quantity, int) else None,
                )
            )
            if item.get("OrderAdjustmentItemId"):
                keys.append(str(item["OrderAdjustmentItemId"]))
        posted = str(raw.get("PostedDate") or "")
        key = ",".join(sorted(keys)) if keys else _fallback_key(posted, items)
        events.append(AmazonRefundEvent(key=key[:200], posted_date=posted, items=tuple(items)))
    return events


def _fallback_key(posted: str, items: list) -> str:
    import hashlib

    material = posted + repr(refund_signature((i, c) for i, c, _ in items))
    return "h:" + hashlib.sha256(material.encode()).hexdigest()[:40]


@dataclass
class Reconciliation:
    """Amazon's refund events matched with our refunds (R6)."""

    matched: dict[str, int] = field(default_factory=dict)  # event key -> our refund id
    external: list[AmazonRefundEvent] = field(default_factory=list)


def reconcile(
    events: Sequence[AmazonRefundEvent],
    known_keys: set[str],
    ours: Sequence[tuple[int, tuple]],
) -> Reconciliation:
    """Events we know already are skipped; an event with the money of one of our refunds sent to
    Amazon (not yet matched) is that refund; anything else was made outside Keelson (R6)."""
    result = Reconciliation()
    candidates = list(ours)
    for event in events:
        if event.key in known_keys:
            continue
        signature = event.signature()
        match = next((rid for rid, sig in candidates if sig == signature), None)
        if match is not None:
            result.matched[event.key] = match
            candidates = [(rid, sig) for rid, sig in candidates if rid != match]
        else:
            result.external.append(event)
    return result
