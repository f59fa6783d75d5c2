"""Models of the integrations app (the outbox)."""

from integrations.outbox.models import OutboxMessage, OutboxStatus

__all__ = ["OutboxMessage", "OutboxStatus"]
