"""Realistic orders from a seeded random generator: the same seed (and the same options and
time window) gives the same orders, byte for byte."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.amazon import marketplaces
from sandbox.amazon.marketplaces import Marketplace, quantize

# (ASIN, SKU, title, price in USD)
PRODUCTS: tuple[tuple[str, str, str, str], ...] = (
    ("B0C7QK2M4N", "MUG-CER-350-BLU", "Ceramic Coffee Mug 350 ml, Blue", "14.99"),
    ("B0B5ZD1W8R", "TEA-SEN-100G", "Organic Sencha Green Tea, 100 g", "11.50"),
    ("B09XK4T2LM", "BTL-STL-750", "Insulated Steel Water Bottle 750 ml", "24.95"),
    ("B0CHX8P3QA", "NB-A5-DOT-BLK", "A5 Dotted Notebook, Black Hardcover", "9.99"),
    ("B0D2F6J9VE", "PEN-GEL-12PK", "Gel Pens, Pack of 12", "7.49"),
    ("B08L5M3N7K", "LAMP-LED-DESK", "LED Desk Lamp with USB Charging Port", "32.00"),
    ("B0BT9R4S1C", "CBL-USBC-2M", "USB-C Cable 2 m, Braided", "12.99"),
    ("B07Y8H6G5F", "YOGA-MAT-6MM", "Non-Slip Yoga Mat 6 mm", "29.90"),
    ("B0CK3L7P2D", "BAG-TOTE-CAN", "Canvas Tote Bag, Natural", "16.00"),
    ("B0953W1X4Z", "SOCK-WOOL-3PK", "Merino Wool Socks, 3 Pairs", "21.99"),
    ("B0C1V5B8N6", "SPAT-SIL-SET", "Silicone Spatula Set, 4 Pieces", "18.49"),
    ("B0DF2G4H8J", "CAND-SOY-LAV", "Lavender Soy Candle 200 g", "19.00"),
    ("B08T6Y2U9I", "PUZ-1000-MAP", "1000-Piece Jigsaw Puzzle, World Map", "22.50"),
    ("B0B8N4M2K1", "HDPH-WRD-BLK", "Wired Headphones with Microphone", "27.99"),
    ("B0CQ7W3E5R", "PLNT-POT-15CM", "Terracotta Plant Pot 15 cm", "8.95"),
    ("B09M1N6B3V", "SCRF-CASH-GRY", "Cashmere-Blend Scarf, Grey", "45.00"),
    ("B0D5T8Y1U4", "KNF-CHEF-20CM", "Chef's Knife 20 cm, Stainless Steel", "59.00"),
    ("B07R2E9W6Q", "BOOK-COOK-VEG", "The Vegetable Cookbook (Hardcover)", "26.00"),
    ("B0BJ4K7L1Z", "GLV-GARD-M", "Gardening Gloves, Size M", "10.99"),
    ("B0C9X2C5V8", "TOWL-COT-2PK", "Cotton Bath Towels, 2 Pack", "34.99"),
)

BUYER_CANCEL_REASONS = (
    "Found cheaper somewhere else.",
    "Order placed by mistake.",
    "No longer needed.",
    "Delivery time is too long.",
)


@dataclass(frozen=True)
class GenerationOptions:
    count: int = 10
    seed: str = "0"
    marketplace_ids: tuple[str, ...] = ()
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    afn_share: float = 0.1
    business_share: float = 0.1
    prime_share: float = 0.3
    multi_item_share: float = 0.3
    stays_pending_share: float = 0.05
    payment_declined_share: float = 0.02
    buyer_cancel_share: float = 0.05


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def amazon_order_id(rng: random.Random, market: Marketplace) -> str:
    return f"{rng.choice(market.order_prefixes)}-{digits(rng, 7)}-{digits(rng, 7)}"


def local_price(usd: Decimal, market: Marketplace) -> Decimal:
    price = usd * market.price_scale
    if market.exponent == 0:
        return (price / 10).quantize(Decimal(1)) * 10  # yen prices end in 0
    return quantize(price, market.currency)


def tax_for(amount: Decimal, market: Marketplace) -> Decimal:
    """The tax in ``amount`` (tax-inclusive markets) or on top of it (US-style)."""
    if market.tax_included:
        return quantize(amount - amount / (1 + market.tax_rate), market.currency)
    return quantize(amount * market.tax_rate, market.currency)


def buyer(rng: random.Random, market: Marketplace, business: bool) -> dict[str, Any]:
    first = rng.choice(market.first_names)
    last = rng.choice(market.last_names)
    place = rng.choice(market.places)
    street = rng.choice(market.streets)
    number = rng.randint(1, 250)
    line1 = street if market.country == "JP" else f"{number} {street}"
    if market.country in ("DE", "FR", "IT", "ES", "SE", "MX"):
        line1 = f"{street} {number}"
    address = {
        "Name": f"{first} {last}",
        "AddressLine1": line1,
        "City": place.city,
        "StateOrRegion": place.region,
        "PostalCode": place.postal_code,
        "CountryCode": market.country,
        "Phone": f"{market.phone_prefix}{digits(rng, 4)}",
        "AddressType": "Commercial" if business else "Residential",
    }
    company = f"{last} {rng.choice(['Trading', 'Supplies', 'Studio', 'Holdings'])}"
    if business:
        address["CompanyName"] = company
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(15))
    domain = market.name.lower().replace("amazon.", "")
    return {
        "buyer_name": f"{first} {last}",
        "buyer_email": f"{token}@marketplace.amazon.{domain}",
        "buyer_company_name": company if business else "",
        "purchase_order_number": f"PO-{digits(rng, 6)}" if business else "",
        "shipping_address": address,
    }


def order_spec(
    rng: random.Random,
    market: Marketplace,
    purchase: datetime,
    options: GenerationOptions,
    auto_cancel_days: int,
) -> dict[str, Any]:
    afn = rng.random() < options.afn_share
    business = rng.random() < options.business_share
    prime = afn or rng.random() < options.prime_share
    n_items = rng.randint(2, 3) if rng.random() < options.multi_item_share else 1
    products = rng.sample(PRODUCTS, n_items)
    items = []
    for position, (asin, sku, title, usd) in enumerate(products):
        quantity = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        unit = local_price(Decimal(usd), market)
        price = unit * quantity
        shipping = Decimal(0)
        if not afn and not prime and position == 0:
            shipping = local_price(Decimal("4.99"), market)
        items.append(
            {
                "order_item_id": digits(rng, 14),
                "position": position,
                "asin": asin,
                "seller_sku": sku,
                "title": title,
                "quantity_ordered": quantity,
                "item_price": price,
                "item_tax": tax_for(price, market),
                "shipping_price": shipping,
                "shipping_tax": tax_for(shipping, market),
                "promotion_discount": Decimal(0),
                "is_gift": rng.random() < 0.05,
            }
        )
    handling = rng.randint(1, 3)
    transit = rng.randint(2, 5) if not prime else 2
    latest_ship = purchase + timedelta(days=handling)
    roll = rng.random()
    if roll < options.payment_declined_share:
        pending_until = purchase + timedelta(minutes=rng.randint(30, 3 * 24 * 60))
        outcome = "Canceled"
    elif roll < options.payment_declined_share + options.stays_pending_share:
        pending_until = purchase + timedelta(minutes=rng.randint(120, 21 * 24 * 60))
        outcome = "Unshipped" if rng.random() < 0.8 else "Canceled"
    else:
        pending_until = purchase + timedelta(minutes=30)
        outcome = "Unshipped"
    buyer_cancel_at = None
    reason = ""
    if rng.random() < options.buyer_cancel_share:
        buyer_cancel_at = pending_until + timedelta(minutes=rng.randint(10, 2 * 24 * 60))
        reason = rng.choice(BUYER_CANCEL_REASONS)
    payment_method = "Other"
    if market.country == "JP" and rng.random() < 0.05:
        payment_method = rng.choice(["COD", "CVS"])
    category = "Expedited" if prime else "Standard"
    spec: dict[str, Any] = {
        "amazon_order_id": amazon_order_id(rng, market),
        "marketplace_id": market.marketplace_id,
        "currency": market.currency,
        "fulfillment_channel": "AFN" if afn else "MFN",
        "purchase_date": purchase,
        "ship_service_level": f"{'Exp' if prime else 'Std'} {market.country} D2D Dom",
        "shipment_service_level_category": category,
        "payment_method": payment_method,
        "payment_method_details": ["Standard"] if payment_method == "Other" else [payment_method],
        "is_business_order": business,
        "is_prime": prime,
        "is_premium_order": False,
        "earliest_ship_date": purchase,
        "latest_ship_date": latest_ship,
        "earliest_delivery_date": latest_ship + timedelta(days=1),
        "latest_delivery_date": latest_ship + timedelta(days=transit),
        "pending_until": pending_until,
        "pending_outcome": outcome,
        "buyer_cancel_at": buyer_cancel_at,
        "buyer_cancel_reason": reason,
        "afn_ship_at": pending_until + timedelta(hours=rng.randint(4, 36)) if afn else None,
        "auto_cancel_at": None if afn else purchase + timedelta(days=auto_cancel_days),
        "items": items,
    }
    spec.update(buyer(rng, market, business))
    return spec


def generate(
    options: GenerationOptions,
    *,
    marketplace_ids: list[str],
    now: datetime,
    auto_cancel_days: int = 30,
) -> list[dict[str, Any]]:
    """Order specs (plain data) for ``services.create_orders``."""
    rng = random.Random(f"keelson-sandbox:{options.seed}")
    placed_to = options.placed_to or now
    placed_from = options.placed_from or placed_to - timedelta(days=1)
    if placed_from > placed_to:
        raise ValueError("placed_from is after placed_to")
    span = int((placed_to - placed_from).total_seconds())
    offsets = sorted(rng.randint(0, span) for _ in range(options.count))
    markets = [marketplaces.MARKETPLACES[m] for m in marketplace_ids]
    specs = []
    for offset in offsets:
        market = rng.choice(markets)
        purchase = placed_from + timedelta(seconds=offset)
        specs.append(order_spec(rng, market, purchase, options, auto_cancel_days))
    return specs
