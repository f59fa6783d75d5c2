"""Benchmark of the sync's latency: time from an order's placement on Amazon to its visibility
through the partner API, with Amazon's rate limits on and nobody calling the sync by hand.

    .venv/bin/python bench/sync_latency.py                     # 20 merchants, 2 x (3 + 4) minutes
    .venv/bin/python bench/sync_latency.py --minutes 2 --orders 40 --phases push

Set-up, in a database of its own (``keelson_bench_latency``; created, migrated, dropped):
the SP-API emulator as its own process (``manage.py run_amazon_sandbox``, rate limits on),
20 merchants of one agency, each with an Amazon account on its own emulated seller (connected
with ``connect_amazon_account``: a one-day backfill, then live), and a real django-q2 cluster
(``manage.py qcluster``, 3 workers) running the schedules of ``portal/schedules.py``.

Two phases, in this order, on the same accounts:

1. **poll** (the baseline): no notification queue; only the polling lane (orders/sync.py).
2. **push**: the accounts are subscribed to ORDER_CHANGE notifications on the emulator's SQS
   queue (``manage.py subscribe_amazon_notifications``, through the outbox), and the cluster
   is restarted with the queue configured: the push lane (orders/order_changes.py) long-polls
   it, polling goes on beside it as the safety net.

In each, for ``--minutes``, orders are placed at random moments (a Poisson process, ``--orders``
in all) on random sellers, while this process polls ``GET /api/v1/orders/`` with the agency's
API key once a second and notes when each order first appears; after the placements it waits up
to ``--drain`` minutes for the last ones.

Reported per phase: p50/p95/max of placement -> visible (the goal: p95 ≤ 75 s), and the push
phase's p95 as a ratio of the poll phase's. Polling can never be under 120 s: Amazon's getOrders
and searchOrders only list changes at least two minutes old (LastUpdatedBefore ≤ now - 2 min;
the emulator applies the rule).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, child_env, drop_database, percentile, prepare_database


def start_emulator() -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_amazon_sandbox", "--port", "0"],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    first = proc.stdout.readline()
    if not first:
        raise RuntimeError("the emulator did not start")
    # Keep draining its stdout so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, json.loads(first)


def stop(proc: subprocess.Popen) -> None:
    import os
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def place_and_watch(api, control, sellers, args, cluster, rng) -> tuple[list[float], list[str]]:
    """Place ``--orders`` orders over ``--minutes``; seconds from placement to visibility."""
    period = args.minutes * 60
    moments = sorted(rng.uniform(0, period) for _ in range(args.orders))
    placed: dict[str, float] = {}
    seen: dict[str, float] = {}

    def poll() -> None:
        # The sellers are new: every order there is fits one page (newest first).
        response = api.get("/api/v1/orders/", {"limit": 200})
        assert response.status_code == 200, response.content[:300]
        now = time.monotonic()
        for row in response.json()["results"]:
            if row["order_number"] in placed:
                seen.setdefault(row["order_number"], now)

    started = time.monotonic()
    next_poll = started
    pending = list(moments)
    deadline = started + period + args.drain * 60
    while time.monotonic() < deadline:
        now = time.monotonic()
        while pending and now - started >= pending[0]:
            pending.pop(0)
            order = control.place_order(rng.choice(sellers), items=[{"quantity": 1}])
            placed[order["amazon_order_id"]] = time.monotonic()
        if now >= next_poll:
            poll()
            next_poll = now + 1.0
            if not pending and placed and set(placed) <= set(seen):
                break
        time.sleep(0.05)
        if cluster.poll() is not None:
            raise RuntimeError("the qcluster died")
    visible = [seen[o] - t for o, t in placed.items() if o in seen]
    missing = [o for o in placed if o not in seen]
    return visible, missing


def wait_for_subscriptions(count: int, cluster: subprocess.Popen, timeout: float = 180) -> None:
    """The cluster delivers the subscriptions (outbox); orders placed before them would not be
    notified (Amazon notifies changes after subscribing), so placing starts after."""
    from orders.models import AmazonSyncState
    from tenants.scope import system_context

    deadline = time.monotonic() + timeout
    while True:
        with system_context("bench: subscriptions made"):
            done = AmazonSyncState.objects.exclude(order_change_subscription_id="").count()
        if done >= count:
            return
        if cluster.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} accounts were subscribed")
        time.sleep(0.5)


def start_cluster(workers: int, log_name: str, **env: str) -> subprocess.Popen:
    log_dir = ROOT / ".data" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        cwd=ROOT,
        env=child_env(Q_WORKERS=str(workers), LOG_LEVEL="INFO", **env),
        stdout=open(log_dir / f"sync_latency-{log_name}.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--orders", type=int, default=60, help="orders placed per phase")
    parser.add_argument("--minutes", type=float, default=3.0, help="placement period")
    parser.add_argument("--drain", type=float, default=4.0, help="minutes to wait at the end")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--phases", default="poll,push", help="poll, push or both (in order)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default="keelson_bench_latency")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or set(phases) - {"poll", "push"}:
        parser.error("--phases takes poll, push or poll,push")

    server = prepare_database(args.database)
    emulator = cluster = None
    results: dict[str, list[float]] = {}
    all_missing: list[str] = []
    try:
        from django.conf import settings
        from django.core.management import call_command
        from rest_framework.test import APIClient

        from orders.sync import connect_amazon_account
        from portal.schedules import ensure_schedules
        from sandbox.amazon.control import AmazonSandboxClient
        from tenants.models import Agency, Merchant
        from tenants.scope import tenant_context
        from tenants.services import create_api_key

        emulator, default_seller = start_emulator()
        control = AmazonSandboxClient(default_seller["endpoint"])
        control.set_rate_limits(True)
        agency = Agency.objects.using("owner").create(name="Latency", slug="latency")
        sellers = []
        for i in range(args.merchants):
            merchant = Merchant.objects.using("owner").create(
                agency=agency, name=f"Merchant {i}", slug=f"latency-{i}"
            )
            seller = control.create_seller(name=f"Seller {i}", marketplace_ids=["ATVPDKIKX0DER"])
            with tenant_context(merchant):
                connect_amazon_account(
                    merchant,
                    name=f"Seller {i}",
                    selling_partner_id=seller["selling_partner_id"],
                    marketplace_ids=seller["marketplace_ids"],
                    refresh_token=seller["refresh_token"],
                    lwa_client_id=seller["client_id"],
                    lwa_client_secret=seller["client_secret"],
                    endpoint_override=seller["endpoint"],
                    lwa_endpoint_override=seller["lwa_token_url"],
                    backfill_days=1,
                )
            sellers.append(seller["selling_partner_id"])
        key = create_api_key(name="bench", scopes=["orders:read"], agency=agency).raw_key
        ensure_schedules()
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        rng = random.Random(args.seed)

        for phase in phases:
            env: dict[str, str] = {}
            if phase == "push":
                env = {
                    "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL": default_seller[
                        "notifications_queue_url"
                    ],
                    "KEELSON_AMAZON_SQS_ACCESS_KEY_ID": "bench",
                    "KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY": "bench",
                }
                for name, value in env.items():
                    setattr(settings, name, value)
                call_command("subscribe_amazon_notifications", stdout=sys.stderr)
            cluster = start_cluster(args.workers, phase, **env)
            if phase == "push":
                wait_for_subscriptions(args.merchants, cluster)
            print(
                f"[{phase}] {args.merchants} merchants on {args.merchants} emulated sellers, "
                f"rate limits on; qcluster with {args.workers} workers; placing {args.orders} "
                f"orders over {args.minutes:g} min",
                flush=True,
            )
            visible, missing = place_and_watch(api, control, sellers, args, cluster, rng)
            stop(cluster)
            cluster = None
            results[phase] = visible
            all_missing += missing
            print(
                f"[{phase}] placed {len(visible) + len(missing)}, visible {len(visible)}, "
                f"missing {len(missing)}: placement -> visible p50 "
                f"{percentile(visible, 50):6.1f} s   p95 {percentile(visible, 95):6.1f} s   "
                f"max {max(visible, default=float('nan')):6.1f} s",
                flush=True,
            )

        print()
        for phase, visible in results.items():
            p95 = percentile(visible, 95)
            verdict = "met" if p95 <= 75 else "NOT met"
            print(f"{phase:>4}: p95 {p95:6.1f} s  (goal p95 ≤ 75 s from placement: {verdict})")
        if "poll" in results and "push" in results:
            ratio = percentile(results["push"], 95) / percentile(results["poll"], 95)
            print(f"push p95 / poll p95 (baseline, same run): {ratio:.2f}")
        return 0 if not all_missing else 1
    finally:
        for proc in (cluster, emulator):
            if proc is not None:
                stop(proc)
        drop_database(server, args.database)


if __name__ == "__main__":
    sys.exit(main())
