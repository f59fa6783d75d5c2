"""Run the Amazon order sync of one account now, in this process (operators, tests).

    python manage.py sync_amazon --account 12 [--budget 240] [--until-caught-up]

The scheduler (``orders.tasks.sync_due_amazon_accounts``) does the same every minute; this
takes the same lease, so it never runs beside a worker syncing the same account.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from orders import sync
from tenants.models import AmazonAccount
from tenants.scope import system_context, tenant_context


class Command(BaseCommand):
    help = "Sync one Amazon account's orders now."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True, help="AmazonAccount id")
        parser.add_argument("--budget", type=float, default=None, help="seconds per run")
        parser.add_argument(
            "--until-caught-up",
            action="store_true",
            help="run again (waiting for Amazon's rate limits) until backfill and live are done",
        )

    def handle(self, *args, account: int, budget: float | None, until_caught_up: bool, **kw):
        with system_context(f"sync_amazon command: find the merchant of account {account}"):
            merchant_id = (
                AmazonAccount.objects.filter(pk=account)
                .values_list("merchant_id", flat=True)
                .first()
            )
        if merchant_id is None:
            raise CommandError(f"No Amazon account {account}.")
        with tenant_context(merchant_id):
            while True:
                report = sync.sync_account(account, budget=budget)
                self.stdout.write(json.dumps(report.as_dict(), default=str))
                if not until_caught_up or report.outcome in ("caught_up", "auth_failed"):
                    return
                if report.outcome == "lease_busy":
                    time.sleep(1)
                elif report.next_sync_at is not None and report.outcome != "budget":
                    from django.utils import timezone

                    time.sleep(max(0.0, (report.next_sync_at - timezone.now()).total_seconds()))
