"""How each connected Shopify store's mirror stands (issue 12), for the dashboard: the last write
Shopify accepted, what waits to be written, what failed and why. Read from the outbox, where
every write to a store is one message naming the store (``payload["store"]``): no counter to
keep in step, and the figures are what the outbox will actually do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from integrations.outbox.models import OutboxMessage, OutboxStatus
from tenants.models import AccountStatus, ShopifyStore

SHOPIFY_KINDS = "shopify."


@dataclass(frozen=True)
class StoreMirrorHealth:
    store_id: int
    merchant_id: int
    shop_domain: str
    status: str
    last_success_at: datetime | None
    # Waiting to be written (due now, backing off after an error, or held while paused).
    backlog: int
    oldest_waiting_at: datetime | None
    # Given up (permanent errors, or out of attempts): listed in the outbox with a retry action.
    failed: int
    # The latest error of a waiting or failed write, in the gateway's plain words.
    last_error: str

    @property
    def healthy(self) -> bool:
        return self.status == AccountStatus.ACTIVE and not self.failed and not self.last_error


def store_mirror_health(merchant_ids: Iterable[int]) -> list[StoreMirrorHealth]:
    """One row per store of the merchants that is connected or paused, by merchant and store.
    Runs in a scope that sees those merchants."""
    ids = sorted(set(merchant_ids))
    if not ids:
        return []
    stores = list(
        ShopifyStore.objects.filter(
            merchant_id__in=ids, status__in=(AccountStatus.ACTIVE, AccountStatus.AUTH_FAILED)
        ).order_by("merchant_id", "id")
    )
    rows = []
    for store in stores:
        messages = OutboxMessage.objects.filter(
            merchant_id=store.merchant_id, kind__startswith=SHOPIFY_KINDS, payload__store=store.pk
        )
        open_ = messages.filter(status__in=(OutboxStatus.PENDING, OutboxStatus.FAILED))
        counts = open_.aggregate(
            backlog=Count("id", filter=Q(status=OutboxStatus.PENDING)),
            failed=Count("id", filter=Q(status=OutboxStatus.FAILED)),
            oldest=Min("created_at", filter=Q(status=OutboxStatus.PENDING)),
        )
        # The newest sent message (the merchant/status index, walked from the newest id).
        last_sent = (
            messages.filter(status=OutboxStatus.SENT).order_by("-id").values("sent_at").first()
        )
        last_error = (
            open_.exclude(last_error="").order_by("-updated_at").values("last_error").first()
        )
        rows.append(
            StoreMirrorHealth(
                store_id=store.pk,
                merchant_id=store.merchant_id,
                shop_domain=store.shop_domain,
                status=store.status,
                last_success_at=last_sent["sent_at"] if last_sent else None,
                backlog=counts["backlog"],
                oldest_waiting_at=counts["oldest"],
                failed=counts["failed"],
                last_error=last_error["last_error"] if last_error else "",
            )
        )
    return rows
