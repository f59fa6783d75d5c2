"""What a handler raises to tell the outbox how a delivery went."""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, code: str = "delivery_error"):
        super().__init__(message)
        self.message = message
        self.code = code


class TransientDeliveryError(DeliveryError):
    """Try again later (timeouts, 5xx, 429). `retry_after` (seconds) overrides the backoff."""

    def __init__(self, message: str, *, code: str = "transient", retry_after: float | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class DeferredDelivery(TransientDeliveryError):
    """Not a failure: the handler asks to be called again after `retry_after` seconds (say,
    a message waiting for companions to share one Amazon feed). It does not count as an
    attempt, and no backoff applies; the handler bounds how long it defers."""

    def __init__(self, message: str, *, code: str = "deferred", retry_after: float = 1.0):
        super().__init__(message, code=code, retry_after=retry_after)


class ThrottledDeliveryError(TransientDeliveryError):
    """The destination asked us to slow down (429): try again after ``retry_after``. It uses up
    no attempt: being throttled says nothing about the message, and a burst of 429s must not
    park a message that was never refused (found by bench/faults/outbox.py)."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (the destination refused the request): the message fails now."""


class UnknownMessageKind(LookupError):
    pass
