"""Benchmark of the outbox draining shipment confirmations to Amazon (rules R3, A7): how many
confirmations per second it delivers against the SP-API emulator, beside the emulator's own
throughput for the same confirmShipment calls made in a bare loop, in one run.

    .venv/bin/python bench/outbox.py                  # 300 confirmations each way
    .venv/bin/python bench/outbox.py --orders 100     # a quicker look
    .venv/bin/python bench/outbox.py --keep           # keep the bench database afterwards

Goal: outbox throughput ≥ 0.5 × the bare loop's.

It works in a database of its own, ``keelson_bench_outbox`` (``--database``), on the same
PostgreSQL server as the dev database (``DATABASE_URL``, else the embedded server): created,
migrated, and dropped at the end. The emulator runs as its own process
(``manage.py run_amazon_sandbox --no-rate-limits``) on that database; our own rate limiter is
off too (``KEELSON_AMAZON_RATE_LIMITS=0``), so both sides measure throughput, not Amazon's
usage plan. See docs/benchmarks.md, "Outbox".

Measured:

1. **bare loop**: ``AmazonGateway.confirm_shipment`` for ``--orders`` orders, one after the
   other: the real python-amazon-sp-api client against the emulator, nothing else;
2. **outbox, 1 worker**: the same calls for as many other orders, made by the outbox: each
   order is fulfilled (``fulfillment.services.fulfil_order``, which writes the fulfillment, the
   timeline and the outbox message in one transaction; not timed), then one worker drains the
   queue as a django-q2 task would (``deliver_due`` under the merchant's scope: claim with
   ``FOR UPDATE SKIP LOCKED``, send, record the answer, update the fulfillment and the order,
   write the timeline event, recompute the order's deadlines);
3. **outbox, 2 workers**: the same with two workers (threads) claiming concurrently.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def prepare_database(name: str) -> str:
    import psycopg

    from portal.database import owner_url

    server = owner_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _with_database(server, name)
    os.environ.pop("DATABASE_APP_URL", None)
    os.environ["KEELSON_AMAZON_RATE_LIMITS"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    return server


def drop_database(server: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_emulator() -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_amazon_sandbox", "--no-rate-limits"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the emulator did not start")
    return proc, json.loads(line)


def place_orders(seller: dict, count: int, seed: str) -> list[dict]:
    """``count`` Unshipped MFN orders of one item (2 units) each, as the emulator holds them."""
    from sandbox.amazon.control import AmazonSandboxClient

    control = AmazonSandboxClient(seller["endpoint"])
    purchase = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    placed = []
    for i in range(count):
        order = control.place_order(
            seller["selling_partner_id"],
            items=[{"quantity": 2, "seller_sku": f"BENCH-{seed}-{i}"}],
            purchase_date=purchase,
            marketplace_id="ATVPDKIKX0DER",
        )
        placed.append(control.order(seller["selling_partner_id"], order["amazon_order_id"]))
    return placed


def import_orders(merchant, account, placed: list[dict]) -> list[int]:
    """Our Order and OrderLine rows for the emulator's orders (set-up, not measured)."""
    from decimal import Decimal

    from orders.models import Order, OrderLine
    from tenants.scope import tenant_context

    ids = []
    now = datetime.now(UTC)
    with tenant_context(merchant):
        for state in placed:
            order = Order.objects.create(
                merchant=merchant,
                amazon_account=account,
                external_id=state["amazon_order_id"],
                marketplace_id=state["marketplace_id"],
                status="Unshipped",
                purchase_date=datetime.fromisoformat(state["purchase_date"].replace("Z", "+00:00")),
                source_updated_at=now,
                latest_ship_date=now + timedelta(days=2),
                currency=state["currency"],
                total_amount=Decimal("20.00"),
            )
            for item in state["items"]:
                OrderLine.objects.create(
                    merchant=merchant,
                    order=order,
                    external_id=item["order_item_id"],
                    sku=item["seller_sku"],
                    quantity_ordered=item["quantity_ordered"],
                    item_price=Decimal("10.00"),
                )
            ids.append(order.pk)
    return ids


def bare_loop(account, placed: list[dict]) -> float:
    """confirmShipment through our gateway, one after the other. Returns calls per second."""
    from integrations.amazon.delivery import gateway_for_delivery

    gateway = gateway_for_delivery(account)
    ship_date = datetime.now(UTC) - timedelta(minutes=5)
    gateway.get_order(placed[0]["amazon_order_id"])  # the LWA token, as the outbox has it too
    started = time.perf_counter()
    for state in placed:
        gateway.confirm_shipment(
            state["amazon_order_id"],
            marketplace_id=state["marketplace_id"],
            package_reference_id=f"BARE-{state['amazon_order_id']}",
            carrier_code="UPS",
            tracking_number=f"1ZBARE{state['amazon_order_id'][-7:]}",
            ship_date=ship_date,
            items=[(i["order_item_id"], i["quantity_ordered"]) for i in state["items"]],
        )
    return len(placed) / (time.perf_counter() - started)


def fulfil(merchant, order_ids: list[int]) -> None:
    from django.db import transaction

    from fulfillment.services import Actor, ShipmentInput, fulfil_order
    from fulfillment.workflow import Side
    from integrations.outbox.models import OutboxMessage
    from tenants.scope import tenant_context

    actor = Actor(Side.MERCHANT, "bench", "user")
    shipment = ShipmentInput(tracking_number="1ZBENCH", carrier="UPS")
    with tenant_context(merchant):
        for order_id in order_ids:
            with transaction.atomic():
                fulfil_order(order_id, actor=actor, shipment=shipment)
        assert OutboxMessage.objects.filter(status="pending").count() >= len(order_ids)


def drain(merchant, workers: int, expected: int) -> float:
    """Deliver every due message (``expected`` of them) with ``workers`` concurrent workers;
    returns messages per second."""
    from django.db import connections

    from integrations.outbox.models import OutboxMessage
    from integrations.outbox.services import deliver_due
    from tenants.scope import tenant_context

    def work() -> None:
        with tenant_context(merchant):
            deliver_due(limit=20)
        connections.close_all()

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with tenant_context(merchant):
        left = OutboxMessage.objects.exclude(status="sent").count()
    assert left == 0, f"{left} messages were not sent"
    return expected / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="confirmations per measurement")
    parser.add_argument("--database", default="keelson_bench_outbox")
    parser.add_argument("--keep", action="store_true", help="do not drop the bench database")
    args = parser.parse_args()

    server = prepare_database(args.database)
    # The schedule would not run here, but no after-commit delivery either: this process has no
    # qcluster, and the broker's queue is never read (the drain is measured instead).
    import django

    django.setup()
    from django.core.management import call_command

    emulator = None
    try:
        call_command("migrate", interactive=False, verbosity=0)
        emulator, seller = start_emulator()
        from tenants.models import Agency, AmazonAccount, Merchant
        from tenants.scope import tenant_context

        agency = Agency.objects.create(name="Bench agency", slug="bench-agency")
        merchant = Merchant.objects.create(agency=agency, name="Bench merchant", slug="bench")
        with tenant_context(merchant):
            account = AmazonAccount.objects.create(
                merchant=merchant,
                selling_partner_id=seller["selling_partner_id"],
                marketplace_ids=seller["marketplace_ids"],
                lwa_refresh_token=seller["refresh_token"],
                lwa_client_id=seller["client_id"],
                lwa_client_secret=seller["client_secret"],
                endpoint_override=seller["endpoint"],
                lwa_endpoint_override=seller["lwa_token_url"],
            )
        n = args.orders
        print(f"placing {3 * n} orders in the emulator...", flush=True)
        bare_orders = place_orders(seller, n, "bare")
        one_orders = import_orders(merchant, account, place_orders(seller, n, "one"))
        two_orders = import_orders(merchant, account, place_orders(seller, n, "two"))

        with tenant_context(merchant):
            bare = bare_loop(account, bare_orders)
        print(f"bare loop        {bare:8.1f} confirmations/s", flush=True)

        fulfil(merchant, one_orders)
        one = drain(merchant, 1, n)
        print(f"outbox, 1 worker {one:8.1f} confirmations/s  ({one / bare:.2f}x)", flush=True)

        fulfil(merchant, two_orders)
        two = drain(merchant, 2, n)
        print(f"outbox, 2 workers{two:8.1f} confirmations/s  ({two / bare:.2f}x)", flush=True)
        print(
            json.dumps(
                {
                    "orders": n,
                    "bare_per_second": round(bare, 1),
                    "outbox_1_worker_per_second": round(one, 1),
                    "outbox_2_workers_per_second": round(two, 1),
                    "ratio_1_worker": round(one / bare, 2),
                    "ratio_2_workers": round(two / bare, 2),
                    "goal": ">= 0.5",
                }
            )
        )
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(15)
        if not args.keep:
            drop_database(server, args.database)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
