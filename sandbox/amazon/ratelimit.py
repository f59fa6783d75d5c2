"""Amazon's usage plans: one token bucket per selling partner and operation, in real time.

A bucket starts full (``burst`` tokens) and refills at ``rate`` tokens per second; a request
takes one token or is throttled (429). Buckets live in the server process's memory: the
emulator is one process. The on/off switch is ``SandboxState.rate_limits_enabled``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, key: tuple[str, str], rate: float, burst: int) -> bool:
        """Take a token; False when the bucket is empty (throttled)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            return False

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
