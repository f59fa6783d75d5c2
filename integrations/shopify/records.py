"""Typed records the gateway returns and takes: decimal money with its currency, aware
datetimes, Shopify's global ids kept as they are. Nothing here knows about HTTP or the ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ShopifyShop:
    name: str
    domain: str  # myshopifyDomain
    currency: str
    timezone: str  # ianaTimezone


@dataclass(frozen=True)
class ShopifyLineItem:
    id: str  # gid://shopify/LineItem/...
    sku: str
    title: str
    quantity: int
    current_quantity: int
    unfulfilled_quantity: int
    unit_price: Money | None


@dataclass(frozen=True)
class ShopifyFulfillmentOrderLine:
    id: str  # gid://shopify/FulfillmentOrderLineItem/...
    line_item_id: str
    sku: str
    total_quantity: int
    remaining_quantity: int


@dataclass(frozen=True)
class ShopifyFulfillmentOrder:
    id: str
    status: str  # OPEN, IN_PROGRESS, CLOSED, CANCELLED, ...
    lines: tuple[ShopifyFulfillmentOrderLine, ...]


@dataclass(frozen=True)
class ShopifyTracking:
    company: str
    number: str
    url: str


@dataclass(frozen=True)
class ShopifyFulfillmentLine:
    line_item_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShopifyFulfillment:
    id: str
    status: str
    created_at: datetime | None
    tracking: tuple[ShopifyTracking, ...]
    lines: tuple[ShopifyFulfillmentLine, ...]


@dataclass(frozen=True)
class ShopifyRefundLine:
    line_item_id: str
    sku: str
    quantity: int
    restock_type: str


@dataclass(frozen=True)
class ShopifyRefund:
    id: str
    created_at: datetime | None
    note: str
    total: Money | None
    lines: tuple[ShopifyRefundLine, ...]


@dataclass(frozen=True)
class ShopifyTransaction:
    id: str
    kind: str  # SALE, REFUND, ...
    status: str
    gateway: str
    amount: Money | None


@dataclass(frozen=True)
class ShopifyOrder:
    id: str  # gid://shopify/Order/...
    name: str  # "#1001"
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str
    source_name: str
    source_identifier: str
    tags: tuple[str, ...]
    currency: str
    financial_status: str  # displayFinancialStatus
    fulfillment_status: str  # displayFulfillmentStatus
    total_price: Money | None
    total_refunded: Money | None
    # None: not fetched with this record (list_orders returns summaries).
    line_items: tuple[ShopifyLineItem, ...] | None = None
    fulfillment_orders: tuple[ShopifyFulfillmentOrder, ...] | None = None
    fulfillments: tuple[ShopifyFulfillment, ...] | None = None
    refunds: tuple[ShopifyRefund, ...] | None = None
    transactions: tuple[ShopifyTransaction, ...] | None = None

    @property
    def legacy_id(self) -> int:
        return int(self.id.rsplit("/", 1)[1])


@dataclass(frozen=True)
class ShopifyOrdersPage:
    orders: tuple[ShopifyOrder, ...]
    end_cursor: str | None
    has_next_page: bool


@dataclass(frozen=True)
class ShopifyWebhookSubscription:
    id: str
    topic: str  # ORDERS_CREATE, ...
    callback_url: str


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopifyAddress:
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    province_code: str = ""
    zip: str = ""
    country_code: str = ""
    phone: str = ""


@dataclass(frozen=True)
class NewOrderLine:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class NewOrder:
    """An order to mirror into the store (neutral: nothing here is Amazon's type).

    ``source_identifier`` is the channel's order id (the Amazon order id), which is how a
    retry finds the order it already made (``find_order_by_source_identifier``). The buyer is
    never notified (rule R4): the gateway always sends ``sendReceipt`` and
    ``sendFulfillmentReceipt`` false.
    """

    source_identifier: str
    currency: str
    lines: tuple[NewOrderLine, ...]
    source_name: str = "amazon"
    tags: tuple[str, ...] = ("amazon",)
    shipping_amount: Decimal = Decimal("0")
    shipping_title: str = "Shipping"
    paid_amount: Decimal | None = None  # None: the order's total (lines + shipping)
    payment_gateway: str = "amazon"
    email: str = ""
    note: str = ""
    processed_at: datetime | None = None
    shipping_address: ShopifyAddress | None = None
    billing_address: ShopifyAddress | None = None
    inventory_behaviour: str = "BYPASS"  # or DECREMENT_IGNORING_POLICY, DECREMENT_OBEYING_POLICY

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0")) + (
            self.shipping_amount
        )


@dataclass(frozen=True)
class LineQuantity:
    """A quantity of a line item, by SKU (as Keelson knows its lines)."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class RefundLine:
    sku: str
    quantity: int
    restock_type: str = "NO_RESTOCK"  # CANCEL, RETURN, NO_RESTOCK


@dataclass(frozen=True)
class TrackingInfo:
    company: str = ""
    number: str = ""
    url: str = ""


@dataclass(frozen=True)
class RefundRequest:
    lines: tuple[RefundLine, ...] = ()
    amount: Decimal | None = None  # money back to the buyer; None: no transaction
    shipping_amount: Decimal | None = None
    note: str = ""
