"""The emulator's state rendered in the shapes of Amazon's models (Orders v0, Orders
2026-01-01, Finances v0). Only what the models define; ``None`` values are left out."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sandbox.amazon import lifecycle, marketplaces
from sandbox.amazon.clock import isoformat
from sandbox.amazon.models import AmazonAdjustment, AmazonOrder, AmazonOrderItem, AmazonPackage

BUYER_INFO = "buyerInfo"
SHIPPING_ADDRESS = "shippingAddress"
NON_PII_ADDRESS_FIELDS = ("City", "StateOrRegion", "PostalCode", "CountryCode", "AddressType")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": marketplaces.format_amount(amount, currency)}


def sales_channel(order: AmazonOrder) -> str:
    market = marketplaces.get(order.marketplace_id)
    return market.name if market else "Amazon"


# --- Orders v0 -------------------------------------------------------------------------------


def v0_address(order: AmazonOrder, full: bool) -> dict[str, Any]:
    address = dict(order.shipping_address or {})
    if full:
        return address
    return {k: v for k, v in address.items() if k in NON_PII_ADDRESS_FIELDS}


def v0_buyer_info(order: AmazonOrder, full: bool) -> dict[str, Any] | None:
    if not full:
        return None
    info: dict[str, Any] = {"BuyerEmail": order.buyer_email, "BuyerName": order.buyer_name}
    if order.purchase_order_number:
        info["PurchaseOrderNumber"] = order.purchase_order_number
    if order.buyer_company_name:
        info["BuyerTaxInfo"] = {"CompanyLegalName": order.buyer_company_name}
    return info


def v0_order(
    order: AmazonOrder, items: Iterable[AmazonOrderItem], pii: frozenset[str] = frozenset()
) -> dict[str, Any]:
    items = list(items)
    status = order.status
    shipped = sum(i.quantity_shipped for i in items)
    unshipped = 0 if status in ("Pending", "Canceled") else sum(i.quantity_open for i in items)
    data: dict[str, Any] = {
        "AmazonOrderId": order.amazon_order_id,
        "SellerOrderId": order.seller_order_id or None,
        "PurchaseDate": isoformat(order.purchase_date),
        "LastUpdateDate": isoformat(order.last_update_date),
        "OrderStatus": status,
        "FulfillmentChannel": order.fulfillment_channel,
        "SalesChannel": sales_channel(order),
        "ShipServiceLevel": order.ship_service_level or None,
        "OrderTotal": money(lifecycle.order_total(order, items), order.currency)
        if order.payment_authorized and status != "Pending"
        else None,
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": unshipped,
        "PaymentMethod": order.payment_method,
        "PaymentMethodDetails": list(order.payment_method_details or []),
        "MarketplaceId": order.marketplace_id,
        "ShipmentServiceLevelCategory": order.shipment_service_level_category,
        "OrderType": order.order_type,
        "EarliestShipDate": isoformat(order.earliest_ship_date),
        "LatestShipDate": isoformat(order.latest_ship_date),
        "EarliestDeliveryDate": isoformat(order.earliest_delivery_date),
        "LatestDeliveryDate": isoformat(order.latest_delivery_date),
        "IsBusinessOrder": order.is_business_order,
        "IsPrime": order.is_prime,
        "IsPremiumOrder": order.is_premium_order,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "HasRegulatedItems": False,
        "ShippingAddress": v0_address(order, SHIPPING_ADDRESS in pii),
        "BuyerInfo": v0_buyer_info(order, BUYER_INFO in pii),
        "AutomatedShippingSettings": {"HasAutomatedShippingSettings": False},
    }
    return _clean(data)


def v0_item(order: AmazonOrder, item: AmazonOrderItem) -> dict[str, Any]:
    currency = order.currency
    data: dict[str, Any] = {
        "ASIN": item.asin,
        "SellerSKU": item.seller_sku,
        "OrderItemId": item.order_item_id,
        "Title": item.title,
        "QuantityOrdered": item.quantity_ordered,
        "QuantityShipped": item.quantity_shipped,
        "ProductInfo": {"NumberOfItems": "1"},
        "ConditionId": item.condition_id,
        "ConditionSubtypeId": item.condition_id,
        "IsTransparency": False,
        "SerialNumberRequired": False,
        "BuyerRequestedCancel": {
            "IsBuyerRequestedCancel": "true" if item.buyer_cancel_requested else "false",
            "BuyerCancelReason": item.buyer_cancel_reason or None,
        },
    }
    data["BuyerRequestedCancel"] = _clean(data["BuyerRequestedCancel"])
    # Amazon shows no pricing, taxes, gift status or promotions while an order is Pending.
    if order.status != "Pending" and order.payment_authorized:
        zero = Decimal(0)
        data.update(
            {
                "ItemPrice": money(item.item_price, currency),
                "ItemTax": money(item.item_tax, currency),
                "ShippingPrice": money(item.shipping_price, currency),
                "ShippingTax": money(item.shipping_tax, currency),
                "ShippingDiscount": money(zero, currency),
                "ShippingDiscountTax": money(zero, currency),
                "PromotionDiscount": money(item.promotion_discount, currency),
                "PromotionDiscountTax": money(zero, currency),
                "PromotionIds": [],
                "IsGift": "true" if item.is_gift else "false",
            }
        )
    return data


# --- Orders 2026-01-01 -----------------------------------------------------------------------

FULFILLMENT_STATUS = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
}
STATUS_FROM_FULFILLMENT = {v: k for k, v in FULFILLMENT_STATUS.items()}
SERVICE_LEVEL = {"Standard": "STANDARD", "Expedited": "EXPEDITED", "NextDay": "NEXT_DAY"}


def money_2026(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": marketplaces.format_amount(amount, currency), "currencyCode": currency}


def _proceeds_breakdowns(
    components: dict, currency: str, tax_included: bool, *, detailed: bool = False
) -> list[dict]:
    rows = [
        {"type": "ITEM", "subtotal": money_2026(components["Principal"], currency)},
        {"type": "SHIPPING", "subtotal": money_2026(components["Shipping"], currency)},
    ]
    if not tax_included:
        tax = components["Tax"] + components["ShippingTax"]
        row: dict[str, Any] = {"type": "TAX", "subtotal": money_2026(tax, currency)}
        if detailed:
            # An item's TAX is split into the item's and the shipping's (the model's
            # ItemProceedsDetailedBreakdown), as v0's ItemTax and ShippingTax: without it a
            # client cannot know which part a refund of the item may take back.
            row["detailedBreakdowns"] = [
                {"subtype": "ITEM", "value": money_2026(components["Tax"], currency)},
                {"subtype": "SHIPPING", "value": money_2026(components["ShippingTax"], currency)},
            ]
        rows.append(row)
    return rows


def tax_detail_omitted(order: AmazonOrder, share: float) -> bool:
    """Whether this order's 2026 items give their TAX without ``detailedBreakdowns``: the
    seller's ``tax_detail_omitted_share`` of its orders, always the same ones (a hash of the
    order id, stable across processes and runs)."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    return zlib.crc32(order.amazon_order_id.encode()) % 10_000 < share * 10_000


def order_2026(
    order: AmazonOrder,
    items: Iterable[AmazonOrderItem],
    packages: Iterable[AmazonPackage],
    included: frozenset[str],
    *,
    tax_detail: bool = True,
) -> dict[str, Any]:
    """An order in Orders 2026-01-01's shape. ``tax_detail`` False: each item's TAX proceeds
    breakdown comes without its ``detailedBreakdowns``, as Amazon's model allows."""
    items = list(items)
    market = marketplaces.get(order.marketplace_id)
    tax_included = market.tax_included if market else False
    currency = order.currency
    paid = order.payment_authorized and order.status != "Pending"
    programs = []
    if order.is_prime:
        programs.append("PRIME")
    if order.is_business_order:
        programs.append("AMAZON_BUSINESS")
    if order.is_premium_order:
        programs.append("PREMIUM")
    data: dict[str, Any] = {
        "orderId": order.amazon_order_id,
        "orderAliases": [{"aliasId": order.seller_order_id, "aliasType": "SELLER_ORDER_ID"}]
        if order.seller_order_id
        else None,
        "createdTime": isoformat(order.purchase_date),
        "lastUpdatedTime": isoformat(order.last_update_date),
        "programs": programs or None,
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.marketplace_id,
            "marketplaceName": sales_channel(order),
        },
    }
    if "BUYER" in included:
        data["buyer"] = _clean(
            {
                "buyerName": order.buyer_name or None,
                "buyerEmail": order.buyer_email or None,
                "buyerCompanyName": order.buyer_company_name or None,
                "buyerPurchaseOrderNumber": order.purchase_order_number or None,
            }
        )
    if "RECIPIENT" in included:
        address = order.shipping_address or {}
        data["recipient"] = {
            "deliveryAddress": _clean(
                {
                    "name": address.get("Name"),
                    "companyName": address.get("CompanyName"),
                    "addressLine1": address.get("AddressLine1"),
                    "addressLine2": address.get("AddressLine2"),
                    "city": address.get("City"),
                    "stateOrRegion": address.get("StateOrRegion"),
                    "postalCode": address.get("PostalCode"),
                    "countryCode": address.get("CountryCode"),
                    "phone": address.get("Phone"),
                    "addressType": (address.get("AddressType") or "Residential").upper(),
                }
            )
        }
    if "PROCEEDS" in included and paid:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for item in items:
            kept = item.quantity_ordered - item.quantity_canceled
            for k, v in lifecycle.item_charge_components(item, kept, currency).items():
                totals[k] += v
        data["proceeds"] = {
            "grandTotal": money_2026(lifecycle.order_total(order, items), currency),
            "breakdowns": _proceeds_breakdowns(totals, currency, tax_included),
        }
    if "FULFILLMENT" in included:
        data["fulfillment"] = {
            "fulfillmentStatus": FULFILLMENT_STATUS.get(order.status, "PENDING"),
            "fulfilledBy": "AMAZON" if order.fulfillment_channel == "AFN" else "MERCHANT",
            "fulfillmentServiceLevel": SERVICE_LEVEL.get(
                order.shipment_service_level_category, "STANDARD"
            ),
            "shipByWindow": {
                "earliestDateTime": isoformat(order.earliest_ship_date),
                "latestDateTime": isoformat(order.latest_ship_date),
            },
            "deliverByWindow": {
                "earliestDateTime": isoformat(order.earliest_delivery_date),
                "latestDateTime": isoformat(order.latest_delivery_date),
            },
        }
    data["orderItems"] = [
        _item_2026(order, item, included, paid, tax_included, tax_detail) for item in items
    ]
    if "PACKAGES" in included and order.fulfillment_channel == "MFN":
        data["packages"] = [
            _clean(
                {
                    "packageReferenceId": p.package_reference_id,
                    "createdTime": isoformat(p.created_at),
                    "packageStatus": {"status": "SHIPPED"},
                    "carrier": p.carrier_name or p.carrier_code,
                    "shipTime": isoformat(p.ship_date),
                    "shippingService": p.shipping_method or None,
                    "trackingNumber": p.tracking_number,
                    "packageItems": [
                        {"orderItemId": x["orderItemId"], "quantity": x["quantity"]}
                        for x in p.items
                    ],
                }
            )
            for p in packages
        ]
    return _clean(data)


def _item_2026(
    order: AmazonOrder,
    item: AmazonOrderItem,
    included: frozenset[str],
    paid: bool,
    tax_included: bool,
    tax_detail: bool = True,
) -> dict[str, Any]:
    currency = order.currency
    unit = item.item_price / item.quantity_ordered if item.quantity_ordered else Decimal(0)
    data: dict[str, Any] = {
        "orderItemId": item.order_item_id,
        "quantityOrdered": item.quantity_ordered,
        "product": {
            "asin": item.asin,
            "title": item.title,
            "sellerSku": item.seller_sku,
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
        },
    }
    if paid:
        data["product"]["price"] = {"unitPrice": money_2026(unit, currency)}
    if "PROCEEDS" in included and paid:
        kept = item.quantity_ordered - item.quantity_canceled
        components = lifecycle.item_charge_components(item, kept, currency)
        data["proceeds"] = {
            "proceedsTotal": money_2026(lifecycle.charge_total(components, tax_included), currency),
            "breakdowns": _proceeds_breakdowns(
                components, currency, tax_included, detailed=tax_detail
            ),
        }
    if "CANCELLATION" in included:
        cancellation: dict[str, Any] = {}
        if item.buyer_cancel_requested:
            cancellation["cancellationRequest"] = {
                "requester": "BUYER",
                "cancelReason": item.buyer_cancel_reason,
            }
        if item.quantity_canceled:
            cancellation["cancellationExecution"] = _clean(
                {
                    "cancelledBy": order.canceled_by or "MERCHANT",
                    "cancelReason": order.cancel_reason or None,
                }
            )
        if cancellation:
            data["cancellation"] = cancellation
    if "FULFILLMENT" in included:
        data["fulfillment"] = {
            "quantityFulfilled": item.quantity_shipped,
            "quantityUnfulfilled": item.quantity_open,
        }
    return data


# --- Finances v0 -----------------------------------------------------------------------------

CHARGE_TYPE = {
    "Principal": "Principal",
    "Tax": "Tax",
    "Shipping": "ShippingCharge",
    "ShippingTax": "ShippingTax",
    "Goodwill": "Goodwill",
    "Other": "Principal",
}
COMMISSION_RATE = Decimal("0.15")
REFUND_COMMISSION_SHARE = Decimal("0.20")
FBA_FEE_USD = Decimal("3.22")


def currency_amount(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": marketplaces.quantize(amount, currency)}


def shipment_event(
    order: AmazonOrder, package: AmazonPackage, items_by_id: dict[str, AmazonOrderItem]
) -> dict[str, Any]:
    currency = order.currency
    market = marketplaces.get(order.marketplace_id)
    lines = []
    for entry in package.items:
        item = items_by_id.get(entry["orderItemId"])
        if item is None:
            continue
        quantity = entry["quantity"]
        charged = lifecycle.item_charge_components(item, quantity, currency)
        fees = [
            {
                "FeeType": "Commission",
                "FeeAmount": currency_amount(-charged["Principal"] * COMMISSION_RATE, currency),
            }
        ]
        if order.fulfillment_channel == "AFN":
            scale = market.price_scale if market else Decimal(1)
            fees.append(
                {
                    "FeeType": "FBAPerUnitFulfillmentFee",
                    "FeeAmount": currency_amount(-FBA_FEE_USD * scale * quantity, currency),
                }
            )
        lines.append(
            {
                "SellerSKU": item.seller_sku,
                "OrderItemId": item.order_item_id,
                "QuantityShipped": quantity,
                "ItemChargeList": [
                    {"ChargeType": CHARGE_TYPE[k], "ChargeAmount": currency_amount(v, currency)}
                    for k, v in charged.items()
                ],
                "ItemFeeList": fees,
                "PromotionList": [],
            }
        )
    return _clean(
        {
            "AmazonOrderId": order.amazon_order_id,
            "SellerOrderId": order.seller_order_id or None,
            "MarketplaceName": sales_channel(order),
            "PostedDate": isoformat(package.created_at),
            "ShipmentItemList": lines,
        }
    )


def refund_events(
    order: AmazonOrder, adjustments: Iterable[AmazonAdjustment]
) -> list[dict[str, Any]]:
    currency = order.currency
    grouped: dict[str, list[AmazonAdjustment]] = defaultdict(list)
    for adjustment in adjustments:
        grouped[adjustment.adjustment_id].append(adjustment)
    events = []
    for adjustment_id, rows in grouped.items():
        by_item: dict[int, list[AmazonAdjustment]] = defaultdict(list)
        for row in rows:
            by_item[row.item_id].append(row)
        lines = []
        for position, item_rows in enumerate(by_item.values()):
            item = item_rows[0].item
            principal = sum(
                (r.amount for r in item_rows if r.component in ("Principal", "Other")), Decimal(0)
            )
            commission = principal * COMMISSION_RATE
            fees = []
            if commission:
                fees = [
                    {"FeeType": "Commission", "FeeAmount": currency_amount(commission, currency)},
                    {
                        "FeeType": "RefundCommission",
                        "FeeAmount": currency_amount(
                            -commission * REFUND_COMMISSION_SHARE, currency
                        ),
                    },
                ]
            lines.append(
                _clean(
                    {
                        "SellerSKU": item.seller_sku,
                        "OrderItemId": item.order_item_id,
                        "OrderAdjustmentItemId": f"{adjustment_id[-12:]}{position:02d}",
                        "QuantityShipped": item_rows[0].quantity,
                        "ItemChargeAdjustmentList": [
                            {
                                "ChargeType": CHARGE_TYPE.get(r.component, "Principal"),
                                "ChargeAmount": currency_amount(-r.amount, currency),
                            }
                            for r in item_rows
                        ],
                        "ItemFeeAdjustmentList": fees,
                    }
                )
            )
        events.append(
            _clean(
                {
                    "AmazonOrderId": order.amazon_order_id,
                    "SellerOrderId": order.seller_order_id or None,
                    "MarketplaceName": sales_channel(order),
                    "PostedDate": isoformat(rows[0].posted_date),
                    "ShipmentItemAdjustmentList": lines,
                }
            )
        )
    return events
