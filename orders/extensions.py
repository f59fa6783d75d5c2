"""Facts about an order that only an app above orders knows, provided by that app at start-up.

Orders' policy needs them (A4/R6: an order Amazon already refunded allows no refund; B4: a
buyer's cancellation request that was answered needs no attention), but the records live in
refunds, which depends on orders, not the other way round. So orders declare each fact here as
a typed hook, and the owning app provides it in its ``AppConfig.ready``. A hook nobody
provided is a configuration error, raised on first use: never a silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

from orders.models import Order

F = TypeVar("F", bound=Callable)


class Hook(Generic[F]):
    """One function, provided once by the app that owns the fact."""

    def __init__(self, name: str, rule: str) -> None:
        self.name = name
        self.rule = rule
        self._function: F | None = None
        self.provider: str = ""

    def provide(self, function: F, *, provider: str) -> None:
        if self._function is not None and self._function is not function:
            raise ImproperlyConfigured(f"{self.name} is already provided by {self.provider}")
        self._function = function
        self.provider = provider

    @property
    def function(self) -> F:
        if self._function is None:
            raise ImproperlyConfigured(
                f"No app provides {self.name} ({self.rule}): is the refunds app installed?"
            )
        return self._function


# R6/A4: whether Amazon reports a refund of this order made outside Keelson (Seller Central).
refunded_on_amazon: Hook[Callable[[Order], bool]] = Hook("refunded_on_amazon", "R6")
# B4: a condition on Order that holds when the merchant answered the buyer's current
# cancellation request (cancelled as asked, or declined to ship anyway).
answered_buyer_cancel: Hook[Callable[[], Q]] = Hook("answered_buyer_cancel", "B4")
