"""Platform tasks for django-q2."""

from __future__ import annotations

import os

from django.db import connection

from portal import bulk_jobs
from tenants.models import AmazonAccount
from tenants.scope import tenant_context


def smoke(merchant_id: int) -> dict:
    """A health check for the task queue: proves a worker runs tasks against PostgreSQL under
    a tenant scope (row-level security included). Returns what the worker saw."""
    with tenant_context(merchant_id):
        visible = sorted(AmazonAccount.objects.values_list("merchant_id", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tenants_amazonaccount")
            raw_count = cursor.fetchone()[0]
    return {"pid": os.getpid(), "visible_merchants": visible, "raw_count": raw_count}


def run_bulk_job(job_id: int) -> dict:
    """A bulk job over selected orders (portal.bulk_jobs): queued by the order list's actions.
    Safe to run again: items already done or refused are skipped."""
    return bulk_jobs.run_job(job_id)


def requeue_stuck_bulk_jobs() -> dict:
    """Every minute: bulk jobs still waiting to start minutes after they were queued (the queue
    refused or lost the task) are queued again (portal.bulk_jobs.requeue_stuck_jobs)."""
    return {"requeued": bulk_jobs.requeue_stuck_jobs()}
