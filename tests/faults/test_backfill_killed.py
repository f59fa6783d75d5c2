"""SIGKILL during a backfill (issue 14, rule R1): a real qcluster backfills 2,000 orders from
the SP-API emulator answering one call in ten with a 5xx and throwing 429 storms; it is killed
with SIGKILL three times at seeded random moments and started again. Keelson then equals the
emulator order by order and line by line: none lost, none doubled. The full size (20,000
orders, five kills) is ``python -m bench.faults.backfill`` (docs/benchmarks.md, "Faults")."""

from __future__ import annotations

import pytest

from bench.faults import backfill
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

SEED = 20261207


def test_a_backfill_killed_three_times_under_5xx_and_429_storms_loses_and_doubles_nothing_R1(
    make_merchant, settings
):
    settings.KEELSON_SYNC_QUEUED_LEASE_SECONDS = 15  # the fan-out's claims, in this process
    merchant = make_merchant()
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        report = backfill.run(
            merchant=merchant,
            sandbox=sandbox,
            child_env=child_database_env(),
            orders=2000,
            kills=3,
            seed=SEED,
            deadline_seconds=240,
            log_dir=ROOT / ".data" / "test-logs",
            # Storms the gateway's five tries ride out, but for an unlucky 5xx among them: a
            # longer one makes the run yield for Amazon's minute (the full run has those).
            storm_calls=(1, 2),
        )
    print_counts("SIGKILL during backfill:", report.counts())
    assert report.kills == 3
    assert report.served_5xx > 0 and report.served_429 > 0
    assert report.at_amazon == 2000
    assert (report.lost, report.duplicated, report.mismatched) == (0, 0, 0), report.problems
    assert report.in_keelson == report.at_amazon
