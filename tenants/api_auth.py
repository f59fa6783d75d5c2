"""API authentication: `Authorization: Bearer <key>`, and scope permissions (api.md)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from tenants import scope
from tenants.models import ApiKey, hash_api_key
from tenants.selectors import active_api_key_by_hash, merchants_for_api_key

# last_used_at is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
                "Use 'Authorization: Bearer <key>' with an API key from the portal."
            )
        key = active_api_key_by_hash(hash_api_key(parts[1]))
        if key is None:
            raise exceptions.AuthenticationFailed("This API key is unknown or was revoked.")
        merchant_ids = frozenset(merchants_for_api_key(key).values_list("id", flat=True))
        # The middleware resets the scope when the request ends.
        scope.set_scope(merchant_ids if merchant_ids else None)
        request.merchant_ids = merchant_ids
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return (ApiKeyPrincipal(key), key)

    def authenticate_header(self, request):
        return self.keyword


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
    message = "This endpoint needs an API key: 'Authorization: Bearer <key>'."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class HasScope(HasApiKey):
    """Requires the key to carry the view's `required_scopes[method]` (or `required_scope`)."""

    message = "This API key lacks the scope this operation needs."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        needed = required_scope_for(view, request.method)
        return needed is None or needed in request.auth.scopes


def required_scope_for(view, method: str) -> str | None:
    by_method = getattr(view, "required_scopes", None)
    if by_method:
        return by_method.get(method.upper(), by_method.get("*"))
    return getattr(view, "required_scope", None)
