"""The demo's story, bounded: the Northwind merchants' Amazon accounts in the emulator (Amazon.com
in USD, Amazon.se in SEK, Amazon.sg in SGD), synced for real, show every state the story tells
(shipped and refunded in Seller Central, a few days from Amazon's deadline, buyers asking to
cancel), and each merchant's admin then works a few orders through the portal's use cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import tasks as order_tasks
from orders.models import AmazonOrderStatus, Order, ShipmentConfirmation
from portal import demo_story
from portal.demo_amazon import AT_RISK_AGES, connect_demo_amazon_accounts
from portal.demo_data import seed
from refunds.models import Refund
from refunds.tasks import check_external_refunds
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NORTHWIND = {
    "northwind-outdoor": ("America/New_York", "USD"),
    "hamn-och-hem": ("Europe/Stockholm", "SEK"),
    "siam-tea-house": ("Asia/Bangkok", "SGD"),  # Amazon.sg charges in SGD; THB is the default
}


def sync(merchant: Merchant) -> None:
    with tenant_context(merchant):
        account = AmazonAccount.objects.get()
    report = order_tasks.sync_amazon_account(account.pk, merchant.pk)
    assert report, report


@pytest.mark.slow
def test_the_three_merchants_story_in_their_currencies_and_time_zones():
    seed()
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        connect_demo_amazon_accounts(sandbox.base_url, orders_per_seller=12)
        for slug, (time_zone, currency) in NORTHWIND.items():
            merchant = Merchant.objects.get(slug=slug)
            assert merchant.time_zone == time_zone
            sync(merchant)
            assert demo_story.backfill_finished(merchant), slug
            with tenant_context(merchant):
                orders = Order.objects.filter(merchant=merchant)
                assert {o.currency for o in orders} == {currency}, slug
                shipped = list(
                    orders.filter(status=AmazonOrderStatus.SHIPPED).values_list("pk", flat=True)
                )
                soon = timezone.now() + timedelta(days=merchant.deadline_warning_days)
                # (an old order a buyer asked to cancel may be near its deadline too)
                at_risk = orders.filter(
                    status=AmazonOrderStatus.UNSHIPPED,
                    confirm_by__lte=soon,
                    buyer_cancel_requested=False,
                ).count()
                buyer_cancel = orders.filter(buyer_cancel_requested=True).count()
            assert shipped, f"{slug}: the merchant shipped older orders in Seller Central"
            assert at_risk == len(AT_RISK_AGES), slug
            assert buyer_cancel >= 2, slug

            # Keelson finds the two refunds made in Seller Central in Amazon's finances (R6).
            assert check_external_refunds(merchant.pk, shipped) == 2, slug

            played = demo_story.play(slug)

            assert len(played.shipped) == demo_story.SHIPPED, played
            assert len(played.cancelled) == 1, played
            with tenant_context(merchant):
                confirmed = Order.objects.filter(
                    external_id__in=played.shipped, shipment_confirmation=ShipmentConfirmation.SENT
                )
                assert confirmed.count() == demo_story.SHIPPED
                cancelled = Order.objects.get(external_id=played.cancelled[0])
                assert Refund.objects.filter(order=cancelled).exists()  # R7
            # Only Northwind Outdoor has a fulfillment service (the demo's bot).
            expected = demo_story.REQUESTED if slug == "northwind-outdoor" else 0
            assert len(played.requested) == expected, played

            # Played once: a merchant whose admin acted already is left alone.
            assert demo_story.play(slug).skipped == "already played"
