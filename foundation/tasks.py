"""Tasks of the shared base for django-q2."""

from __future__ import annotations

from foundation import ratelimit
from foundation.api.idempotency import purge_expired


def purge_idempotency_records() -> int:
    """Delete Idempotency-Key records older than their 24 hours (scheduled hourly)."""
    return purge_expired()


def purge_rate_limit_buckets() -> int:
    """Delete rate-limit buckets that are full again (scheduled hourly): idle keys' rows."""
    return ratelimit.purge_idle()
