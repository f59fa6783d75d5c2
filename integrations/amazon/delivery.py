"""The Amazon gateway as the outbox's handlers use it (confirmations, refunds, feeds,
subscriptions): one attempt per call, since the outbox owns the retries with backoff; our
shared rate limiter unless ``KEELSON_AMAZON_RATE_LIMITS`` is off."""

from __future__ import annotations

from django.conf import settings

from integrations.amazon.gateway import AmazonCredentials, AmazonGateway
from integrations.amazon.ratelimit import RateLimiter


def gateway_for_delivery(account) -> AmazonGateway:
    """``account``: a tenants ``AmazonAccount`` (its credentials are read, nothing else)."""
    limiter = RateLimiter(enabled=getattr(settings, "KEELSON_AMAZON_RATE_LIMITS", True))
    return AmazonGateway(
        AmazonCredentials.from_account(account), limiter=limiter, max_attempts=1, max_wait=30.0
    )
