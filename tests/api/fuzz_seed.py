"""The data the API fuzzing (tests/api/test_fuzz.py) works on: a merchant with orders in every
state an endpoint acts on, its own fulfillment service with fulfillment orders in every request
state, refunds and a cancellation; and another agency's merchant with the same, whose objects
the keys under test must never reach.

Everything is made through the use cases (the services), as the portal and the API make it, so
the rows are the ones production has: lines, fulfillment orders, timeline events, outbox rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from fulfillment import services as fulfillment
from fulfillment.models import FulfillmentOrder
from orders.models import Order
from refunds import services as refunds
from refunds.policy import RequestedLine
from tenants.models import Agency, AmazonAccount, Merchant
from tenants.scope import tenant_context
from tenants.services import create_api_key
from tests.support.api import ALL_SCOPES
from tests.support.orders import create_order

_n = itertools.count(1)
MERCHANT_SIDE = fulfillment.Actor(fulfillment.Side.MERCHANT, "Fuzz seed", "user")
REFUNDER = refunds.Actor("user", "Fuzz seed")
TRACKING = fulfillment.ShipmentInput(tracking_number="1Z999AA10123456784", carrier="UPS")
REQUEST_STATES = ("unfulfilled", "requested", "accepted", "cancellation_requested")


@dataclass
class Tenant:
    merchant: Merchant
    merchant_key: str
    service_key: str
    orders: dict[str, Order] = field(default_factory=dict)
    fulfillment_orders: dict[str, FulfillmentOrder] = field(default_factory=dict)
    refund_ids: list[int] = field(default_factory=list)


def _order(merchant: Merchant, account: AmazonAccount, lines, **fields) -> Order:
    fields.setdefault("amazon_account", account)
    return create_order(merchant, lines, **fields)


def seed_tenant(name: str, newest: str = "unfulfilled") -> Tenant:
    """One agency's merchant with an Amazon account, a fulfillment service (its own, the
    default location), a merchant key with every scope and the service's key, and:

    - ``unfulfilled``: Unshipped, two lines, its fulfillment order not yet requested;
    - ``requested``: Unshipped, the request submitted (the service may accept or reject it);
    - ``accepted``: Unshipped, the request accepted (the service may ship; the merchant may ask
      to cancel);
    - ``cancellation_requested``: accepted, then asked to cancel (the service may answer);
    - ``shipped``: Shipped and paid, two lines, a refund of one unit already made;
    - ``fulfilled``: shipped through Keelson (a fulfillment with tracking);
    - ``cancelled``: partly cancelled by the merchant (a cancellation with its refund);
    - ``pending``: Pending (Amazon has not confirmed payment: most actions are refused).

    The order in the request state ``newest`` is made last (the first of every list).
    """
    n = next(_n)
    agency = Agency.objects.create(name=f"{name} agency", slug=f"fuzz-agency-{n}")
    merchant = Merchant.objects.create(agency=agency, name=name, slug=f"fuzz-merchant-{n}")
    with tenant_context(merchant):
        account = AmazonAccount.objects.create(
            merchant=merchant,
            selling_partner_id=f"AFUZZ{n:08d}",
            marketplace_ids=["ATVPDKIKX0DER"],
            lwa_refresh_token=f"Atzr|fuzz-{n}",
        )
    merchant_key = create_api_key(name=f"{name} key", scopes=ALL_SCOPES, merchant=merchant).raw_key
    service = fulfillment.create_fulfillment_service(name=f"{name} 3PL", merchant=merchant)
    tenant = Tenant(merchant, merchant_key, service.api_key)
    two_lines = (("SKU-A", 2, "20.00"), ("SKU-B", 1, "15.50"))
    with tenant_context(merchant):
        tenant.orders["pending"] = _order(merchant, account, two_lines, status="Pending")

        shipped = _order(
            merchant,
            account,
            (("SKU-A", 2, "20.00", 2), ("SKU-B", 1, "15.50", 1)),
            status="Shipped",
            financial_status="paid",
        )
        first_line = shipped.lines.order_by("id").first()
        refund = refunds.create_refund(
            shipped.pk, actor=REFUNDER, lines=[RequestedLine(first_line.pk, 1)]
        )
        tenant.orders["shipped"] = shipped
        tenant.refund_ids.append(refund.pk)

        fulfilled = _order(merchant, account, two_lines)
        fulfillment.prepare_fulfillment_orders(fulfilled)
        fulfillment.fulfil_order(fulfilled.pk, actor=MERCHANT_SIDE, lines=None, shipment=TRACKING)
        tenant.orders["fulfilled"] = Order.objects.get(pk=fulfilled.pk)

        cancelled = _order(merchant, account, two_lines)
        cancel_line = cancelled.lines.order_by("id").last()
        cancellation = refunds.cancel_order(
            cancelled.pk,
            actor=REFUNDER,
            reason="NoInventory",
            refund=Decimal("15.50"),
            lines=[cancel_line.pk],
        )
        tenant.orders["cancelled"] = cancelled
        tenant.refund_ids.append(cancellation.pk)

        # Newest last: lists are newest first, and a stateful scenario goes on from the first
        # item of a list (portal/api/links.py), so `newest` is where the chains start.
        states = [state for state in REQUEST_STATES if state != newest] + [newest]
        for state in states:
            order = _order(merchant, account, two_lines)
            (fo,) = fulfillment.prepare_fulfillment_orders(order)
            if state != "unfulfilled":
                fulfillment.submit_request(fo, actor=MERCHANT_SIDE, note="Please ship")
            if state in ("accepted", "cancellation_requested"):
                fulfillment.accept_request(fo, actor=fulfillment.Actor.service(service.service))
            if state == "cancellation_requested":
                fulfillment.cancel_request(fo, actor=MERCHANT_SIDE, note="Buyer moved")
            tenant.orders[state] = order
            tenant.fulfillment_orders[state] = FulfillmentOrder.objects.get(pk=fo.pk)
    return tenant
