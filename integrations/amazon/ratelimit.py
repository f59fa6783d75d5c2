"""One token bucket per (selling partner, operation), shared by every worker through PostgreSQL.

A caller *reserves* a token with one atomic UPDATE: the bucket refills at the operation's rate
up to its burst, and may go negative; a negative balance is the caller's wait. So workers never
hold a lock while they wait, and together they stay under Amazon's limits (few 429s). On a 429
the bucket is emptied, which pushes every caller back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction


@dataclass(frozen=True)
class Limit:
    rate: float  # requests per second
    burst: int


# Amazon's documented usage plans (the models' descriptions; tests compare with them).
LIMITS: dict[str, Limit] = {
    "getOrders": Limit(0.0167, 20),
    "getOrder": Limit(0.5, 30),
    "getOrderAddress": Limit(0.5, 30),
    "getOrderItems": Limit(0.5, 30),
    "confirmShipment": Limit(2, 10),
    "searchOrders": Limit(0.0056, 20),
    "getOrder20260101": Limit(0.5, 30),
    "createFeedDocument": Limit(0.5, 15),
    "createFeed": Limit(0.0083, 15),
    "getFeed": Limit(2, 15),
    "getFeedDocument": Limit(0.0222, 10),
    "listFinancialEventsByOrderId": Limit(0.5, 30),
    "getSubscription": Limit(1, 5),
    "createSubscription": Limit(1, 5),
    "deleteSubscriptionById": Limit(1, 5),
    "getDestinations": Limit(1, 5),
    "createDestination": Limit(1, 5),
}

_RESERVE_SQL = """
INSERT INTO integrations_amazonratebucket (key, tokens, updated_at)
VALUES (%(key)s, %(burst)s - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
    tokens = LEAST(
        %(burst)s,
        integrations_amazonratebucket.tokens
        + EXTRACT(EPOCH FROM clock_timestamp() - integrations_amazonratebucket.updated_at)
          * %(rate)s
    ) - 1,
    updated_at = clock_timestamp()
RETURNING tokens
"""

_PEEK_SQL = """
SELECT tokens, EXTRACT(EPOCH FROM clock_timestamp() - updated_at)
FROM integrations_amazonratebucket WHERE key = %(key)s
"""

_REFUND_SQL = """
UPDATE integrations_amazonratebucket SET tokens = tokens + 1 WHERE key = %(key)s
"""

_EMPTY_SQL = """
UPDATE integrations_amazonratebucket SET tokens = LEAST(tokens, 0) - %(penalty)s,
    updated_at = clock_timestamp()
WHERE key = %(key)s
"""


class RateLimiter:
    """Reserve before each call; `wait` is how long until the reservation is good."""

    def __init__(self, *, enabled: bool = True, sleep=time.sleep):
        self.enabled = enabled
        self._sleep = sleep

    @staticmethod
    def key(selling_partner_id: str, operation: str) -> str:
        return f"{selling_partner_id}:{operation}"

    def reserve(self, selling_partner_id: str, operation: str) -> float:
        """Take a token; return the seconds to wait before using it (0 when one was free)."""
        if not self.enabled:
            return 0.0
        limit = LIMITS[operation]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _RESERVE_SQL,
                {
                    "key": self.key(selling_partner_id, operation),
                    "burst": limit.burst,
                    "rate": limit.rate,
                },
            )
            tokens = float(cursor.fetchone()[0])
        return 0.0 if tokens >= 0 else -tokens / limit.rate

    def available(self, selling_partner_id: str, operation: str) -> float:
        """Tokens in the bucket now (without taking one); the burst when none was taken yet.
        A caller planning its next calls reads it; only ``reserve`` counts."""
        limit = LIMITS[operation]
        if not self.enabled:
            return float(limit.burst)
        with connection.cursor() as cursor:
            cursor.execute(_PEEK_SQL, {"key": self.key(selling_partner_id, operation)})
            row = cursor.fetchone()
        if row is None:
            return float(limit.burst)
        tokens, elapsed = float(row[0]), float(row[1])
        return min(float(limit.burst), tokens + elapsed * limit.rate)

    def wait_for(self, selling_partner_id: str, operation: str, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` tokens are in the bucket (0 when they are there now)."""
        if not self.enabled:
            return 0.0
        missing = tokens - self.available(selling_partner_id, operation)
        return max(0.0, missing / LIMITS[operation].rate)

    def acquire(self, selling_partner_id: str, operation: str, *, max_wait: float) -> float:
        """Reserve and sleep until the token is good. Raises if that is beyond max_wait."""
        wait = self.reserve(selling_partner_id, operation)
        if wait > max_wait:
            # Give the token back: a caller that will not wait must not push later callers
            # back (with rate 1/60 s and a short max_wait it would never get a turn).
            self.refund(selling_partner_id, operation)
            raise RateBudgetExceeded(operation, wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def refund(self, selling_partner_id: str, operation: str) -> None:
        """Return a reserved token that will not be used."""
        if not self.enabled:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_REFUND_SQL, {"key": self.key(selling_partner_id, operation)})

    def throttled(self, selling_partner_id: str, operation: str, penalty: float = 1.0) -> None:
        """Amazon answered 429: empty the bucket so every worker backs off."""
        if not self.enabled:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _EMPTY_SQL,
                {"key": self.key(selling_partner_id, operation), "penalty": penalty},
            )


class RateBudgetExceeded(Exception):
    def __init__(self, operation: str, wait: float):
        super().__init__(f"{operation}: next request allowed in {wait:.0f} s")
        self.operation = operation
        self.wait = wait
