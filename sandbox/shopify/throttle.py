"""Shopify's cost-based rate limit: a leaky bucket of points per app and store.

A bucket holds at most ``maximumAvailable`` points (2,000 on the standard plan) and restores
``restoreRate`` points per second (100). A query first takes its requested cost; if the bucket
holds less, it is answered ``THROTTLED`` and nothing runs. After it runs, the difference
between the requested and the actual cost is given back.

Buckets live in the server process's memory (the emulator is one process), on a clock of
their own: real monotonic time plus the seconds the control API advanced it, so that
``POST /_sandbox/clock`` restores points as if that time had passed. ``freeze()`` stops real
time for the buckets (tests: the level then moves only when the clock is advanced).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class BucketClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else time.monotonic()
            return base + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def freeze(self, frozen: bool) -> None:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.monotonic()
            elif not frozen and self._frozen_at is not None:
                # Resume from the frozen moment: no points appear for the frozen interval.
                self._offset -= time.monotonic() - self._frozen_at
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None


# Clock arithmetic in floats: a wait of exactly (cost - available) / rate must be enough.
EPSILON = 1e-6


def _points(level: float) -> int:
    return int(level + EPSILON)


@dataclass
class _Bucket:
    level: float
    updated: float


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: int
    restore_rate: float

    def as_json(self) -> dict:
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": self.currently_available,
            "restoreRate": self.restore_rate,
        }


class LeakyBuckets:
    def __init__(self, clock: BucketClock | None = None) -> None:
        self.clock = clock or BucketClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, maximum: float, rate: float) -> _Bucket:
        now = self.clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(maximum, now)
        bucket.level = min(maximum, bucket.level + max(0.0, now - bucket.updated) * rate)
        bucket.updated = now
        return bucket

    def take(self, key: str, cost: int, maximum: float, rate: float) -> tuple[bool, ThrottleStatus]:
        with self._lock:
            bucket = self._bucket(key, maximum, rate)
            ok = bucket.level + EPSILON >= cost
            if ok:
                bucket.level = max(0.0, bucket.level - cost)
            return ok, ThrottleStatus(maximum, _points(bucket.level), rate)

    def give_back(self, key: str, points: int, maximum: float, rate: float) -> ThrottleStatus:
        with self._lock:
            bucket = self._bucket(key, maximum, rate)
            bucket.level = min(maximum, bucket.level + max(0, points))
            return ThrottleStatus(maximum, _points(bucket.level), rate)

    def drain(self, key: str, maximum: float, rate: float) -> ThrottleStatus:
        with self._lock:
            bucket = self._bucket(key, maximum, rate)
            bucket.level = 0.0
            return ThrottleStatus(maximum, 0, rate)

    def status(self, key: str, maximum: float, rate: float) -> ThrottleStatus:
        with self._lock:
            bucket = self._bucket(key, maximum, rate)
            return ThrottleStatus(maximum, _points(bucket.level), rate)

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key, None)
