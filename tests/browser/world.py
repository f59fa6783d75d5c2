"""The browser tests' data: Northwind Agency with two merchants, their Amazon accounts (one with
a Shopify store), a fulfillment service, an API key, and Amazon orders in the states a merchant
meets every day (fresh, at risk, late, a buyer's cancellation request, Pending, shipped).

Made with the project's own factories and services (``tests.support.orders.create_order``, the
fulfillment and API-key services, the policy sweep that writes the A9 warnings), so the pages
show what they would after a real sync and sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from fulfillment import services as fulfillment_services
from orders.models import ActorType, EventKind, Order, OrderEvent
from orders.services import sweep_merchant
from tenants.models import AccountStatus, AmazonAccount, ApiKey, Merchant, Role, ShopifyStore, User
from tenants.scope import tenant_context
from tenants.services import create_api_key
from tests.support.orders import create_order

PASSWORD = "pw-Keelson-123"  # make_user's default


@dataclass
class World:
    outdoor: Merchant  # Northwind Outdoor: a 3PL, the interesting orders
    harbor: Merchant  # Harbor Home Goods: a Shopify store
    owner: User  # owner of Northwind Agency: sees both merchants
    viewer: User  # read-only on Northwind Outdoor
    api_key: ApiKey  # Northwind Outdoor's
    at_risk: Order  # Unshipped, 24 days old: the A9 warning is out (two more are at risk)
    buyer_cancel: Order  # the buyer asked to cancel
    shipped: Order  # Shipped and paid: refundable
    harbor_order: Order  # Harbor's, Unshipped since this morning


def _amazon_account(merchant: Merchant, name: str, seller_id: str) -> AmazonAccount:
    now = timezone.now()
    with tenant_context(merchant):
        return AmazonAccount.objects.create(
            merchant=merchant,
            name=name,
            selling_partner_id=seller_id,
            marketplace_ids=["ATVPDKIKX0DER"],
            lwa_refresh_token=f"Atzr|{seller_id}",
            status=AccountStatus.ACTIVE,
            connected_at=now - timedelta(days=30),
            sync_cursor=now - timedelta(minutes=3),
        )


def _order(merchant: Merchant, account: AmazonAccount, *, age: timedelta, **fields) -> Order:
    """``lines``: (sku, quantity, the line's price: Amazon's ItemPrice, for all its units[,
    shipped])."""
    purchase = timezone.now() - age
    order = create_order(
        merchant,
        purchase_date=purchase,
        latest_ship_date=purchase + timedelta(days=2),
        amazon_account=account,
        # As the sync sets it (orders.services._initial_financial_status).
        financial_status="pending" if fields.get("status") == "Pending" else "paid",
        ship_service_level="Std US D2D Dom",
        shipping_address={
            "name": fields.get("buyer_name", ""),
            "city": fields.pop("city", "Portland"),
            "state": "OR",
            "country": "US",
        },
        **fields,
    )
    with tenant_context(merchant):
        OrderEvent.objects.create(
            merchant=merchant,
            order=order,
            kind=EventKind.IMPORTED,
            message=f"Order {order.external_id} imported ({order.status}).",
            actor_type=ActorType.AMAZON,
            actor="Amazon",
        )
    return order


def build_world(make_agency, make_merchant, make_user) -> World:
    agency = make_agency(name="Northwind Agency")
    outdoor = make_merchant(agency=agency, name="Northwind Outdoor", time_zone="America/New_York")
    harbor = make_merchant(agency=agency, name="Harbor Home Goods", time_zone="America/Chicago")
    outdoor_account = _amazon_account(outdoor, "Northwind Outdoor US", "A2NWOUTDOOR001")
    harbor_account = _amazon_account(harbor, "Harbor Home Goods US", "A3HARBORHOME01")
    with tenant_context(harbor):
        ShopifyStore.objects.create(
            merchant=harbor,
            shop_domain="harbor-home-goods.myshopify.com",
            access_token="shpat_browser_tests",
            webhook_secret="whsec_browser_tests",
            status=AccountStatus.ACTIVE,
        )
    # Before the orders, so the sweep's notifications reach them (the bell in the header).
    owner = make_user(Role.AGENCY_OWNER, agency=agency, username="northwind.owner")
    viewer = make_user(Role.MERCHANT_VIEWER, merchant=outdoor, username="outdoor.viewer")
    fulfillment_services.create_fulfillment_service(name="Northwind 3PL", merchant=outdoor)
    api_key = create_api_key(
        name="Warehouse sync", scopes=["orders:read", "fulfillments:write"], merchant=outdoor
    ).api_key

    def outdoor_order(lines, *, age, **fields) -> Order:
        order = _order(outdoor, outdoor_account, age=age, lines=lines, **fields)
        if order.status in ("Unshipped", "PartiallyShipped"):
            with tenant_context(outdoor):
                fulfillment_services.prepare_fulfillment_orders(order)
        return order

    day = timedelta(days=1)
    at_risk = outdoor_order(
        (("TENT-2P", 1, "189.00"), ("STAKE-8", 2, "25.00")),
        age=24 * day,
        buyer_name="Dana Whitfield",
        city="Bend",
    )
    outdoor_order(
        (("HAMMOCK", 1, "64.00"),), age=25 * day, buyer_name="Chris Albers", city="Salem"
    )  # at risk too, older
    outdoor_order((("PACK-35L", 1, "129.00"),), age=timedelta(hours=3), buyer_name="Sam Ortiz")
    outdoor_order((("LANTERN", 2, "68.00"),), age=4 * day, buyer_name="Priya Raman")  # late
    buyer_cancel = outdoor_order(
        (("BOTTLE-1L", 2, "48.00"),),
        age=timedelta(hours=20),
        buyer_name="Lee Carter",
        buyer_cancel_requested=True,
        buyer_cancel_requested_at=timezone.now() - timedelta(hours=2),
        buyer_cancel_reason="Ordered the wrong size",
    )
    shipped = outdoor_order(
        (("TENT-2P", 2, "378.00", 2), ("STAKE-8", 4, "50.00", 4)),
        age=6 * day,
        status="Shipped",
        buyer_name="Morgan Lee",
        city="Eugene",
    )
    outdoor_order(
        (("STOVE-MINI", 1, "59.00"),),
        age=timedelta(minutes=10),
        status="Pending",
        buyer_name="Alex Kim",
    )
    for n, days in enumerate((2, 3, 5, 8, 9, 12), start=1):
        outdoor_order(
            (("SOCKS-WOOL", n, f"{18 * n}.00", n),),
            age=days * day,
            status="Shipped",
            buyer_name=f"Repeat buyer {n}",
        )
    harbor_order = _order(
        harbor,
        harbor_account,
        age=timedelta(hours=5),
        lines=(("MUG-SET", 1, "42.00"),),
        buyer_name="Jordan Blake",
    )
    _order(
        harbor,
        harbor_account,
        age=timedelta(days=23, hours=12),
        lines=(("LINEN-SET", 1, "129.00"),),
        buyer_name="Robin Hale",
        city="Madison",
    )  # at risk
    _order(
        harbor,
        harbor_account,
        age=3 * day,
        lines=(("THROW-WOOL", 1, "88.00", 1),),
        status="Shipped",
        buyer_name="Casey Nguyen",
    )
    for merchant in (outdoor, harbor):
        with tenant_context(merchant):
            sweep_merchant(merchant)  # the A9 warnings and late flags, as every minute
    return World(
        outdoor=outdoor,
        harbor=harbor,
        owner=owner,
        viewer=viewer,
        api_key=api_key,
        at_risk=at_risk,
        buyer_cancel=buyer_cancel,
        shipped=shipped,
        harbor_order=harbor_order,
    )
