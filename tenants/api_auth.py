"""API authentication: `Authorization: Bearer <key>`, and scope permissions (api.md).

``ApiKeyAuthentication`` finds the key by its hash, sets the tenant scope to the merchants the
key may see (``TenantScopeMiddleware`` restores the previous scope when the request ends, so
nothing leaks to the next request on the thread) and records when the key was last used.

Every API view declares the scope it needs, and ``HasScope`` (the default permission) checks
it; a view that declares nothing is refused (fail closed)::

    class OrderViewSet(viewsets.ReadOnlyModelViewSet):
        required_scope = ApiScope.ORDERS_READ          # every method
        # or, per HTTP method:
        required_scopes = {"GET": ApiScope.ORDERS_READ, "POST": ApiScope.ORDERS_WRITE}
        # or, for endpoints any key may call (GET /merchants/):
        required_scope = ANY_SCOPE
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions

from tenants import scope
from tenants.models import ApiKey, hash_api_key
from tenants.selectors import active_api_key_by_hash, merchants_for_api_key
from tenants.services import record_api_key_use

# last_used_at is written at most this often per key, so reads stay (almost) reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A view's `required_scope` for operations any valid key may call.
ANY_SCOPE = "any"
_SAFE_FALLBACK = {"HEAD": "GET", "OPTIONS": "GET"}


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Bearer API keys. Sets the tenant scope to the merchants the key may see."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(
                _("Use 'Authorization: Bearer <key>' with an API key from the portal.")
            )
        key = active_api_key_by_hash(hash_api_key(parts[1]))
        if key is None:
            raise exceptions.AuthenticationFailed(_("This API key is unknown or was revoked."))
        if key.merchant_id and not key.merchant.is_active:
            raise exceptions.AuthenticationFailed(_("The merchant of this API key is deactivated."))
        merchant_ids = frozenset(merchants_for_api_key(key).values_list("id", flat=True))
        # The middleware restores the previous scope when the request ends.
        scope.set_scope(merchant_ids if merchant_ids else None)
        request.merchant_ids = merchant_ids
        record_api_key_use(key, at=timezone.now(), resolution=LAST_USED_RESOLUTION)
        return (ApiKeyPrincipal(key), key)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class ApiKeyPrincipal:
    """Stands in for request.user on API requests: the key, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    is_staff = False

    def __init__(self, key: ApiKey):
        self.key = key
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.key.prefix}"

    def get_username(self) -> str:
        return str(self)


class HasApiKey(permissions.BasePermission):
    message = _("This endpoint needs an API key: 'Authorization: Bearer <key>'.")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class HasScope(HasApiKey):
    """Requires an API key carrying the view's `required_scopes[method]` or `required_scope`."""

    message = _("This API key lacks the scope this operation needs.")

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # no such operation (TRACE, ...): DRF answers 405 next
        needed = required_scope_for(view, request.method)
        if needed == ANY_SCOPE or needed in request.auth.scopes:
            return True
        self.message = _(
            "This operation needs the scope %(needed)s; ask for a key with it in the portal."
        ) % {"needed": needed}
        return False


def declared_scope(view, method: str) -> str | None:
    """The scope a view (class or instance) declares for an HTTP method, or None."""
    method = method.upper()
    by_method = getattr(view, "required_scopes", None)
    if by_method:
        found = by_method.get(method) or by_method.get(_SAFE_FALLBACK.get(method, ""))
        if found:
            return found
    return getattr(view, "required_scope", None)


def required_scope_for(view, method: str) -> str:
    """The scope a view requires for a method; a view that declares none is misconfigured."""
    needed = declared_scope(view, method)
    if not needed and method.upper() == "OPTIONS":
        return ANY_SCOPE  # DRF's description of the endpoint; no data
    if not needed:
        raise ImproperlyConfigured(
            f"{type(view).__name__} declares no required_scope(s) for {method}: set "
            "`required_scope` (an ApiScope, or ANY_SCOPE) or `required_scopes` by method."
        )
    return needed
