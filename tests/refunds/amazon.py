"""Helpers for the refunds tests against the SP-API emulator: a merchant's account connected
to one of its sellers, orders placed, shipped (confirmShipment through our gateway) and
imported as the sync does, the outbox delivered, and what the emulator received."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

from django.db import transaction
from django.utils import timezone

from integrations.amazon.gateway import AmazonCredentials, AmazonGateway, parse_datetime
from integrations.amazon.ratelimit import RateLimiter
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import Order
from orders.services import after_amazon_upsert, upsert_amazon_orders
from sandbox.amazon.models import AmazonFeed
from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context


def connect(merchant: Merchant, seller: dict, name: str = "Emulated seller") -> AmazonAccount:
    with tenant_context(merchant):
        return AmazonAccount.objects.create(
            merchant=merchant,
            name=name,
            selling_partner_id=seller["selling_partner_id"],
            region="NA",
            marketplace_ids=seller["marketplace_ids"],
            lwa_refresh_token=seller["refresh_token"],
            lwa_client_id=seller["client_id"],
            lwa_client_secret=seller["client_secret"],
            endpoint_override=seller["endpoint"],
            lwa_endpoint_override=seller["lwa_token_url"],
        )


def gateway(account: AmazonAccount) -> AmazonGateway:
    return AmazonGateway(
        AmazonCredentials.from_account(account), limiter=RateLimiter(enabled=False)
    )


def place(sandbox, seller: dict, items: list[dict], **fields) -> str:
    """An order placed an hour ago (virtual time): Unshipped by now. Returns its id."""
    now = parse_datetime(sandbox.control.now())
    fields.setdefault("purchase_date", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return sandbox.control.place_order(seller["selling_partner_id"], items=items, **fields)[
        "amazon_order_id"
    ]


def ship(sandbox, account: AmazonAccount, amazon_order_id: str) -> None:
    """Confirm every open item shipped on Amazon (as the merchant's fulfillment would)."""
    state = sandbox.control.order(account.selling_partner_id, amazon_order_id)
    items = [
        (i["order_item_id"], i["quantity_ordered"] - i["quantity_shipped"] - i["quantity_canceled"])
        for i in state["items"]
    ]
    now = parse_datetime(sandbox.control.now()).astimezone(UTC)
    gateway(account).confirm_shipment(
        amazon_order_id,
        marketplace_id=state["marketplace_id"],
        package_reference_id=f"PKG-{amazon_order_id}",
        carrier_code="UPS",
        tracking_number="1Z999AA10123456784",
        ship_date=now - timedelta(minutes=5),
        items=[(item_id, qty) for item_id, qty in items if qty > 0],
    )


def import_orders(account: AmazonAccount, *amazon_order_ids: str) -> list[Order]:
    """getOrder and getOrderItems through our gateway, then the upsert and its hook."""
    gw = gateway(account)
    records = [replace(gw.get_order(i), items=gw.get_order_items(i)) for i in amazon_order_ids]
    merchant = Merchant.objects.get(pk=account.merchant_id)
    with tenant_context(merchant), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=records)
        after_amazon_upsert(merchant, result)
    with tenant_context(merchant):
        by_id = {o.external_id: o for o in Order.objects.filter(external_id__in=amazon_order_ids)}
    return [by_id[i] for i in amazon_order_ids]


def deliver_all(merchant, rounds: int = 20) -> None:
    """Deliver every due message, making backed-off ones due at once (the test's clock)."""
    with tenant_context(merchant):
        for _ in range(rounds):
            outbox.deliver_due()
            pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
            if not pending.exists():
                return
            pending.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def deliver_once(merchant) -> None:
    with tenant_context(merchant):
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        outbox.deliver_due()


def feeds_received(seller_id: str, feed_type: str | None = None) -> list[AmazonFeed]:
    """The emulator's feed log for a seller (what Amazon was asked to do)."""
    qs = AmazonFeed.objects.filter(seller__selling_partner_id=seller_id).order_by("id")
    if feed_type:
        qs = qs.filter(feed_type=feed_type)
    return list(qs.select_related("input_document"))


def fast_feeds(sandbox) -> None:
    """Feeds are processed as soon as they are read (virtual time still applies)."""
    sandbox.control.set_settings(feed_queue_seconds=0, feed_processing_seconds=0)


def adjustments_applied_twice(seller_id: str) -> int:
    """How many of our adjusted items the emulator applied more than once (a double refund):
    rows with the same MerchantAdjustmentItemID and component in two adjustments."""
    from django.db.models import Count

    from sandbox.amazon.models import AmazonAdjustment

    return (
        AmazonAdjustment.objects.filter(order__seller__selling_partner_id=seller_id)
        .exclude(merchant_adjustment_item_id="")
        .values("merchant_adjustment_item_id", "component")
        .annotate(n=Count("adjustment_id", distinct=True))
        .filter(n__gt=1)
        .count()
    )


def messages_in(feed: AmazonFeed) -> int:
    return bytes(feed.input_document.content).decode().count("<Message>")
