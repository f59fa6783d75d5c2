"""Benchmark of Amazon feeds per refunds (issue 14): how many createFeed calls a burst of
refunds of one Amazon account costs, one feed per refund (the behaviour before batching, run
as batches of one) beside batched feeds, in one run against the SP-API emulator.

    .venv/bin/python bench/feeds.py                   # 1,000 refunds each way (~10 minutes)
    .venv/bin/python bench/feeds.py --refunds 200     # a quicker look
    .venv/bin/python bench/feeds.py --keep            # keep the bench database afterwards

It works in a database of its own, ``keelson_bench_feeds`` (``--database``), on the same
PostgreSQL server as the dev database (``DATABASE_URL``, else the embedded server): created,
migrated, and dropped at the end. The emulator runs in this process (a server thread) with its
rate limits off, and so is our limiter (``KEELSON_AMAZON_RATE_LIMITS=0``): the figures count
calls; what they cost under Amazon's usage plan is computed from them (createFeed: 0.0083
requests per second, burst 15; getFeedDocument: 0.0222, burst 10).

Each run: ``--refunds`` shipped orders are written into an emulated seller (the emulator's own
services; not timed), Keelson imports them with its real sync, one refund per order is
created (``refunds.services.create_refund``: the refund, its lines and its outbox message in
one transaction), then one worker drains the outbox as the django-q2 task does (``deliver_due``
under the merchant's scope), until every refund is settled. Counted at the emulator: feeds
(createFeed calls) and report downloads; also refunds applied twice (must be 0).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import drop_database, prepare_database

CREATE_FEED = (0.0083, 15)
GET_FEED_DOCUMENT = (0.0222, 10)
ITEM = {"quantity": 2, "unit_price": "20.00", "item_tax": "3.20"}


def budget_hours(calls: int, limit: tuple[float, int]) -> float:
    """Hours of Amazon's budget ``calls`` requests need beyond the burst, at the rate."""
    rate, burst = limit
    return max(calls - burst, 0) / rate / 3600


def seed_orders(selling_partner_id: str, count: int) -> None:
    from sandbox.amazon import clock
    from sandbox.amazon import services as emulator
    from sandbox.amazon.models import AmazonSeller

    seller = AmazonSeller.objects.get(selling_partner_id=selling_partner_id)
    now = clock.virtual_now()
    placed = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shipped = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    specs = [
        emulator.order_spec_from_request(seller, {"items": [ITEM], "purchase_date": placed}, now)
        for _ in range(count)
    ]
    for order in emulator.create_orders(seller, specs, now):
        emulator.confirm_shipment(
            seller,
            order.amazon_order_id,
            {
                "marketplaceId": order.marketplace_id,
                "packageDetail": {
                    "packageReferenceId": f"P-{order.amazon_order_id}",
                    "carrierCode": "UPS",
                    "trackingNumber": "1Z999",
                    "shipDate": shipped,
                    "orderItems": [
                        {"orderItemId": i.order_item_id, "quantity": i.quantity_ordered}
                        for i in order.items.all()
                    ],
                },
            },
            now,
        )


def run(sandbox, label: str, refunds: int, max_messages: int, wait: float) -> dict:
    from django.db.models import Count
    from django.test import override_settings
    from django.utils import timezone

    from integrations.outbox import services as outbox
    from integrations.outbox.models import OutboxMessage, OutboxStatus
    from orders import sync
    from orders.models import Order
    from refunds import services
    from refunds.models import Refund, RefundStatus
    from refunds.policy import RequestedLine
    from sandbox.amazon.models import AmazonAdjustment, AmazonFeed, AmazonFeedDocument
    from tenants.models import Agency, Merchant
    from tenants.scope import tenant_context

    seller = sandbox.control.create_seller(name=f"Bench seller {label}")
    sid = seller["selling_partner_id"]
    seed_orders(sid, refunds)
    sandbox.control.advance_clock(minutes=5)
    slug = "bench-" + "-".join(label.split())
    agency = Agency.objects.create(name=f"Bench agency {label}", slug=slug)
    merchant = Merchant.objects.create(agency=agency, name=f"Bench merchant {label}", slug=slug)
    with tenant_context(merchant):
        account = sync.connect_amazon_account(
            merchant,
            name="Bench seller",
            selling_partner_id=sid,
            marketplace_ids=seller["marketplace_ids"],
            refresh_token=seller["refresh_token"],
            lwa_client_id=seller["client_id"],
            lwa_client_secret=seller["client_secret"],
            endpoint_override=seller["endpoint"],
            lwa_endpoint_override=seller["lwa_token_url"],
        )
        for _ in range(60):
            if sync.sync_account(account.pk).outcome == "caught_up":
                break
        orders = list(Order.objects.filter(amazon_account=account).order_by("id"))
        assert len(orders) == refunds, (len(orders), refunds)
        for order in orders:
            line = order.lines.get()
            services.create_refund(
                order.pk, actor=services.Actor("user", "bench"), lines=[RequestedLine(line.pk, 1)]
            )
    started = time.perf_counter()
    with (
        override_settings(
            KEELSON_FEED_BATCH_MAX_MESSAGES=max_messages,
            KEELSON_FEED_BATCH_WAIT_SECONDS=wait,
            KEELSON_FEED_WAIT_SECONDS=0,
        ),
        tenant_context(merchant),
    ):
        for _ in range(100_000):
            outbox.deliver_due(limit=200)
            pending = OutboxMessage.objects.filter(
                status=OutboxStatus.PENDING, kind__startswith="amazon."
            )
            if not pending.exists():
                break
            pending.update(next_attempt_at=timezone.now())
        statuses = dict(Refund.objects.values_list("status").annotate(n=Count("id")))
    drained = time.perf_counter() - started
    feeds = AmazonFeed.objects.filter(seller__selling_partner_id=sid).count()
    reports = AmazonFeedDocument.objects.filter(
        seller__selling_partner_id=sid, is_result=True
    ).count()
    doubled = (
        AmazonAdjustment.objects.filter(order__seller__selling_partner_id=sid)
        .values("merchant_adjustment_item_id", "component")
        .annotate(n=Count("adjustment_id", distinct=True))
        .filter(n__gt=1)
        .count()
    )
    return {
        "label": label,
        "refunds": refunds,
        "succeeded": statuses.get(RefundStatus.SUCCEEDED, 0),
        "feeds": feeds,
        "reports": reports,
        "doubled": doubled,
        "seconds": drained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refunds", type=int, default=1000)
    parser.add_argument("--max-messages", type=int, default=1000)
    parser.add_argument("--database", default="keelson_bench_feeds")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    server = prepare_database(args.database, KEELSON_AMAZON_RATE_LIMITS="0")
    from sandbox.amazon.testing import running_amazon_sandbox

    try:
        with running_amazon_sandbox(rate_limits=False) as sandbox:
            sandbox.control.set_settings(feed_queue_seconds=0, feed_processing_seconds=0)
            results = [
                run(sandbox, "one feed per refund", args.refunds, max_messages=1, wait=0),
                run(sandbox, "batched", args.refunds, max_messages=args.max_messages, wait=60),
            ]
    finally:
        if not args.keep:
            drop_database(server, args.database)

    print(
        f"\n{args.refunds} refunds of one Amazon account, created in one burst, drained by one "
        "worker\n"
    )
    print(
        "| | feeds (createFeed) | per 1,000 refunds | report downloads | createFeed budget "
        "beyond the burst | settled | applied twice | drain time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        per_thousand = r["feeds"] * 1000 / r["refunds"]
        print(
            f"| {r['label']} | {r['feeds']} | {per_thousand:.0f} | {r['reports']} | "
            f"{budget_hours(r['feeds'], CREATE_FEED):.1f} h | {r['succeeded']}/{r['refunds']} | "
            f"{r['doubled']} | {r['seconds']:.0f} s |"
        )
    before, after = results
    print(
        f"\nfeeds per 1,000 refunds: {before['feeds'] * 1000 / before['refunds']:.0f} before, "
        f"{after['feeds'] * 1000 / after['refunds']:.0f} after "
        f"({math.ceil(before['feeds'] / max(after['feeds'], 1))}x fewer createFeed calls)"
    )


if __name__ == "__main__":
    main()
