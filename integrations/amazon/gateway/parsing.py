"""Amazon's JSON as our typed records (``integrations.amazon.records``): Orders v0 and
Orders 2026-01-01, money, dates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from integrations.amazon.gateway.errors import AmazonTransientError
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money

# --- parsing ---------------------------------------------------------------------------------


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_money(value: dict | None) -> Money | None:
    if not value or value.get("Amount") in (None, ""):
        return None
    try:
        return Money(Decimal(str(value["Amount"])), value.get("CurrencyCode", ""))
    except InvalidOperation as exc:
        raise AmazonTransientError(f"malformed amount {value!r}") from exc


def parse_order(data: dict, items: tuple[AmazonOrderItem, ...] | None = None) -> AmazonOrder:
    address = data.get("ShippingAddress") or {}
    buyer = data.get("BuyerInfo") or {}
    return AmazonOrder(
        amazon_order_id=data["AmazonOrderId"],
        marketplace_id=data.get("MarketplaceId", ""),
        status=data["OrderStatus"],
        fulfillment_channel=data.get("FulfillmentChannel") or "MFN",
        purchase_date=parse_datetime(data["PurchaseDate"]),
        last_update_date=parse_datetime(data["LastUpdateDate"]),
        sales_channel=data.get("SalesChannel", ""),
        order_type=data.get("OrderType", ""),
        ship_service_level=data.get("ShipServiceLevel", ""),
        earliest_ship_date=parse_datetime(data.get("EarliestShipDate")),
        latest_ship_date=parse_datetime(data.get("LatestShipDate")),
        earliest_delivery_date=parse_datetime(data.get("EarliestDeliveryDate")),
        latest_delivery_date=parse_datetime(data.get("LatestDeliveryDate")),
        is_prime=bool(data.get("IsPrime")),
        is_business_order=bool(data.get("IsBusinessOrder")),
        is_premium_order=bool(data.get("IsPremiumOrder")),
        order_total=parse_money(data.get("OrderTotal")),
        buyer_name=buyer.get("BuyerName", "") or address.get("Name", ""),
        buyer_email=buyer.get("BuyerEmail", ""),
        shipping_address={
            k: address[k]
            for k in (
                "Name",
                "AddressLine1",
                "AddressLine2",
                "AddressLine3",
                "City",
                "StateOrRegion",
                "PostalCode",
                "CountryCode",
                "Phone",
                "AddressType",
            )
            if address.get(k)
        },
        items=items,
    )


def parse_item(data: dict) -> AmazonOrderItem:
    cancel = data.get("BuyerRequestedCancel") or {}
    return AmazonOrderItem(
        order_item_id=data["OrderItemId"],
        sku=data.get("SellerSKU", ""),
        asin=data.get("ASIN", ""),
        title=data.get("Title", ""),
        quantity_ordered=int(data.get("QuantityOrdered", 0)),
        quantity_shipped=int(data.get("QuantityShipped", 0)),
        item_price=parse_money(data.get("ItemPrice")),
        item_tax=parse_money(data.get("ItemTax")),
        shipping_price=parse_money(data.get("ShippingPrice")),
        shipping_tax=parse_money(data.get("ShippingTax")),
        promotion_discount=parse_money(data.get("PromotionDiscount")),
        buyer_cancel_requested=str(cancel.get("IsBuyerRequestedCancel", "")).lower() == "true",
        buyer_cancel_reason=cancel.get("BuyerCancelReason", "") or "",
    )


# --- parsing Orders 2026-01-01 ---------------------------------------------------------------

# Orders 2026-01-01 fulfillment statuses as Orders v0 OrderStatus values (our Order.status).
STATUS_FROM_2026 = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
# What searchOrders is asked to include: statuses and dates (FULFILLMENT), money (PROCEEDS),
# buyer cancellation requests (CANCELLATION, rule B3) and the delivery address (RECIPIENT).
SEARCH_ORDERS_DATA = ("FULFILLMENT", "PROCEEDS", "CANCELLATION", "RECIPIENT")
# Address members that carry no personal data: what Orders v0 returns without a restricted
# data token. Without ``personal_data`` a 2026 record keeps only these, like a v0 record.
NON_PII_ADDRESS_FIELDS = ("City", "StateOrRegion", "PostalCode", "CountryCode", "AddressType")
_ADDRESS_FROM_2026 = {
    "name": "Name",
    "addressLine1": "AddressLine1",
    "addressLine2": "AddressLine2",
    "addressLine3": "AddressLine3",
    "city": "City",
    "stateOrRegion": "StateOrRegion",
    "postalCode": "PostalCode",
    "countryCode": "CountryCode",
    "phone": "Phone",
    "addressType": "AddressType",
}


def parse_money_2026(value: dict | None) -> Money | None:
    # Six or more a line on the sync's ingest path: one lookup of the amount, and amounts as
    # Amazon sends them (strings) through a cache (_money: a page repeats most of its amounts).
    amount = value.get("amount") if value else None
    if amount is None or amount == "":
        return None
    try:
        if amount.__class__ is str:
            return _money(amount, value.get("currencyCode", ""))
        return Money(Decimal(str(amount)), value.get("currencyCode", ""))
    except InvalidOperation as exc:
        raise AmazonTransientError(f"malformed amount {value!r}") from exc


@lru_cache(maxsize=4096)
def _money(amount: str, currency: str) -> Money:
    """``Money`` of an amount in Amazon's text: one (immutable) record for the same text."""
    return Money(Decimal(amount), currency)


def parse_item_2026(data: dict) -> AmazonOrderItem:
    """An Orders 2026-01-01 order item as an Orders v0-shaped record.

    ``ItemPrice`` (v0) is the line: unit price times quantity ordered. Shipping, tax and
    discount come from the item's proceeds breakdowns (for the quantity not cancelled). The TAX
    breakdown's ``detailedBreakdowns`` (ITEM, SHIPPING) divide it into v0's ItemTax and
    ShippingTax; Amazon's model makes them optional. Without them the whole TAX is held as item
    tax, and when the item has a shipping charge part of it may be the shipping's: the record
    says so (``tax_split_known`` False) and the sync asks getOrderItems. Without a shipping
    charge (or without tax) all of it is item tax and the split is known. Without PROCEEDS (or
    while Pending) the amounts are None, as in v0.
    """
    product = data.get("product") or {}
    quantity = int(data["quantityOrdered"])
    unit = parse_money_2026((product.get("price") or {}).get("unitPrice"))
    item_price = Money(unit.amount * quantity, unit.currency) if unit else None
    shipping_price = item_tax = shipping_tax = discount = undivided_tax = None
    for breakdown in (data.get("proceeds") or {}).get("breakdowns") or ():
        subtotal = parse_money_2026(breakdown.get("subtotal"))
        kind = breakdown.get("type")
        if kind == "SHIPPING":
            shipping_price = subtotal
        elif kind == "DISCOUNT" and subtotal is not None:
            discount = Money(abs(subtotal.amount), subtotal.currency)
        elif kind == "TAX":
            detail = {
                d.get("subtype"): parse_money_2026(d.get("value"))
                for d in breakdown.get("detailedBreakdowns") or ()
            }
            if detail:
                item_tax, shipping_tax = detail.get("ITEM"), detail.get("SHIPPING")
            else:
                item_tax = undivided_tax = subtotal
    split_known = not (
        undivided_tax is not None
        and undivided_tax.amount != 0
        and shipping_price is not None
        and shipping_price.amount != 0
    )
    request = (data.get("cancellation") or {}).get("cancellationRequest") or {}
    return AmazonOrderItem(
        order_item_id=data["orderItemId"],
        sku=product.get("sellerSku", "") or "",
        asin=product.get("asin", "") or "",
        title=product.get("title", "") or "",
        quantity_ordered=quantity,
        quantity_shipped=int((data.get("fulfillment") or {}).get("quantityFulfilled", 0)),
        item_price=item_price,
        item_tax=item_tax,
        shipping_price=shipping_price,
        shipping_tax=shipping_tax,
        promotion_discount=discount,
        buyer_cancel_requested=request.get("requester") == "BUYER",
        buyer_cancel_reason=(request.get("cancelReason") or "") if request else "",
        tax_split_known=split_known,
    )


def parse_order_2026(data: dict, *, personal_data: bool = False) -> AmazonOrder:
    """An Orders 2026-01-01 order (with FULFILLMENT, PROCEEDS, CANCELLATION, RECIPIENT) as the
    same record Orders v0 gives, items included."""
    fulfillment = data["fulfillment"]
    status = STATUS_FROM_2026[fulfillment["fulfillmentStatus"]]
    programs = set(data.get("programs") or ())
    channel = data.get("salesChannel") or {}
    ship_by = fulfillment.get("shipByWindow") or {}
    deliver_by = fulfillment.get("deliverByWindow") or {}
    raw_address = (data.get("recipient") or {}).get("deliveryAddress") or {}
    address = {
        ours: raw_address[theirs]
        for theirs, ours in _ADDRESS_FROM_2026.items()
        if raw_address.get(theirs)
    }
    if "AddressType" in address:
        address["AddressType"] = str(address["AddressType"]).capitalize()
    if not personal_data:
        address = {k: v for k, v in address.items() if k in NON_PII_ADDRESS_FIELDS}
    buyer = (data.get("buyer") or {}) if personal_data else {}
    return AmazonOrder(
        amazon_order_id=data["orderId"],
        marketplace_id=channel.get("marketplaceId", ""),
        status=status,
        fulfillment_channel="AFN" if fulfillment.get("fulfilledBy") == "AMAZON" else "MFN",
        purchase_date=parse_datetime(data["createdTime"]),
        last_update_date=parse_datetime(data["lastUpdatedTime"]),
        sales_channel=channel.get("marketplaceName", "") or "",
        ship_service_level=fulfillment.get("fulfillmentServiceLevel", "") or "",
        earliest_ship_date=parse_datetime(ship_by.get("earliestDateTime")),
        latest_ship_date=parse_datetime(ship_by.get("latestDateTime")),
        earliest_delivery_date=parse_datetime(deliver_by.get("earliestDateTime")),
        latest_delivery_date=parse_datetime(deliver_by.get("latestDateTime")),
        is_prime="PRIME" in programs,
        is_business_order="AMAZON_BUSINESS" in programs,
        is_premium_order="PREMIUM" in programs,
        order_total=parse_money_2026((data.get("proceeds") or {}).get("grandTotal")),
        buyer_name=buyer.get("buyerName", "") or address.get("Name", ""),
        buyer_email=buyer.get("buyerEmail", ""),
        shipping_address=address,
        items=tuple(parse_item_2026(item) for item in data["orderItems"]),
    )


def amazon_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
