"""Typed, normalised records the gateway returns: decimal money with its currency, aware
datetimes, Amazon's names mapped to ours. Nothing here knows about HTTP or the ORM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class AmazonOrderItem:
    order_item_id: str
    sku: str
    asin: str
    title: str
    quantity_ordered: int
    quantity_shipped: int
    item_price: Money | None = None
    item_tax: Money | None = None
    shipping_price: Money | None = None
    shipping_tax: Money | None = None
    promotion_discount: Money | None = None
    buyer_cancel_requested: bool = False
    buyer_cancel_reason: str = ""
    # False when Amazon gave the item's tax as one figure although part of it may be the
    # shipping's (Orders 2026-01-01: a TAX breakdown without ``detailedBreakdowns`` on an item
    # with a shipping charge): ``item_tax`` then holds all of it and ``shipping_tax`` is None,
    # and only getOrderItems (v0) tells how it divides.
    tax_split_known: bool = True


@dataclass(frozen=True)
class AmazonOrder:
    amazon_order_id: str
    marketplace_id: str
    status: str
    fulfillment_channel: str
    purchase_date: datetime
    last_update_date: datetime
    sales_channel: str = ""
    order_type: str = ""
    ship_service_level: str = ""
    earliest_ship_date: datetime | None = None
    latest_ship_date: datetime | None = None
    earliest_delivery_date: datetime | None = None
    latest_delivery_date: datetime | None = None
    is_prime: bool = False
    is_business_order: bool = False
    is_premium_order: bool = False
    order_total: Money | None = None
    buyer_name: str = ""
    buyer_email: str = ""
    shipping_address: dict = field(default_factory=dict)
    # None: the items were not fetched with this record (Orders v0 getOrders).
    items: tuple[AmazonOrderItem, ...] | None = None


@dataclass(frozen=True)
class OrdersPage:
    orders: tuple[AmazonOrder, ...]
    next_token: str | None
    # Orders v0: the LastUpdatedBefore/CreatedBefore Amazon applied (its clock, not ours).
    last_updated_before: datetime | None = None
