"""The demo's Amazon: each demo merchant's seller account lives in the SP-API emulator, with a
month of generated orders in its marketplace's currency (USD on Amazon.com, SEK on Amazon.se,
SGD on Amazon.sg), and is connected to Keelson like a real one (only the endpoints differ).
Besides the generated month, what a merchant's morning looks like happens on Amazon's side
(``amazon_story``): orders a few days from Amazon's automatic cancellation (A8, A9), buyers'
cancellation requests (B1) and refunds made in Seller Central (R6). Idempotent: an existing
emulator seller keeps its orders; reconnecting keeps the sync's cursor."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from orders.sync import connect_amazon_account
from portal.demo_data import AGENCIES, SE, SG, US, DemoMerchant
from sandbox.amazon.control import AmazonSandboxClient, SandboxControlError
from tenants.models import Merchant
from tenants.scope import tenant_context

DEMO_BACKFILL_DAYS = 30
DEMO_ORDERS_PER_SELLER = 40
DEMO_RECENT_ORDERS = 6
# The generated month: more Pending, declined and buyer-cancelled orders than a real month has,
# so every state shows up in 40 orders.
DEMO_GENERATION = {
    "stays_pending_share": 0.08,
    "payment_declined_share": 0.05,
    "buyer_cancel_share": 0.08,
    "afn_share": 0.15,
}
# Unshipped orders this many days old: Amazon cancels them 30 days after the order date (A8),
# so they are 4 and 2 days from the deadline, inside the week's warning (A9).
AT_RISK_AGES = (26, 28)
# Orders placed longer ago than this the merchant had shipped in Seller Central before Keelson.
SHIPPED_AFTER_DAYS = 3
# The carrier each marketplace's demo merchant ships with.
CARRIERS = {US: "UPS", SE: "PostNord", SG: "Ninja Van"}


def demo_seller_ids() -> list[str]:
    return [spec.seller_id for agency in AGENCIES for spec in agency.merchants]


def connect_demo_amazon_accounts(
    sandbox_url: str, *, orders_per_seller: int = DEMO_ORDERS_PER_SELLER
) -> list[str]:
    """Create the demo sellers in the emulator (with generated orders) and connect the demo
    merchants' Amazon accounts to them. Returns the merchants connected."""

    control = AmazonSandboxClient(sandbox_url)
    connected = []
    for agency in AGENCIES:
        for spec in agency.merchants:
            try:
                seller = control.seller(spec.seller_id)
            except SandboxControlError as exc:
                if exc.status != 404:
                    raise
                seller = control.create_seller(
                    selling_partner_id=spec.seller_id,
                    name=spec.name,
                    marketplace_ids=[spec.marketplace],
                    client_id="keelson-demo-lwa-client",
                    client_secret="keelson-demo-lwa-secret",  # noqa: S106 (a demo sandbox seller)
                    refresh_token=f"Atzr|keelson-demo-{spec.slug}",
                )
                control.generate_orders(
                    spec.seller_id,
                    orders_per_seller,
                    seed=spec.slug,
                    days=DEMO_BACKFILL_DAYS,
                    **DEMO_GENERATION,
                )
                # and the last two days busier, as after a weekend
                control.generate_orders(
                    spec.seller_id,
                    DEMO_RECENT_ORDERS,
                    seed=f"{spec.slug}-recent",
                    days=2,
                    **DEMO_GENERATION,
                )
                amazon_story(control, spec)
            merchant = Merchant.objects.get(slug=spec.slug)
            with tenant_context(merchant):
                connect_amazon_account(
                    merchant,
                    selling_partner_id=spec.seller_id,
                    marketplace_ids=[spec.marketplace],
                    refresh_token=seller["refresh_token"],
                    region=spec.region,
                    name=f"{spec.name} on Amazon",
                    lwa_client_id=seller["client_id"],
                    lwa_client_secret=seller["client_secret"],
                    endpoint_override=seller["endpoint"],
                    lwa_endpoint_override=seller["lwa_token_url"],
                    backfill_days=DEMO_BACKFILL_DAYS,
                )
            connected.append(spec.name)
    return connected


def amazon_story(control: AmazonSandboxClient, spec: DemoMerchant) -> dict[str, list[str]]:
    """What happened on Amazon before the merchant connected Keelson, on the emulator's clock:
    the merchant confirmed its orders older than a few days in Seller Central (a day after each
    was placed), and refunded two of them there after returns (R6: Keelson finds them in
    Amazon's finances, and refuses another refund of them); two orders were left Unshipped and
    are now a few days from Amazon's deadline (A8, A9); two buyers asked to cancel (B1).
    Returns the Amazon order ids by what happened to them."""

    now = datetime.fromisoformat(control.now().replace("Z", "+00:00"))
    seller = spec.seller_id
    carrier = CARRIERS.get(spec.marketplace, "DHL")
    story: dict[str, list[str]] = {
        "shipped": [],
        "refunded": [],
        "at_risk": [],
        "buyer_cancel": [],
    }
    placed_before = (now - timedelta(days=SHIPPED_AFTER_DAYS)).isoformat()
    story["shipped"] = control.ship_older_in_seller_central(seller, placed_before, carrier=carrier)
    # Two buyers returned what they got; refunded in Seller Central a day before Keelson came.
    refunded_at = (now - timedelta(days=1)).isoformat()
    for n, amazon_order_id in enumerate(story["shipped"][-2:]):
        if n == 0:
            control.refund_in_seller_central(seller, amazon_order_id, posted_date=refunded_at)
        else:  # a partial return: half the first item's price back
            item = control.order(seller, amazon_order_id)["items"][0]
            half = (Decimal(item["item_price"]) / 2).quantize(Decimal("0.01"), ROUND_DOWN)
            control.refund_in_seller_central(
                seller,
                amazon_order_id,
                items=[
                    {"order_item_id": item["order_item_id"], "components": {"Principal": str(half)}}
                ],
                posted_date=refunded_at,
            )
        story["refunded"].append(amazon_order_id)

    def place(key: str, days_ago: float, **fields) -> dict:
        when = (now - timedelta(days=days_ago)).isoformat()
        return control.place_order(seller, purchase_date=when, seed=f"{spec.slug}-{key}", **fields)

    for days in AT_RISK_AGES:
        order = place(f"at-risk-{days}", days, items=[{"quantity": 1}, {"quantity": 2}])
        story["at_risk"].append(order["amazon_order_id"])
    reasons = ("Order placed by mistake.", "Delivery time is too long.")
    for n, reason in enumerate(reasons):
        # placed yesterday, the buyer asked a few hours later
        order = place(
            f"buyer-cancel-{n}",
            1 + n / 4,
            items=[{"quantity": 1}],
            buyer_cancel_after_minutes=180 + 60 * n,
            buyer_cancel_reason=reason,
        )
        story["buyer_cancel"].append(order["amazon_order_id"])
    return story
