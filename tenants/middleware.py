"""Sets the tenant scope for each portal request, and clears it afterwards."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from tenants import scope
from tenants.models import StaffAccess
from tenants.selectors import merchant_ids_for_user

# The portal's merchant switcher keeps the chosen merchant here; absent means "all mine".
SESSION_MERCHANT_KEY = "keelson_merchant_id"
STAFF_ADMIN_PREFIX = "/admin/"


class UserLanguageMiddleware:
    """A signed-in user's saved language (``User.language``) for the request, over the browser's.

    After ``AuthenticationMiddleware`` (it needs the user) and ``LocaleMiddleware`` (which chose
    from the cookie or Accept-Language, and sets Content-Language from whatever is active when
    the response leaves). A blank setting leaves LocaleMiddleware's choice alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language and user.is_authenticated and translation.check_for_language(language):
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class TenantScopeMiddleware:
    """Scope = the merchants the logged-in user may see, narrowed to the one chosen in the
    portal's switcher. Superusers in the staff admin work across tenants on the record."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        allowed: frozenset[int] = frozenset()
        if user is not None and user.is_authenticated:
            allowed = merchant_ids_for_user(user)
        chosen = request.session.get(SESSION_MERCHANT_KEY) if hasattr(request, "session") else None
        in_scope = frozenset({chosen}) if chosen in allowed else allowed
        request.allowed_merchant_ids = allowed
        request.merchant_ids = in_scope
        token = scope.set_scope(in_scope if in_scope else None)
        try:
            if (
                user is not None
                and user.is_authenticated
                and user.is_superuser
                and request.path.startswith(STAFF_ADMIN_PREFIX)
            ):
                with scope.system_context(f"staff admin: {user.get_username()} {request.path}"):
                    response = self.get_response(request)
                    record_staff_access(request, response)
                    return response
            return self.get_response(request)
        finally:
            scope.reset_scope(token)


# Not worth a record: the admin's own JavaScript catalogue.
UNAUDITED_SUFFIXES = ("/jsi18n/",)


def record_staff_access(request: HttpRequest, response: HttpResponse) -> None:
    """Who, what and when, for every staff-admin request of a superuser (issue 14)."""
    if request.path.endswith(UNAUDITED_SUFFIXES):
        return
    user = request.user
    StaffAccess.objects.create(
        user=user,
        username=user.get_username(),
        method=request.method[:10],
        path=request.path[:500],
        query=request.META.get("QUERY_STRING", "")[:1000],
        status_code=response.status_code,
        ip_address=request.META.get("REMOTE_ADDR") or None,
    )
