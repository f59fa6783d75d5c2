"""PostgreSQL stopped and started under load (issue 14): gunicorn, as the demo runs it, serves
API clients of two merchants and a signed-in portal page while a qcluster works; PostgreSQL (a
server of this test's own, never the shared one) goes down and comes back. During the outage
the API answers 503 ``database_unavailable`` with Retry-After and the portal its plain 503
page, never a 500 nor a hang; then the API answers again without a restart of anything, each
key seeing only its merchant's orders (the tenant scope on the new connections), and every
task queued before the outage ran. The full run: ``python -m bench.faults.postgres_restart``."""

from __future__ import annotations

import pytest

from bench.faults import postgres_restart
from bench.faults.harness import ROOT, print_counts

# A loaded 2-core CI machine: several real processes, so more than the suite's 300 s bound.
pytestmark = [pytest.mark.timeout(480), pytest.mark.integration, pytest.mark.slow]


def test_postgresql_restarted_under_load_gives_clean_503s_then_recovers_by_itself():
    report = postgres_restart.run(
        clients=3,
        outages=1,
        down_seconds=3,
        deadline_seconds=280,  # migrating the new server takes most of it on a loaded machine
        log_dir=ROOT / ".data" / "test-logs",
    )
    print_counts("PostgreSQL restarted under load:", report.counts())
    assert report.wrong == []
    assert report.by_outcome["api 503 database_unavailable"] > 0  # the outage was seen
    assert report.by_outcome["api 200"] > 0 and report.by_outcome["portal 200"] > 0
    assert not {k for k in report.by_outcome if k.endswith(("500", "hang"))}
    assert report.slowest_seconds < postgres_restart.REQUEST_BOUND_SECONDS
    assert report.tasks_done == report.tasks_queued == postgres_restart.TASKS
