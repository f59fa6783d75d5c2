"""Helpers for the Shopify mirror tests: the SP-API emulator and the Shopify emulator running
side by side, a merchant with an Amazon account and a connected store, Amazon orders placed
and imported as the sync does (so the order-change announcement runs), the outbox delivered
with its real delivery (``deliver_due``), and what the emulated store holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import Order
from sandbox.amazon.testing import running_amazon_sandbox
from sandbox.shopify.models import ShopifyOrder as EmulatedOrder
from sandbox.shopify.testing import running_shopify_sandbox
from tenants.models import AmazonAccount, Merchant, ShopifyStore
from tenants.scope import tenant_context
from tests.refunds.amazon import connect, import_orders, place, ship

ITEM = {
    "quantity": 2,
    "unit_price": "20.00",
    "seller_sku": "TENT-2P",
    "item_tax": "3.20",
    "shipping_price": "5.00",
    "shipping_tax": "0.00",
}


@dataclass
class Mirror:
    amazon: object  # RunningAmazonSandbox
    shopify: object  # RunningShopifySandbox
    merchant: Merchant
    account: AmazonAccount
    store: ShopifyStore | None

    @property
    def domain(self) -> str:
        return self.shopify.store["domain"]

    def place(self, items=(ITEM,), *, shipped: bool = False, **fields) -> Order:
        """An Amazon order placed (Unshipped), optionally shipped on Amazon, and imported."""
        amazon_id = place(self.amazon, self.amazon.seller, list(items), **fields)
        if shipped:
            ship(self.amazon, self.account, amazon_id)
        (order,) = import_orders(self.account, amazon_id)
        return order

    def reimport(self, order: Order) -> Order:
        (again,) = import_orders(self.account, order.external_id)
        return again

    def fresh(self, obj):
        with tenant_context(self.merchant):
            obj.refresh_from_db()
        return obj

    def messages(self, kind: str | None = None) -> list[OutboxMessage]:
        with tenant_context(self.merchant):
            qs = OutboxMessage.objects.order_by("id")
            if kind:
                qs = qs.filter(kind=kind)
            return list(qs)

    def deliver(self, *, rounds: int = 20, kinds: tuple[str, ...] | None = None) -> None:
        """Deliver every due message with the outbox's real delivery, making backed-off ones
        due at once (the test's clock), until nothing is pending."""
        with tenant_context(self.merchant):
            for _ in range(rounds):
                outbox.deliver_due()
                pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
                if kinds:
                    pending = pending.filter(kind__in=kinds)
                if not pending.exists():
                    return
                pending.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    def deliver_once(self) -> None:
        with tenant_context(self.merchant):
            OutboxMessage.objects.filter(status=OutboxStatus.PENDING).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1), lease_until=None
            )
            outbox.deliver_due()

    def store_orders(self) -> list[EmulatedOrder]:
        """The orders in the emulated store."""
        return list(
            EmulatedOrder.objects.filter(store__domain=self.domain)
            .order_by("id")
            .prefetch_related("line_items", "transactions")
        )


def connect_store(merchant: Merchant, shopify, **fields) -> ShopifyStore:
    store = shopify.store
    with tenant_context(merchant):
        return ShopifyStore.objects.create(
            merchant=merchant,
            shop_domain=store["domain"],
            access_token=store["access_token"],
            api_version=store["api_version"],
            endpoint_override=shopify.base_url,
            webhook_secret=store["client_secret"],
            **fields,
        )


@contextmanager
def running_mirror(
    make_merchant, *, with_store: bool = True, throttling: bool = False, **store_fields
) -> Iterator[Mirror]:
    with (
        running_amazon_sandbox(rate_limits=False) as amazon,
        running_shopify_sandbox(throttling=throttling) as shopify,
    ):
        amazon.control.set_settings(feed_queue_seconds=0, feed_processing_seconds=0)
        merchant = make_merchant(name="Mirrored merchant")
        account = connect(merchant, amazon.seller)
        store = connect_store(merchant, shopify, **store_fields) if with_store else None
        yield Mirror(amazon, shopify, merchant, account, store)
