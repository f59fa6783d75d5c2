"""SIGKILL during a backfill (issue 14): a real ``qcluster`` backfills an account's orders from
the SP-API emulator (the real python-amazon-sp-api over HTTP) while the emulator answers one
call in ten with a 5xx and throws 429 storms for the whole run; the cluster is killed with
SIGKILL at random moments (seeded) and started again. At the end Keelson is compared with the
emulator order by order and line by line (status, channel, dates, amounts, quantities, buyer
cancellations): nothing lost, nothing doubled.

    .venv/bin/python -m portal.database run -- .venv/bin/python -m bench.faults.backfill
    ... -m bench.faults.backfill --orders 20000 --kills 5 --seed 7 --deadline 1800

Runs in a database of its own (``keelson_faults_backfill``: created, migrated, dropped). The
scheduler's fan-out (``orders.tasks.sync_due_amazon_accounts``, every minute in production) is
called by this script every half second, so a run killed mid-page is taken up again as soon as
its lease expires, not a minute later; everything else is the product as it runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.faults.harness import (
    ROOT,
    Cluster,
    Deadline,
    Storms,
    inject_errors,
    kill_plan,
    print_counts,
    served,
)

PAGE = 100  # searchOrders' page size: the backfill's unit of progress

# The child processes' settings: our rate limiter off (the emulator's usage plans are off too:
# at Amazon's searchOrders rate a 20,000-order backfill takes hours; the 429s come from the
# storms), short leases so a killed run's account is free again in seconds.
CHILD_SETTINGS = {
    "KEELSON_AMAZON_RATE_LIMITS": "0",
    "KEELSON_SYNC_LEASE_SECONDS": "10",
    "KEELSON_SYNC_QUEUED_LEASE_SECONDS": "15",
    "KEELSON_SYNC_MAX_WAIT": "0.5",
    "KEELSON_SYNC_RUN_SECONDS": "20",
    "Q_WORKERS": "2",
    "Q_POLL": "0.2",
    "Q_TIMEOUT": "60",
    "Q_RETRY": "90",
}


@dataclass
class Report:
    seed: int
    at_amazon: int = 0
    in_keelson: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    changed_after_cursor: int = 0
    kills: int = 0
    storms: int = 0
    served_5xx: int = 0
    served_429: int = 0
    backfill_pages: int = 0
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "seed": self.seed,
            "orders at Amazon": self.at_amazon,
            "orders in Keelson": self.in_keelson,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "mismatched": self.mismatched,
            "changed after the cursor (not compared)": self.changed_after_cursor,
            "SIGKILLs of the qcluster": self.kills,
            "429 storms": self.storms,
            "5xx served": self.served_5xx,
            "429 served": self.served_429,
            "backfill pages": self.backfill_pages,
            "wall time (s)": round(self.wall_seconds, 1),
        }


def run(
    *,
    merchant,
    sandbox,
    child_env: dict[str, str],
    orders: int,
    kills: int,
    seed: int,
    deadline_seconds: float,
    log_dir: Path,
    storm_calls: tuple[int, int] = (2, 4),
) -> Report:
    """The scenario on a running emulator (``sandbox.amazon.testing.running_amazon_sandbox``)
    and a merchant with no Amazon account yet. Raises ``DeadlineExceeded`` with what it saw."""
    from orders import sync, tasks
    from sandbox.amazon.clock import isoformat, parse_iso
    from tests.support.amazon_sync import connect, state_of

    rng = random.Random(seed)
    report = Report(seed=seed)
    deadline = Deadline(deadline_seconds)
    control, sid = sandbox.control, sandbox.seller["selling_partner_id"]
    now = parse_iso(control.now())
    # In slices of 2,000 (one control call each stays well within its timeout), each over its
    # own part of the 20 days.
    slices = max(1, -(-orders // 2000))
    start, span = now - timedelta(days=20), (timedelta(days=20) - timedelta(hours=6)) / slices
    for n in range(slices):
        control.generate_orders(
            sid,
            orders // slices + (1 if n < orders % slices else 0),
            seed=f"keelson-faults-{seed}-{n}",
            placed_from=isoformat(start + n * span),
            placed_to=isoformat(start + (n + 1) * span - timedelta(seconds=1)),
        )
    print(f"  {deadline.elapsed:6.1f} s  {orders} orders generated at the emulator", flush=True)
    account = connect(merchant, sandbox, backfill_days=30)
    plan = kill_plan(rng, kills, max(2, orders // PAGE))
    print(f"seed {seed}: {orders} orders, kills after backfill pages {plan}", flush=True)

    cluster = Cluster({**child_env, **CHILD_SETTINGS}, log_dir)

    def seen() -> dict:
        state = state_of(account)
        return {
            "backfill_pages": state.backfill_pages,
            "backfill_orders": state.backfill_orders,
            "backfill_finished": state.backfill_finished_at is not None,
            "last_outcome": state.last_outcome,
            "last_error": state.last_error[:200],
            "kills": cluster.kills,
            "cluster_alive": cluster.alive(),
            "cluster_log": str(log_dir),
            **served(control),
        }

    def fan_out() -> None:
        # The scheduler's minute job, sped up; it queues a run when the account is due and free.
        tasks.sync_due_amazon_accounts()

    inject_errors(control)
    cluster.start()
    try:
        with Storms(control, rng, calls=storm_calls) as storms:
            for threshold in plan:
                deadline.wait_for(
                    f"backfill page {threshold} (to kill the cluster there)",
                    lambda t=threshold: state_of(account).backfill_pages >= t,
                    seen=seen,
                    between=fan_out,
                    every=0.3,
                )
                time.sleep(rng.uniform(0.0, 1.0))  # inside a page's calls or its transaction
                cluster.kill()
                print(
                    f"  {deadline.elapsed:6.1f} s  SIGKILL #{cluster.kills} at backfill page "
                    f"{state_of(account).backfill_pages}",
                    flush=True,
                )
                time.sleep(rng.uniform(0.0, 1.0))
                cluster.start()
            deadline.wait_for(
                "the backfill to finish",
                lambda: state_of(account).backfill_finished_at is not None,
                seen=seen,
                between=fan_out,
                every=0.3,
            )
            report.storms = storms.storms
            # Then the live lane reads what changed meanwhile, up to Amazon's clock as it is
            # now (pushed on a few minutes, so the orders' next events play): "Sync now".
            for _ in range(3):
                control.advance_clock(minutes=3)
                target = parse_iso(control.now()) - sync.AMAZON_LAG
                _sync_now_if_idle(account, merchant.pk)
                deadline.wait_for(
                    "the live lane to catch up with Amazon's clock",
                    lambda target=target: _caught_up(account, target),
                    seen=seen,
                    between=lambda: _sync_now_if_idle(account, merchant.pk),
                    every=0.3,
                )
                if _compare(account, sid, report).changed_after_cursor == 0:
                    break
            report.wall_seconds = deadline.elapsed
    finally:
        cluster.stop()
        counts = served(control)
        report.served_5xx, report.served_429 = counts["5xx"], counts["429"]
        report.kills = cluster.kills
        report.backfill_pages = state_of(account).backfill_pages
        report.wall_seconds = report.wall_seconds or deadline.elapsed
        control.clear_faults()
    return report


def _caught_up(account, target) -> bool:
    from tests.support.amazon_sync import cursor_of, state_of

    cursor = cursor_of(account)
    state = state_of(account)
    return cursor is not None and cursor >= target and state.window_start is None


def _sync_now_if_idle(account, merchant_id: int) -> None:
    from django.utils import timezone

    from orders import sync
    from tenants.models import AmazonAccount
    from tenants.scope import tenant_context

    with tenant_context(merchant_id):
        fresh = AmazonAccount.objects.get(pk=account.pk)
        if fresh.lease_until is None or fresh.lease_until < timezone.now():
            sync.sync_now(fresh)


def _compare(account, seller_id: str, report: Report) -> Report:
    """Keelson against the emulator, order by order and line by line."""
    from django.db.models import Count

    from orders.models import Channel, Order, OrderLine
    from tenants.scope import tenant_context
    from tests.support.amazon_sync import differences, emulated_orders, imported_events_per_order

    emulated = emulated_orders(seller_id)
    # Taxes per line are not compared: searchOrders gives one TAX breakdown per line (none
    # where prices include tax), not v0's item/shipping split (that split is tested with v0
    # in tests/orders/test_sync.py); the order totals are compared.
    problems, _compared, later = differences(account, emulated)
    lost = [p for p in problems if p.endswith(": missing")]
    with tenant_context(account.merchant_id):
        orders = Order.objects.filter(channel=Channel.AMAZON)
        report.in_keelson = orders.count()
        doubled_orders = (
            orders.values("external_id").annotate(n=Count("id")).filter(n__gt=1).count()
        )
        doubled_lines = (
            OrderLine.objects.filter(order__channel=Channel.AMAZON)
            .values("order_id", "external_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
    imported_twice = sum(1 for n in imported_events_per_order(account.merchant).values() if n > 1)
    report.at_amazon = len(emulated)
    report.lost = len(lost)
    report.duplicated = doubled_orders + doubled_lines + imported_twice
    report.mismatched = len(problems) - len(lost)
    report.changed_after_cursor = later
    report.problems = problems[:20]
    if doubled_orders or doubled_lines or imported_twice:
        report.problems.append(
            f"doubled: {doubled_orders} orders, {doubled_lines} lines, "
            f"{imported_twice} orders imported twice"
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--deadline", type=float, default=1800, help="seconds (fails after)")
    parser.add_argument(
        "--storm-calls",
        type=int,
        nargs=2,
        default=(1, 3),
        metavar=("MIN", "MAX"),
        help="429s in a row per storm (5 or more make a run yield for up to a minute)",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)

    from bench.common import drop_database, prepare_database

    name = "keelson_faults_backfill"
    server = prepare_database(name, KEELSON_AMAZON_RATE_LIMITS="0")
    try:
        from bench.common import child_env
        from sandbox.amazon.testing import running_amazon_sandbox
        from tenants.models import Agency, Merchant

        agency = Agency.objects.create(name="Faults agency", slug="faults-agency")
        merchant = Merchant.objects.create(agency=agency, name="Faults merchant", slug="faults")
        with running_amazon_sandbox(rate_limits=False) as sandbox:
            report = run(
                merchant=merchant,
                sandbox=sandbox,
                child_env=child_env(),
                orders=args.orders,
                kills=args.kills,
                seed=seed,
                deadline_seconds=args.deadline,
                log_dir=ROOT / ".data" / "faults-logs",
                storm_calls=tuple(args.storm_calls),
            )
        print_counts("SIGKILL during backfill:", report.counts())
        for problem in report.problems:
            print("  !", problem)
        ok = report.lost == report.duplicated == report.mismatched == 0
        print("OK: 0 lost, 0 duplicated" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        drop_database(server, name)


if __name__ == "__main__":
    sys.exit(main())
