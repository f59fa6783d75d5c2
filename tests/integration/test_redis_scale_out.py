"""Scale-out on django-q2's Redis broker (docs/scaling.md): two qcluster processes, one database,
one Redis. Several merchants' Amazon accounts are synced while sync tasks for the same accounts
pile up on both clusters, and the outbox is delivered while deliveries of the same messages race:

- each account is synced by one worker at a time (the account's lease, orders/sync.py): the
  runs that held it, read from the tasks' results, never overlap;
- each outbox message reaches its destination once (claims with SKIP LOCKED);
- each periodic schedule fires once per slot, not once per cluster (django-q2's scheduler locks
  the schedule rows, whichever broker carries the tasks).

Prints the counts. Skips in one line without the `redis-server` binary."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule, Task

from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.tasks import SYNC_TASK
from portal.schedules import SCHEDULES, ensure_schedules
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.support.amazon_sync import (
    amazon_now,
    connect,
    differences,
    emulated_orders,
    state_of,
    window,
)
from tests.support.processes import alive, qcluster
from tests.support.redis_server import RedisQueue, require_redis_server, running_redis
from tests.support.sink import Sink

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MERCHANTS = 4
ORDERS_PER_ACCOUNT = 40
MESSAGES_PER_MERCHANT = 15
# Lane steps per run: at least one for each of the sync's three lanes (backfill, live, tax),
# or a run of a caught-up account would end out of budget before it could say so.
RUN_STEPS = 3
DELIVER = "integrations.outbox.tasks.deliver_message"
DELIVER_MERCHANT = "integrations.outbox.tasks.deliver_merchant"


def descendants(pid: int) -> set[int]:
    """The process and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children[int(stat[stat.rfind(")") + 2 :].split()[1])].append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo += children.get(p, [])
    return found


def sync_runs() -> list[dict]:
    """The sync runs the clusters finished, from django-q2's task records."""
    return [t.result for t in Task.objects.filter(func=SYNC_TASK) if isinstance(t.result, dict)]


def overlaps(runs: list[dict]) -> int:
    """Runs that took an account's lease before the account's previous run let it go."""
    count = 0
    by_account: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for run in runs:
        if run["ran"]:
            held = (
                datetime.fromisoformat(run["held_from"]),
                datetime.fromisoformat(run["held_until"]),
            )
            by_account[run["account_id"]].append(held)
    for spans in by_account.values():
        spans.sort()
        count += sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    return count


def test_two_clusters_on_redis_sync_each_account_alone_and_deliver_each_message_once(
    make_merchant, tmp_path
):
    require_redis_server()
    with (
        running_redis(tmp_path) as redis_url,
        running_amazon_sandbox(rate_limits=False) as amazon,
        Sink() as sink,
    ):
        queue = RedisQueue(redis_url)
        merchants, accounts, sellers = [], [], {}
        for n in range(MERCHANTS):
            seller = amazon.control.create_seller(name=f"Seller {n}")
            sid = seller["selling_partner_id"]
            amazon.control.generate_orders(
                sid,
                ORDERS_PER_ACCOUNT,
                seed=f"scale-{n}",
                **window(amazon_now(amazon), days_ago=3, hours_ago=6),
            )
            merchant = make_merchant()
            account = connect(merchant, amazon, seller)
            merchants.append(merchant)
            accounts.append(account)
            sellers[account.pk] = sid
        # Every message waits for a worker (none is queued from this process).
        for merchant in merchants:
            with tenant_context(merchant), transaction.atomic():
                for i in range(MESSAGES_PER_MERCHANT):
                    outbox.enqueue(
                        merchant_id=merchant.pk,
                        kind="sandbox.webhook",
                        payload={"url": sink.url, "body": {"n": i}, "timeout": 5},
                        idempotency_key=f"scale-{merchant.pk}-{i}",
                        deliver_after=timezone.now(),
                    )
        ensure_schedules()  # the test database was flushed; all due now
        schedules_due = timezone.now()
        Schedule.objects.update(next_run=schedules_due)

        # Short runs, bounded by work (a few lane steps: a page, or one order's tax split) and
        # not by time, so that how many runs the accounts take does not depend on how fast or
        # busy the machine is (bounded by 0.3 s, a loaded CI machine needed hundreds of runs
        # and this test passed its time limit). An account passes from worker to worker. Our
        # own buckets in front of Amazon are off, as the emulator's are: past an account's
        # burst they pace getOrders at one a minute. What is tested is one worker per account
        # at a time, which more runs racing tests harder.
        env = {
            "REDIS_URL": redis_url,
            "KEELSON_SYNC_RUN_STEPS": str(RUN_STEPS),
            "KEELSON_AMAZON_RATE_LIMITS": "0",
        }
        with qcluster(**env) as one, qcluster(**env) as two:
            started = time.monotonic()
            # Every message is delivered by its own task and by two per merchant, at once.
            with tenant_context(merchants):
                messages = list(OutboxMessage.objects.values_list("merchant_id", "pk"))
            for merchant_id, message_id in messages:
                queue.queue(DELIVER, merchant_id, message_id)
            for merchant in merchants:
                queue.queue(DELIVER_MERCHANT, merchant.pk)
                queue.queue(DELIVER_MERCHANT, merchant.pk)

            def caught_up(account) -> bool:
                state = state_of(account)
                return state.last_outcome == "caught_up" and not state.backfilling

            def states() -> list[tuple]:
                return [
                    (s.last_outcome, s.backfilling, s.failures, s.last_error)
                    for s in map(state_of, accounts)
                ]

            # A guard against a hang, not a timing: about 40 s (the schedules' 36 s) on a quiet
            # machine and beside three busy loops; under pytest's 300 s timeout with room for
            # the set-up, so that a hang says where it was.
            deadline = started + 200
            waves = 0
            while not all(caught_up(a) for a in accounts):
                assert one.poll() is None and two.poll() is None, "a qcluster died"
                assert time.monotonic() < deadline, f"the accounts did not catch up: {states()}"
                if queue.queue_size() == 0:
                    # Three tasks per account at once: they race for its lease.
                    for account in accounts:
                        if not caught_up(account):
                            for _ in range(3):
                                queue.queue(SYNC_TASK, account.pk, account.merchant_id, None)
                    waves += 1
                time.sleep(0.3)
            while queue.queue_size():
                assert time.monotonic() < deadline, "the queue did not drain"
                time.sleep(0.2)
            with tenant_context(merchants):
                while OutboxMessage.objects.filter(status=OutboxStatus.PENDING).exists():
                    assert time.monotonic() < deadline, "the outbox did not drain"
                    time.sleep(0.2)

            # The schedules: both schedulers have run once they are 30 s old (django-q2 runs
            # its scheduler every 30 s of its guard loop).
            while time.monotonic() < started + 36 or not all(
                Task.objects.filter(group=p.name).exists() for p in SCHEDULES
            ):
                assert time.monotonic() < deadline, "the schedules did not run"
                time.sleep(0.5)
            time.sleep(3)  # a second cluster's duplicate (there must be none) would be saved
            pids = {"one": descendants(one.pid), "two": descendants(two.pid)}
            assert all(alive(p) for p in (one.pid, two.pid))

        runs = sync_runs()
        ran = [r for r in runs if r["ran"]]
        by_cluster = Counter(
            name
            for r in ran
            for name, family in pids.items()
            if int(r["lease_owner"].split(":")[1]) in family
        )
        busy = sum(1 for r in runs if r["outcome"] == "lease_busy")
        pages = sum(r["pages"] for r in ran)
        item_calls = sum(r["item_calls"] for r in ran)
        overlapping = overlaps(runs)

        with tenant_context(merchants):
            statuses = Counter(OutboxMessage.objects.values_list("status", flat=True))
            attempts = Counter(OutboxMessage.objects.values_list("attempts", flat=True))
        delivered = Counter(r["key"] for r in sink.requests)
        duplicates = sum(n - 1 for n in delivered.values())

        # One task per schedule and slot. The slots that came due since the schedules were
        # made due: next_run moved one interval per slot. A slow run lives through two slots
        # of the minute schedules (seen in CI), and then has two tasks of each, not a duplicate;
        # a second cluster's duplicate would be one task more than the slots.
        schedule_tasks = {}
        for periodic in SCHEDULES:
            schedule = Schedule.objects.get(name=periodic.name)
            slots = round(
                (schedule.next_run - schedules_due).total_seconds() / (periodic.minutes * 60)
            )
            tasks = Task.objects.filter(group=periodic.name).count()
            schedule_tasks[periodic.name] = (tasks, slots)

        print(
            f"\naccounts {len(accounts)}, sync tasks {len(runs)} in {waves} waves: "
            f"{len(ran)} runs held a lease ({dict(by_cluster)} by cluster), {busy} found it "
            f"busy, overlaps {overlapping}; {pages} pages, {item_calls} getOrderItems calls; "
            f"messages {len(messages)}, delivered {len(delivered)}, duplicates {duplicates}; "
            f"tasks per schedule {sorted(set(schedule_tasks.values()))} "
            f"for {len(schedule_tasks)} schedules"
        )

        assert overlapping == 0
        assert busy > 0, "no two tasks raced for an account: the test proved nothing"
        assert set(by_cluster) == {"one", "two"}, "both clusters ran syncs"
        for account in accounts:
            problems, compared, _ = differences(account, emulated_orders(sellers[account.pk]))
            assert problems == [] and compared > 0
        assert statuses == {OutboxStatus.SENT: len(messages)}
        assert attempts == {1: len(messages)}
        assert len(delivered) == len(messages) and duplicates == 0
        assert all(1 <= tasks <= slots for tasks, slots in schedule_tasks.values()), schedule_tasks
