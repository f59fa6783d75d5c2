"""Shopify errors, as the outbox understands them: every transient one is a
``TransientDeliveryError`` (try again later), every permanent one a ``PermanentDeliveryError``
(retrying cannot help), so an outbox handler may let them through unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.outbox.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


class ShopifyError(DeliveryError):
    def __init__(self, message: str, *, code: str = "shopify_error", status: int | None = None):
        DeliveryError.__init__(self, message, code=code)
        self.status = status


class TransientShopifyError(ShopifyError, TransientDeliveryError):
    """5xx, timeouts, refused connections, unreadable answers: try again later."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "shopify_transient",
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class Throttled(TransientShopifyError):
    """The cost bucket stayed short of points after the gateway's bounded waits;
    ``retry_after`` is the wait the last throttleStatus asked for."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = None):
        super().__init__(message, code="shopify_throttled", status=status, retry_after=retry_after)


class PermanentShopifyError(ShopifyError, PermanentDeliveryError):
    """Shopify refused the request (a GraphQL error in what we sent, a 4xx): a retry cannot
    help."""


class AuthFailed(PermanentShopifyError):
    """401/403: the access token is unknown, revoked or lacks a scope. A person must act
    (reconnect the store)."""


class StoreUnavailable(PermanentShopifyError):
    """402 (the shop is frozen: unpaid plan), 423 (locked) or 404 (no such shop): nothing is
    sent to this store until it is available again."""


@dataclass(frozen=True)
class UserError:
    field: tuple[str, ...] | None
    message: str
    code: str | None = None


class ShopifyUserErrors(PermanentShopifyError):
    """A mutation answered with ``userErrors``: Shopify refused the input, nothing changed."""

    def __init__(self, user_errors: list[UserError] | tuple[UserError, ...], *, operation: str):
        self.user_errors = tuple(user_errors)
        self.operation = operation
        text = "; ".join(
            f"{'.'.join(e.field) + ': ' if e.field else ''}{e.message}" for e in self.user_errors
        )
        super().__init__(f"{operation}: {text}", code="shopify_user_errors")
