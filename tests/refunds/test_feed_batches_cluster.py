"""A real qcluster drains a burst of refunds over three Amazon accounts (two merchants) in a
few feeds per account (issue 14): none lost, none refunded twice, and the counts printed.

The suite runs 45 refunds; the bigger run is
``KEELSON_FEED_CLUSTER_REFUNDS=200 pytest tests/refunds/test_feed_batches_cluster.py -s``.
Setup writes the emulated orders through the emulator's own services (placing and shipping
hundreds of orders over HTTP would take minutes); Keelson imports them with its real sync.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from datetime import timedelta

import pytest

from integrations.models import AmazonFeedBatch, AmazonFeedMessage
from integrations.outbox import tasks as outbox_tasks
from orders.models import Order
from refunds import services
from refunds.models import Refund, RefundStatus
from refunds.policy import RequestedLine
from sandbox.amazon import clock
from sandbox.amazon import services as emulator
from sandbox.amazon.models import AmazonSeller
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.refunds.amazon import (
    adjustments_applied_twice,
    fast_feeds,
    feeds_received,
    messages_in,
)
from tests.refunds.conftest import ACTOR
from tests.support.amazon_sync import connect, sync_until_caught_up
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REFUNDS = int(os.environ.get("KEELSON_FEED_CLUSTER_REFUNDS", "45"))
WAIT_SECONDS = 10
MAX_MESSAGES = 25
ITEM = {"quantity": 2, "unit_price": "20.00", "item_tax": "3.20"}


def emulated_shipped_orders(selling_partner_id: str, count: int) -> None:
    seller = AmazonSeller.objects.get(selling_partner_id=selling_partner_id)
    now = clock.virtual_now()
    placed = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    specs = [
        emulator.order_spec_from_request(seller, {"items": [ITEM], "purchase_date": placed}, now)
        for _ in range(count)
    ]
    for order in emulator.create_orders(seller, specs, now):
        items = [
            {"orderItemId": item.order_item_id, "quantity": item.quantity_ordered}
            for item in order.items.all()
        ]
        emulator.confirm_shipment(
            seller,
            order.amazon_order_id,
            {
                "marketplaceId": order.marketplace_id,
                "packageDetail": {
                    "packageReferenceId": f"P-{order.amazon_order_id}",
                    "carrierCode": "UPS",
                    "trackingNumber": "1Z999",
                    "shipDate": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "orderItems": items,
                },
            },
            now,
        )


def test_a_qcluster_drains_a_burst_of_refunds_of_three_accounts_in_few_feeds(make_merchant):
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        fast_feeds(sandbox)
        sellers = [
            sandbox.seller,
            sandbox.control.create_seller(name="Second seller"),
            sandbox.control.create_seller(name="Third seller"),
        ]
        shares = [REFUNDS // 3 + (1 if n < REFUNDS % 3 else 0) for n in range(3)]
        for seller, share in zip(sellers, shares, strict=True):
            emulated_shipped_orders(seller["selling_partner_id"], share)
        sandbox.control.advance_clock(minutes=5)  # Amazon lists changes two minutes old
        first, second = make_merchant(name="Two accounts"), make_merchant(name="One account")
        accounts = [
            connect(first, sandbox, sellers[0]),
            connect(first, sandbox, sellers[1]),
            connect(second, sandbox, sellers[2]),
        ]
        orders = []
        for account in accounts:
            sync_until_caught_up(account)
            with tenant_context(account.merchant_id):
                orders.append(list(Order.objects.filter(amazon_account=account).order_by("id")))
        assert [len(o) for o in orders] == shares

        env = {
            "KEELSON_FEED_BATCH_WAIT_SECONDS": str(WAIT_SECONDS),
            "KEELSON_FEED_BATCH_MAX_MESSAGES": str(MAX_MESSAGES),
            "KEELSON_AMAZON_RATE_LIMITS": "0",
        }
        with qcluster(**env):
            started = time.monotonic()
            refunds = []
            # Interleaved, as refunds of several merchants arrive on a busy day.
            for n in range(max(shares)):
                for account, account_orders in zip(accounts, orders, strict=True):
                    if n < len(account_orders):
                        order = account_orders[n]
                        with tenant_context(account.merchant_id):
                            line = order.lines.get()
                            refunds.append(
                                services.create_refund(
                                    order.pk, actor=ACTOR, lines=[RequestedLine(line.pk, 1)]
                                )
                            )
            created = time.monotonic() - started
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with tenant_context([first.pk, second.pk]):
                    pending = Refund.objects.filter(status=RefundStatus.PENDING).count()
                if not pending:
                    break
                outbox_tasks.sweep()  # the one-minute schedule, every two seconds here
                time.sleep(2)
            drained = time.monotonic() - started

        with tenant_context([first.pk, second.pk]):
            statuses = Counter(Refund.objects.values_list("status", flat=True))
            batches = list(AmazonFeedBatch.objects.order_by("id"))
            members = Counter(AmazonFeedMessage.objects.values_list("outbox_message_id", flat=True))
            joined = {
                account.pk: list(
                    AmazonFeedMessage.objects.filter(batch__account=account).values_list(
                        "created_at", flat=True
                    )
                )
                for account in accounts
            }
        feeds = {a.pk: feeds_received(a.selling_partner_id) for a in accounts}
        duplicated = sum(adjustments_applied_twice(a.selling_partner_id) for a in accounts)
        refunded = sum(
            len(
                {
                    r["adjustment_id"]
                    for r in sandbox.control.order(a.selling_partner_id, o.external_id)["refunds"]
                }
            )
            for a, account_orders in zip(accounts, orders, strict=True)
            for o in account_orders
        )
        print(
            f"\n{len(refunds)} refunds over 3 accounts, qcluster of 2 workers, wait "
            f"{WAIT_SECONDS} s, at most {MAX_MESSAGES} per feed: created in {created:.1f} s, "
            f"drained in {drained:.1f} s"
        )
        spans = {pk: (max(t) - min(t)).total_seconds() for pk, t in joined.items()}
        for account in accounts:
            sizes = [messages_in(f) for f in feeds[account.pk]]
            print(
                f"  account {account.selling_partner_id}: {len(sizes)} feeds, sizes {sizes}, "
                f"messages joined over {spans[account.pk]:.1f} s"
            )
        print(
            f"  refunds {dict(statuses)}, refunded at Amazon {refunded}, lost "
            f"{len(refunds) - refunded}, duplicated {duplicated}, batches {len(batches)}"
        )

        assert statuses == {RefundStatus.SUCCEEDED: len(refunds)}
        assert refunded == len(refunds)  # 0 lost: every order refunded at Amazon, once
        assert duplicated == 0
        assert all(n == 1 for n in members.values())  # a message is in one batch only
        assert sum(b.create_feed_calls for b in batches) == sum(len(f) for f in feeds.values())
        for account, share in zip(accounts, shares, strict=True):
            # Full feeds, plus at most one per wait while messages kept joining, plus the first.
            bound = (
                math.ceil(share / MAX_MESSAGES) + math.ceil(spans[account.pk] / WAIT_SECONDS) + 1
            )
            assert len(feeds[account.pk]) <= bound
            assert sum(messages_in(f) for f in feeds[account.pk]) == share
