"""Amazon's errors, mapped to what the callers (the sync, the outbox) do about them:
throttled (wait), auth failed (reconnect), transient (retry), permanent (give up).
"""

from __future__ import annotations

from typing import Any

# --- errors ----------------------------------------------------------------------------------


class AmazonError(Exception):
    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class AmazonThrottled(AmazonError):
    def __init__(self, message: str, *, retry_after: float, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class AmazonAuthFailed(AmazonError):
    """The seller's authorisation is missing, expired or revoked: a person must act."""


class AmazonTransientError(AmazonError):
    """5xx, timeouts, malformed pages: try again later."""


class AmazonPermanentError(AmazonError):
    """Amazon refused the request (4xx other than 429/403): retrying cannot help."""
