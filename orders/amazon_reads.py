"""How orders read Amazon: the gateway both lanes of the sync use (the poll lane in
``orders/sync.py``, the push lane in ``orders/order_changes.py``), and an order with its items."""

from __future__ import annotations

from django.conf import settings

from integrations.amazon.gateway import AmazonCredentials, AmazonGateway
from integrations.amazon.ratelimit import RateLimiter
from integrations.amazon.records import AmazonOrder
from tenants.models import AmazonAccount


def max_wait() -> float:
    return float(getattr(settings, "KEELSON_SYNC_MAX_WAIT", 10))


def sync_gateway(account: AmazonAccount) -> AmazonGateway:
    """The sync's gateway: our shared rate limiter; short waits (the run yields instead)."""
    limiter = RateLimiter(enabled=getattr(settings, "KEELSON_AMAZON_RATE_LIMITS", True))
    return AmazonGateway(
        AmazonCredentials.from_account(account),
        limiter=limiter,
        max_attempts=4,
        max_wait=max_wait(),
        timeout=20.0,
    )


def with_items(order: AmazonOrder, items) -> AmazonOrder:
    return AmazonOrder(**{**order.__dict__, "items": tuple(items)})
