"""Security headers Django 5.2 does not set by itself (issue 14): a Content-Security-Policy,
sent when not in debug (``KEELSON_CSP`` replaces it; empty turns it off).

The policy allows only this site's own scripts, styles, images and fonts (the portal's admin
theme inlines small scripts and uses Alpine.js, which evaluates its attributes: hence
'unsafe-inline' and 'unsafe-eval' for scripts), no plugins, no framing by other sites, and
forms that post here or to Amazon's Seller Central (connecting an account ends in a redirect
there, which browsers check against ``form-action``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

SELLER_CENTRAL = (
    "https://sellercentral.amazon.com",
    "https://sellercentral-europe.amazon.com",
    "https://sellercentral.amazon.co.jp",
)


def default_policy(extra_form_actions: tuple[str, ...] = ()) -> str:
    form_action = " ".join(("'self'", *SELLER_CENTRAL, *extra_form_actions))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            f"form-action {form_action}",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "KEELSON_CSP", "")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response
