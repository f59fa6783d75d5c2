"""Benchmark: which Orders API brings N changed orders (with their items) in sooner, under
Amazon's rate limits? Orders v0 (getOrders, 100 orders a page, then getOrderItems per order)
against Orders 2026-01-01 (searchOrders, 100 orders a page with their items).

    .venv/bin/python bench/sync_api_choice.py            # about 3 minutes
    .venv/bin/python bench/sync_api_choice.py --sizes 5,100 --backfill 2000

For each size, a fresh emulated seller (full rate-limit buckets, as after a quiet spell) gets
that many orders (seeded), and our gateway reads them all, once per API, with our shared rate
limiter on and the emulator's limits on: the time until every order and its items are in
hand is measured (parsing included, our database not). The emulator runs as its own process
(``manage.py run_amazon_sandbox``) on a database of its own (``keelson_bench_api``).

Amazon's usage plans (the models): getOrders 0.0167/s burst 20; getOrderItems 0.5/s burst 30;
searchOrders 0.0056/s burst 20. So v0 is instant up to 30 changed orders, then 2 s per order;
searchOrders is instant for 20 pages (2,000 orders), then 180 s per page of 100.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drop_database, prepare_database
from sync_latency import start_emulator, stop


def gateway_for(seller: dict):
    from integrations.amazon.gateway import AmazonCredentials, AmazonGateway
    from integrations.amazon.ratelimit import RateLimiter

    credentials = AmazonCredentials(
        selling_partner_id=seller["selling_partner_id"],
        region="NA",
        marketplace_ids=tuple(seller["marketplace_ids"]),
        refresh_token=seller["refresh_token"],
        client_id=seller["client_id"],
        client_secret=seller["client_secret"],
        endpoint=seller["endpoint"],
        lwa_token_url=seller["lwa_token_url"],
    )
    return AmazonGateway(credentials, limiter=RateLimiter(), max_wait=600, max_attempts=5)


def read_v0(gateway, since) -> tuple[int, int, int]:
    """getOrders pages, then getOrderItems for every order: (orders, items, calls)."""
    orders = items = calls = 0
    token = None
    while True:
        page = gateway.get_orders_page(next_token=token, last_updated_after=since)
        calls += 1
        for order in page.orders:
            items += len(gateway.get_order_items(order.amazon_order_id))
            calls += 1
        orders += len(page.orders)
        token = page.next_token
        if not token:
            return orders, items, calls


def read_2026(gateway, since) -> tuple[int, int, int]:
    orders = items = calls = 0
    token = None
    while True:
        page = gateway.search_orders_page(pagination_token=token, last_updated_after=since)
        calls += 1
        orders += len(page.orders)
        items += sum(len(o.items or ()) for o in page.orders)
        token = page.next_token
        if not token:
            return orders, items, calls


def scenario(control, size: int, apis: list[str]) -> dict[str, float]:
    from sandbox.amazon.clock import isoformat, parse_iso

    out = {}
    for api in apis:
        seller = control.create_seller(marketplace_ids=["ATVPDKIKX0DER"])
        now = parse_iso(control.now())
        control.generate_orders(
            seller["selling_partner_id"],
            size,
            seed=f"api-choice-{size}",
            placed_from=isoformat(now - timedelta(days=2)),
            placed_to=isoformat(now - timedelta(hours=1)),
        )
        gateway = gateway_for(seller)
        since = now - timedelta(days=3)
        started = time.perf_counter()
        orders, items, calls = (read_v0 if api == "v0" else read_2026)(gateway, since)
        seconds = time.perf_counter() - started
        assert orders == size, (api, orders, size)
        out[api] = seconds
        print(
            f"{size:>6,} orders  {api:<10} {seconds:8.1f} s   {calls:>5} calls  "
            f"{items:>6} items  {orders / seconds:9.1f} orders/s",
            flush=True,
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,30,100", help="deltas read with both APIs")
    parser.add_argument("--backfill", type=int, default=2000, help="read with searchOrders")
    parser.add_argument("--database", default="keelson_bench_api")
    args = parser.parse_args()

    server = prepare_database(args.database, KEELSON_AMAZON_RATE_LIMITS="1")
    emulator = None
    try:
        from sandbox.amazon.control import AmazonSandboxClient

        emulator, default_seller = start_emulator()
        control = AmazonSandboxClient(default_seller["endpoint"])
        control.set_rate_limits(True)
        print("Amazon's rate limits on (emulator and our limiter); fresh buckets per run\n")
        for size in (int(s) for s in args.sizes.split(",") if s):
            scenario(control, size, ["v0", "2026-01-01"])
        if args.backfill:
            scenario(control, args.backfill, ["2026-01-01"])
            v0 = 1 + max(0, args.backfill / 100 - 20) * 60, max(0, args.backfill - 30) * 2
            print(
                f"{args.backfill:>6,} orders  v0 (from the documented rates: getOrders "
                f"{v0[0]:.0f} s of waits, getOrderItems {v0[1]:,.0f} s) ≈ {max(v0):,.0f} s"
            )
        return 0
    finally:
        if emulator is not None:
            stop(emulator)
        drop_database(server, args.database)


if __name__ == "__main__":
    sys.exit(main())
