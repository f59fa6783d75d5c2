"""Request rate limits shared by every process and host, kept in PostgreSQL (no Redis).

The algorithm is GCRA (the generic cell rate algorithm: a token bucket kept as one timestamp).
A policy allows ``limit`` requests per ``window`` seconds: one request "costs" ``interval =
window / limit`` seconds, and a bucket stores its *theoretical arrival time* (``tat``), the
moment it would be empty again. A request at ``now`` is allowed when ``max(tat, now) + interval
<= now + window``; it then moves ``tat`` on by one interval. So an idle bucket takes a burst of
``limit`` requests, and then one every ``interval`` seconds.

Why GCRA rather than a counter per fixed window: a fixed window lets a client send twice the
limit across a window's edge, and a test of "the (N+1)th request is refused" could straddle an
edge; a sliding log needs a row per request. GCRA is exact, smooth, and one row per bucket.

One statement per request: ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``. Concurrent
requests on one bucket queue on its row lock, and PostgreSQL re-evaluates the update on the
newest row version, so no request is lost or counted twice, across gunicorn workers and hosts.
It must run outside a longer transaction (the API calls it before the view's own transactions
begin): the row lock is held only for the statement. The time is the database's
(``statement_timestamp()``): every host reads one clock.

A bucket whose ``tat`` has passed is full again, exactly as if it had no row: the "rate limit
purge" schedule deletes those rows (``purge_idle``), so the table holds only buckets in use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from foundation.models import RateLimitBucket

_TABLE = RateLimitBucket._meta.db_table

# `allowed` keeps the answer to the last request (whether `tat` moved), so that one statement
# both decides and reports; on a refusal the row keeps its `tat`.
_CONSUME_SQL = f"""
INSERT INTO {_TABLE} AS bucket (key, tat, allowed)
VALUES (%(key)s, statement_timestamp() + %(interval)s * interval '1 second', true)
ON CONFLICT (key) DO UPDATE SET
    allowed = (
        greatest(bucket.tat, statement_timestamp()) + %(interval)s * interval '1 second'
        <= statement_timestamp() + %(window)s * interval '1 second'
    ),
    tat = CASE
        WHEN greatest(bucket.tat, statement_timestamp()) + %(interval)s * interval '1 second'
             <= statement_timestamp() + %(window)s * interval '1 second'
        THEN greatest(bucket.tat, statement_timestamp()) + %(interval)s * interval '1 second'
        ELSE bucket.tat
    END
RETURNING bucket.allowed, EXTRACT(EPOCH FROM bucket.tat - statement_timestamp())
"""


@dataclass(frozen=True)
class Policy:
    """``limit`` requests per ``window`` seconds, at most ``limit`` of them at once."""

    limit: int
    window: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window < 1:
            raise ValueError(f"A rate limit needs limit >= 1 and window >= 1, not {self}")

    @property
    def interval(self) -> float:
        return self.window / self.limit

    def header(self) -> str:
        """The IETF draft's ``RateLimit-Policy`` value: ``600;w=60``."""
        return f"{self.limit};w={self.window}"


@dataclass(frozen=True)
class Decision:
    """The answer for one request, with what the client is told in the RateLimit headers."""

    allowed: bool
    policy: Policy
    remaining: int  # requests that may be sent right now, after this one
    reset: int  # seconds until the whole quota is available again
    retry_after: int  # seconds until the next request is allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``-Remaining``, ``-Reset`` and ``-Policy`` (IETF draft
        httpapi-ratelimit-headers), on every answer; the 429 adds ``Retry-After``."""
        headers = {
            "RateLimit-Limit": str(self.policy.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": self.policy.header(),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def consume(key: str, policy: Policy) -> Decision:
    """Count one request on the bucket ``key``; one statement, in autocommit (see above)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CONSUME_SQL, {"key": key, "interval": policy.interval, "window": policy.window}
        )
        allowed, ahead = cursor.fetchone()
    return decision(policy, allowed=allowed, ahead=float(ahead))


def decision(policy: Policy, *, allowed: bool, ahead: float) -> Decision:
    """What a bucket whose ``tat`` is ``ahead`` seconds away tells the client."""
    ahead = max(ahead, 0.0)
    # Slack for the float arithmetic of `window / limit` (600 / 7 * 7 is not quite 600).
    free = policy.window - ahead + 1e-6
    remaining = min(policy.limit, max(0, math.floor(free / policy.interval)))
    # The next request needs `interval` seconds of room below the window.
    retry_after = 0 if allowed else max(1, math.ceil(policy.interval - free))
    return Decision(
        allowed=allowed,
        policy=policy,
        remaining=remaining,
        reset=math.ceil(ahead),
        retry_after=retry_after,
    )


def purge_idle(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete the buckets that are full again (their ``tat`` has passed), in batches; returns
    how many. A deleted bucket and a full one answer alike, so this is safe at any time."""
    now = now or timezone.now()
    total = 0
    while True:
        keys = list(
            RateLimitBucket.objects.filter(tat__lt=now).values_list("key", flat=True)[:batch_size]
        )
        if not keys:
            return total
        total += RateLimitBucket.objects.filter(key__in=keys, tat__lt=now).delete()[0]
