"""The RateLimit headers (IETF draft httpapi-ratelimit-headers) on API answers.

A throttle that counted the request against a budget leaves its ``foundation.ratelimit.Decision``
on the request (``remember``); ``RateLimitHeadersMiddleware`` then puts ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` and ``RateLimit-Policy`` on whatever the view
answered: a success, a refusal by the use case, a replayed idempotent answer, or the 429 itself
(whose ``Retry-After`` the problem handler sets from the throttle's wait). A request that was
refused before it was counted (no key: 401; a scope it lacks: 403) has no budget to report.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from foundation.ratelimit import Decision

_ATTRIBUTE = "keelson_rate_limit"


def remember(request: HttpRequest, decision: Decision) -> None:
    """Keep the decision for the headers (``request`` is Django's, under DRF's)."""
    setattr(request, _ATTRIBUTE, decision)


def decision_of(request: HttpRequest) -> Decision | None:
    return getattr(request, _ATTRIBUTE, None)


class RateLimitHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        decision = decision_of(request)
        if decision is not None:
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
        return response
