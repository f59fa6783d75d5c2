"""The outbox drained through SIGKILLs (issue 14, rules R3, R6): a real qcluster delivers 12
shipment confirmations and 8 refunds to the SP-API emulator answering one call in ten with a
5xx and throwing 429 storms, and is killed with SIGKILL three times at seeded random moments.
The emulator then holds one package per confirmed order and exactly each refund's amount per
refunded order: none lost, none doubled. The full size: ``python -m bench.faults.outbox``."""

from __future__ import annotations

import pytest

from bench.faults import outbox
from bench.faults.harness import ROOT, print_counts
from sandbox.amazon.testing import running_amazon_sandbox
from tests.support.processes import child_database_env

# A loaded 2-core CI machine: several real processes, so more than the suite's 300 s bound.
pytestmark = [
    pytest.mark.timeout(480),
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SEED = 20261208


def test_confirmations_and_refunds_drained_through_three_kills_arrive_exactly_once_R3_R6(
    make_merchant, settings
):
    settings.KEELSON_AMAZON_RATE_LIMITS = False  # the import before the faults, in this process
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    merchant = make_merchant()
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        report = outbox.run(
            merchant=merchant,
            sandbox=sandbox,
            child_env=child_database_env(),
            confirmations=12,
            refunds=8,
            kills=3,
            seed=SEED,
            deadline_seconds=400,
            log_dir=ROOT / ".data" / "test-logs",
        )
    print_counts("Outbox drained through SIGKILLs:", report.counts())
    assert report.kills == 3
    assert report.served_5xx > 0 and report.served_429 > 0
    assert (report.lost, report.duplicated, report.parked_failed) == (0, 0, 0), report.problems
    assert (report.confirmed_once, report.refunded_once) == (12, 8)
