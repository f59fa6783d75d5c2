"""Which merchants a portal request works on: the user's roles (computed once per request) and
the merchant switcher's choice among them. Used by every portal page, tenants' and above."""

from __future__ import annotations

from django.http import HttpRequest

from tenants.policy import Access
from tenants.selectors import access_for_user, merchant_ids_for_user

_ACCESS_ATTR = "_keelson_access"


def portal_access(request: HttpRequest) -> Access:
    """The user's roles merchant by merchant, computed once per request."""
    access = getattr(request, _ACCESS_ATTR, None)
    if access is None:
        access = access_for_user(request.user)
        setattr(request, _ACCESS_ATTR, access)
    return access


def request_scope(request: HttpRequest) -> frozenset[int]:
    """The merchants this request works on: the switcher's choice among the user's merchants."""
    in_scope = frozenset(getattr(request, "merchant_ids", None) or ())
    return in_scope & portal_access(request).merchant_ids


def allowed_merchant_ids(request: HttpRequest) -> frozenset[int]:
    """The merchants the logged-in user may see (set by ``TenantScopeMiddleware``)."""
    allowed = getattr(request, "allowed_merchant_ids", None)
    if allowed is None:
        user = getattr(request, "user", None)
        allowed = merchant_ids_for_user(user) if user is not None else frozenset()
    return frozenset(allowed)
