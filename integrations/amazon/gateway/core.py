"""The gateway's core: one client per call, every call through our rate limiter, bounded
retries with the waits Amazon asks for, and the library's exceptions mapped to ours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import exceptions as sp_exceptions

from integrations.amazon.gateway.config import (
    AmazonCredentials,
    _lwa_client_class,
    _Marketplace,
    tls_context,
)
from integrations.amazon.gateway.errors import (
    AmazonAuthFailed,
    AmazonError,
    AmazonPermanentError,
    AmazonThrottled,
    AmazonTransientError,
)
from integrations.amazon.ratelimit import RateBudgetExceeded, RateLimiter

# The gateway logs as one logger, whichever module of it speaks.
logger = logging.getLogger("integrations.amazon.gateway")

T = TypeVar("T")


class GatewayCore:
    """One seller's SP-API: the clients, our rate limiting, retries and error mapping. The API
    groups (orders, finances, notifications, feeds) build on it."""

    def __init__(
        self,
        credentials: AmazonCredentials,
        *,
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        max_wait: float = 120.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials = credentials
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self._sleep = sleep

    # Clients are cheap to make once the TLS context is shared (tls_context: 0.4 ms, against
    # 100 ms of CPU without it); one per call keeps workers independent of each other.
    def _client(self, api_class, marketplace_id: str | None = None, **kw: Any):
        creds = self.credentials
        mp_id = marketplace_id or creds.marketplace_ids[0]
        return api_class(
            marketplace=_Marketplace(creds.endpoint, mp_id, creds.region),
            refresh_token=creds.refresh_token,
            credentials={"lwa_app_id": creds.client_id, "lwa_client_secret": creds.client_secret},
            auth_token_client_class=_lwa_client_class(creds.lwa_token_url),
            timeout=self.timeout,
            verify=tls_context(),  # made once: see tls_context
            **kw,
        )

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """Run one SP-API call under the rate limiter, retrying 429s and transient errors."""
        seller = self.credentials.selling_partner_id
        last: AmazonError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.limiter.acquire(seller, operation, max_wait=self.max_wait)
            except RateBudgetExceeded as exc:
                raise AmazonThrottled(str(exc), retry_after=exc.wait, code="rate_budget") from exc
            try:
                return fn()
            except AmazonThrottled as exc:
                last = exc
                self.limiter.throttled(seller, operation)
                self._sleep(min(exc.retry_after, self.max_wait))
            except AmazonTransientError as exc:
                last = exc
                self._sleep(min(2.0 ** (attempt - 1), 30.0, self.max_wait))
            logger.info("amazon %s attempt %s failed: %s", operation, attempt, last)
        assert last is not None
        raise last

    def _invoke(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an sp_api method and map what it raises or returns to our errors."""
        try:
            response = method(*args, **kwargs)
        except sp_exceptions.SellingApiRequestThrottledException as exc:
            raise AmazonThrottled(
                _message(exc),
                retry_after=_retry_after(exc.headers),
                code="QuotaExceeded",
                status=429,
            ) from exc
        except AuthorizationError as exc:
            if (exc.status_code or 0) >= 500:
                raise AmazonTransientError(_message(exc), status=exc.status_code) from exc
            raise AmazonAuthFailed(
                _message(exc), code="auth_failed", status=exc.status_code
            ) from exc
        except sp_exceptions.SellingApiForbiddenException as exc:
            raise AmazonAuthFailed(_message(exc), code="auth_failed", status=403) from exc
        except (
            sp_exceptions.SellingApiServerException,
            sp_exceptions.SellingApiTemporarilyUnavailableException,
            sp_exceptions.SellingApiGatewayTimeoutException,
        ) as exc:
            raise AmazonTransientError(_message(exc), status=exc.code) from exc
        except sp_exceptions.SellingApiException as exc:
            amzn_code = getattr(exc, "amzn_code", "") or ""
            if type(exc) is sp_exceptions.SellingApiException:
                # A status the library has no class for (401, 502, ...): it keeps no status.
                if amzn_code in ("Unauthorized", "InvalidAccessToken", "AccessDenied"):
                    raise AmazonAuthFailed(_message(exc), code="auth_failed") from exc
                raise AmazonTransientError(_message(exc), code=amzn_code) from exc
            raise AmazonPermanentError(_message(exc), code=amzn_code, status=exc.code) from exc
        except (httpx.TransportError, ValueError) as exc:
            # Connection trouble, or a body that is not JSON at all.
            raise AmazonTransientError(f"{type(exc).__name__}: {exc}") from exc
        return response

    def _payload(self, response: Any, what: str, key: str | None = None) -> Any:
        """The response's payload; a transient error when it is missing or lacks ``key``.

        The library turns a body that is not JSON (a truncated or HTML page) into an empty
        payload (``{}``), not an error: without this check a malformed getOrders page would
        read as an empty last page, and the caller would move its cursor past orders it never
        saw. ``key`` is a member the model requires (``Orders``, ``OrderItems``, ``orders``).
        """
        payload = getattr(response, "payload", None)
        if payload is None or (
            key is not None and (not isinstance(payload, dict) or key not in payload)
        ):
            raise AmazonTransientError(f"{what}: response without a payload (malformed page?)")
        return payload


def _message(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    error = getattr(exc, "error", None)
    if error:
        return str(error)
    return str(exc) or type(exc).__name__


def _retry_after(headers: Any) -> float:
    """Amazon's 429 carries no Retry-After; x-amzn-RateLimit-Limit (req/s) gives the pace."""
    if not headers:
        return 1.0
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            pass
    limit = headers.get("x-amzn-RateLimit-Limit") if hasattr(headers, "get") else None
    try:
        rate = float(limit) if limit else 0.0
    except ValueError:
        rate = 0.0
    return min(60.0, 1.0 / rate) if rate > 0 else 1.0
