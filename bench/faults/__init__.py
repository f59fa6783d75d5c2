"""Faults, scripted and bounded in time (issue 14): a real ``qcluster`` killed with SIGKILL
while it backfills orders or drains the outbox against the SP-API emulator answering 5xx and
429 storms, and PostgreSQL restarted under a gunicorn serving the API and the portal.

Each scenario is a module with ``run(...)`` (used by the bounded tests in ``tests/faults``)
and a command line with the full sizes (docs/benchmarks.md, "Faults")::

    .venv/bin/python -m portal.database run -- .venv/bin/python -m bench.faults.backfill
    .venv/bin/python -m portal.database run -- .venv/bin/python -m bench.faults.outbox
    .venv/bin/python -m portal.database run -- .venv/bin/python -m bench.faults.postgres_restart
"""
