"""Rate limits of the partner API: per API key and per scope class (issue 14).

Each key has two budgets (``settings.KEELSON_API_RATE_LIMITS``): ``read`` for the operations
that need a ``*:read`` scope or any key (GET), ``write`` for those that need a ``*:write`` scope
(POST). Two keys of one merchant have budgets of their own. The counting is
``foundation.ratelimit`` (one PostgreSQL statement, shared by every worker and host); this
class only names the bucket and turns a refusal into DRF's 429, which the problem handler
renders as ``rate_limited`` with ``Retry-After``.

DRF runs throttles after authentication and permissions, before the handler: a refused request
never reaches the use case, nor the ``@idempotent`` wrapper (its key is not used up). Requests
without a key (401) or without the scope (403) are not counted.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from foundation import ratelimit
from foundation.api.ratelimit import remember
from tenants.api_auth import declared_scope
from tenants.models import ApiKey

READ = "read"
WRITE = "write"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def scope_class(scope: str | None, method: str) -> str:
    """``write`` for an operation needing a ``*:write`` scope (or a method that changes
    something), else ``read``."""
    if (scope or "").endswith(":write") or method.upper() not in _SAFE_METHODS:
        return WRITE
    return READ


def policy_for(scope_class_name: str) -> ratelimit.Policy:
    limit, window = settings.KEELSON_API_RATE_LIMITS[scope_class_name]
    return ratelimit.Policy(int(limit), int(window))


class RateLimited(exceptions.Throttled):
    """DRF's 429 with our own sentence (DRF's appends "Expected available in N seconds")."""

    def __init__(self, *, wait: int, detail: str):
        exceptions.APIException.__init__(self, detail, "rate_limited")
        self.wait = wait


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # public views (the schema, the docs)
        kind = scope_class(declared_scope(view, request.method), request.method)
        policy = policy_for(kind)
        decision = ratelimit.consume(f"api-key:{key.pk}:{kind}", policy)
        remember(request._request, decision)
        if decision.allowed:
            return True
        noun = "reads" if kind == READ else "writes"
        raise RateLimited(
            wait=decision.retry_after,
            detail=(
                f"Too many {noun} with this API key: {policy.limit} are allowed every "
                f"{policy.window} seconds. Retry in {decision.retry_after} seconds."
            ),
        )
