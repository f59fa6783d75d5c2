"""`manage.py subscribe_amazon_notifications`: subscribe every connected Amazon account to
ORDER_CHANGE notifications on the configured queue (``KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL``).

Connecting an account subscribes it already; this is for the accounts connected before the
queue was configured. Through the outbox, once per account connection: running it again
changes nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations.amazon.queue import configured_queue_url
from orders.order_changes import request_subscription
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import system_context, tenant_context


class Command(BaseCommand):
    help = "Subscribe every connected Amazon account to ORDER_CHANGE notifications."

    def handle(self, *args, **options) -> None:
        if not configured_queue_url():
            raise CommandError(
                "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL is not set: there is no queue to "
                "subscribe the accounts to."
            )
        with system_context("subscribe_amazon_notifications: the connected accounts"):
            accounts = list(
                AmazonAccount.objects.filter(status=AccountStatus.ACTIVE).values_list(
                    "id", "merchant_id"
                )
            )
        for account_id, merchant_id in accounts:
            with tenant_context(merchant_id), transaction.atomic():
                request_subscription(AmazonAccount.objects.get(pk=account_id))
        self.stdout.write(f"{len(accounts)} Amazon accounts subscribed (through the outbox).")
