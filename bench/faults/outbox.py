"""The outbox drained through SIGKILLs (issue 14, rules R3 and R6): a real ``qcluster``
delivers hundreds of shipment confirmations (confirmShipment) and refunds (payment-adjustment
feeds) to the SP-API emulator while it answers one call in ten with a 5xx and throws 429
storms; the cluster is killed with SIGKILL at random moments (seeded) and started again. At
the end the emulator is asked what it holds: every order confirmed has exactly one package,
every order refunded has had exactly its refund's amount refunded, once (a doubled delivery
would show as a second package, or as more money refunded).

    .venv/bin/python -m portal.database run -- .venv/bin/python -m bench.faults.outbox
    ... -m bench.faults.outbox --confirmations 300 --refunds 300 --kills 5 --seed 7

The outbox sweep (``integrations.outbox.tasks.sweep``, every minute in production) is called
by this script every second, so a message whose worker was killed is taken up again as soon
as its lease (10 s here) has expired.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
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

CHILD_SETTINGS = {
    "KEELSON_AMAZON_RATE_LIMITS": "0",
    "KEELSON_OUTBOX_LEASE_SECONDS": "10",
    "Q_WORKERS": "2",
    "Q_POLL": "0.2",
    "Q_TIMEOUT": "60",
    "Q_RETRY": "90",
}


@dataclass
class Report:
    seed: int
    confirmations: int = 0
    refunds: int = 0
    confirmed_once: int = 0
    refunded_once: int = 0
    lost: int = 0
    duplicated: int = 0
    parked_failed: int = 0
    kills: int = 0
    storms: int = 0
    served_5xx: int = 0
    served_429: int = 0
    delivery_attempts: int = 0
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "seed": self.seed,
            "shipment confirmations queued": self.confirmations,
            "  confirmed once at Amazon (one package)": self.confirmed_once,
            "refunds queued": self.refunds,
            "  refunded once at Amazon (the refund's amount)": self.refunded_once,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "parked as failed": self.parked_failed,
            "delivery attempts (all messages)": self.delivery_attempts,
            "SIGKILLs of the qcluster": self.kills,
            "429 storms": self.storms,
            "5xx served": self.served_5xx,
            "429 served": self.served_429,
            "wall time (drain) (s)": round(self.wall_seconds, 1),
        }


def prepare(*, merchant, sandbox, confirmations: int, refunds: int, seed: int):
    """Orders at the emulator, imported by the sync (no faults yet); the refunds' orders
    shipped at Amazon first (money is charged on shipping). Returns (account, to confirm,
    to refund) as Keelson orders."""
    from orders.models import Order
    from sandbox.amazon.clock import isoformat, parse_iso
    from tenants.scope import tenant_context
    from tests.refunds.amazon import fast_feeds, ship
    from tests.support.amazon_sync import connect, sync_until_caught_up

    control, sid = sandbox.control, sandbox.seller["selling_partner_id"]
    fast_feeds(sandbox)
    now = parse_iso(control.now())
    ids = control.generate_orders(
        sid,
        confirmations + refunds,
        seed=f"keelson-outbox-faults-{seed}",
        placed_from=isoformat(now - timedelta(days=3)),
        placed_to=isoformat(now - timedelta(hours=2)),
        afn_share=0,
        stays_pending_share=0,
        payment_declined_share=0,
        buyer_cancel_share=0,
    )["amazon_order_ids"]
    account = connect(merchant, sandbox, backfill_days=5)
    for amazon_id in ids[confirmations:]:
        ship(sandbox, account, amazon_id)
    # Amazon's order index lags two minutes (LastUpdatedBefore): let the shipments age past it.
    control.advance_clock(minutes=3)
    sync_until_caught_up(account)
    with tenant_context(merchant):
        by_id = {o.external_id: o for o in Order.objects.filter(external_id__in=ids)}
    return account, [by_id[i] for i in ids[:confirmations]], [by_id[i] for i in ids[confirmations:]]


def queue_work(merchant, to_confirm, to_refund) -> dict[int, Decimal]:
    """What a merchant does in the portal: fulfil orders (a confirmation each, R3) and refund
    one unit of an order's first line (R6). Returns each refunded order's refund total."""
    from fulfillment import services as fulfillment
    from fulfillment.services import ShipmentInput
    from refunds import services as refunds
    from refunds.policy import RequestedLine
    from tenants.scope import tenant_context

    actor = fulfillment.Actor(fulfillment.Side.MERCHANT, "Faults", "user")
    refund_actor = refunds.Actor("user", "Faults")
    totals: dict[int, Decimal] = {}
    with tenant_context(merchant):
        for n, order in enumerate(to_confirm):
            fulfillment.fulfil_order(
                order.pk,
                actor=actor,
                shipment=ShipmentInput(tracking_number=f"1ZFAULT{n:06d}", carrier="UPS"),
            )
        for order in to_refund:
            line = order.lines.order_by("id").first()
            refund = refunds.create_refund(
                order.pk, actor=refund_actor, lines=[RequestedLine(line.pk, 1)]
            )
            totals[order.pk] = refund.total
    return totals


def run(
    *,
    merchant,
    sandbox,
    child_env: dict[str, str],
    confirmations: int,
    refunds: int,
    kills: int,
    seed: int,
    deadline_seconds: float,
    log_dir: Path,
    storm_calls: tuple[int, int] = (1, 3),
) -> Report:
    from django.db.models import F
    from django.utils import timezone

    from integrations.outbox import tasks as outbox_tasks
    from integrations.outbox.models import OutboxMessage, OutboxStatus
    from tenants.scope import tenant_context

    rng = random.Random(seed)
    report = Report(seed=seed, confirmations=confirmations, refunds=refunds)
    _account, to_confirm, to_refund = prepare(
        merchant=merchant,
        sandbox=sandbox,
        confirmations=confirmations,
        refunds=refunds,
        seed=seed,
    )
    control = sandbox.control
    totals = queue_work(merchant, to_confirm, to_refund)
    with tenant_context(merchant):
        total_messages = OutboxMessage.objects.filter(kind__startswith="amazon.").count()
    plan = kill_plan(rng, kills, total_messages)
    print(
        f"seed {seed}: {total_messages} outbox messages, kills after {plan} were sent",
        flush=True,
    )
    deadline = Deadline(deadline_seconds)
    cluster = Cluster({**child_env, **CHILD_SETTINGS}, log_dir, name="qcluster-outbox")

    def counts() -> dict:
        with tenant_context(merchant):
            qs = OutboxMessage.objects.filter(kind__startswith="amazon.")
            return {s: qs.filter(status=s).count() for s in OutboxStatus.values}

    def sent() -> int:
        return counts()[OutboxStatus.SENT]

    def first(status: str) -> list[dict]:
        """The first three messages in ``status``: where each stands (for a failure line)."""
        now = timezone.now()
        with tenant_context(merchant):
            messages = (
                OutboxMessage.objects.filter(kind__startswith="amazon.", status=status)
                .annotate(batch=F("feed_member__batch__status"))
                .order_by("id")[:3]
            )
            return [
                {
                    "id": m.pk,
                    "kind": m.kind,
                    "attempts": m.attempts,
                    "due_in_s": round((m.next_attempt_at - now).total_seconds(), 1),
                    "lease_s": m.lease_until and round((m.lease_until - now).total_seconds(), 1),
                    "last_error": m.last_error[:160],
                    "batch": m.batch,
                }
                for m in messages
            ]

    def seen() -> dict:
        return {
            **counts(),
            "kills": cluster.kills,
            "log": str(log_dir),
            **served(control),
            "parked": first(OutboxStatus.FAILED),
            "pending (first 3)": first(OutboxStatus.PENDING),
        }

    last_sweep = [0.0]

    def sweep() -> None:
        # The scheduler's minute job, sped up: due and abandoned messages are queued again.
        if time.monotonic() - last_sweep[0] >= 1.0:
            last_sweep[0] = time.monotonic()
            outbox_tasks.sweep()

    inject_errors(control)
    cluster.start()
    try:
        with Storms(control, rng, calls=storm_calls) as storms:
            for threshold in plan:
                deadline.wait_for(
                    f"{threshold} messages sent (to kill the cluster there)",
                    lambda t=threshold: sent() >= t,
                    seen=seen,
                    between=sweep,
                    every=0.2,
                )
                time.sleep(rng.uniform(0.0, 1.0))
                cluster.kill()
                print(f"  {deadline.elapsed:6.1f} s  SIGKILL #{cluster.kills} at {seen()}")
                time.sleep(rng.uniform(0.0, 1.0))
                cluster.start()
            report.storms = storms.storms
        # The storms end with the kills: a storm is "the next few calls", and with only a few
        # messages left the same one would meet every storm. The 5xx go on to the end.
        deadline.wait_for(
            "every message to be delivered (or parked as failed)",
            lambda: counts()[OutboxStatus.PENDING] == 0,
            seen=seen,
            between=sweep,
            every=0.5,
        )
        report.wall_seconds = deadline.elapsed
    finally:
        cluster.stop()
        hits = served(control)
        report.served_5xx, report.served_429 = hits["5xx"], hits["429"]
        report.kills = cluster.kills
        report.wall_seconds = report.wall_seconds or deadline.elapsed
        control.clear_faults()
    _check(report, merchant, sandbox, to_confirm, to_refund, totals)
    return report


def _check(report: Report, merchant, sandbox, to_confirm, to_refund, totals) -> None:
    """The emulator's books, order by order, against what Keelson queued."""
    from django.db.models import Sum

    from integrations.outbox.models import OutboxMessage, OutboxStatus
    from tenants.scope import tenant_context

    sid = sandbox.seller["selling_partner_id"]
    emulated = _emulated(sid, [o.external_id for o in to_confirm + to_refund])
    for order in to_confirm:
        packages = emulated[order.external_id]["packages"]
        if len(packages) == 1 and emulated[order.external_id]["status"] == "Shipped":
            report.confirmed_once += 1
        elif not packages:
            report.lost += 1
            report.problems.append(f"{order.external_id}: not confirmed at Amazon")
        else:
            report.duplicated += 1
            report.problems.append(f"{order.external_id}: {len(packages)} packages")
    for order in to_refund:
        refunded = emulated[order.external_id]["refunded"]
        if refunded == totals[order.pk]:
            report.refunded_once += 1
        elif refunded == 0:
            report.lost += 1
            report.problems.append(f"{order.external_id}: nothing refunded at Amazon")
        else:
            report.duplicated += refunded > totals[order.pk]
            report.lost += refunded < totals[order.pk]
            report.problems.append(
                f"{order.external_id}: {refunded} refunded, not {totals[order.pk]}"
            )
    with tenant_context(merchant):
        messages = OutboxMessage.objects.filter(kind__startswith="amazon.")
        report.parked_failed = messages.filter(status=OutboxStatus.FAILED).count()
        report.delivery_attempts = messages.aggregate(n=Sum("attempts"))["n"] or 0
        for m in messages.filter(status=OutboxStatus.FAILED)[:5]:
            report.problems.append(f"parked: {m.kind} #{m.pk}: {m.last_error[:200]}")


def _emulated(seller_id: str, amazon_order_ids: list[str]) -> dict[str, dict]:
    """Packages and money refunded per order, from the emulator's own tables."""
    from sandbox.amazon.models import AmazonOrder

    out = {}
    orders = AmazonOrder.objects.filter(
        seller__selling_partner_id=seller_id, amazon_order_id__in=amazon_order_ids
    ).prefetch_related("packages", "adjustments")
    for o in orders:
        out[o.amazon_order_id] = {
            "status": o.status,
            "packages": [p.package_reference_id for p in o.packages.all()],
            "refunded": sum((a.amount for a in o.adjustments.all()), Decimal(0)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--confirmations", type=int, default=300)
    parser.add_argument("--refunds", type=int, default=300)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--deadline", type=float, default=1800, help="seconds (fails after)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)

    from bench.common import child_env, drop_database, prepare_database

    name = "keelson_faults_outbox"
    server = prepare_database(name, KEELSON_AMAZON_RATE_LIMITS="0", KEELSON_SYNC_MAX_WAIT="0.2")
    try:
        from sandbox.amazon.testing import running_amazon_sandbox
        from tenants.models import Agency, Merchant

        agency = Agency.objects.create(name="Faults agency", slug="faults-agency")
        merchant = Merchant.objects.create(agency=agency, name="Faults merchant", slug="faults")
        with running_amazon_sandbox(rate_limits=False) as sandbox:
            report = run(
                merchant=merchant,
                sandbox=sandbox,
                child_env=child_env(),
                confirmations=args.confirmations,
                refunds=args.refunds,
                kills=args.kills,
                seed=seed,
                deadline_seconds=args.deadline,
                log_dir=ROOT / ".data" / "faults-logs",
            )
        print_counts("Outbox drained through SIGKILLs:", report.counts())
        for problem in report.problems:
            print("  !", problem)
        ok = report.lost == report.duplicated == report.parked_failed == 0
        print("OK: every confirmation and refund delivered exactly once" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        drop_database(server, name)


if __name__ == "__main__":
    sys.exit(main())
