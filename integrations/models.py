"""Models of the integrations app (the outbox)."""

from django.db import models

from integrations.outbox.models import OutboxMessage, OutboxStatus

__all__ = ["AmazonRateBucket", "OutboxMessage", "OutboxStatus"]


class AmazonRateBucket(models.Model):
    """A token bucket per (selling partner, operation); see integrations.amazon.ratelimit.
    Keyed by seller, not merchant: system data, outside row-level security."""

    key = models.CharField(max_length=200, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.2f}"
