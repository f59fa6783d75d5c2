"""The two admin sites, both styled by django-unfold.

- ``portal_site`` at ``/``: agency and merchant users, scoped to the merchants their memberships
  give them (and narrowed by the merchant switcher in the header). Portal users are not Django
  staff; what they may do follows from their roles (``tenants.policy``), applied by
  ``tenants.admin.TenantScopedAdminMixin`` on every portal ModelAdmin.
- ``StaffAdminSite`` (``django.contrib.admin.site``) at ``/admin/``: platform superusers only,
  working across tenants on the record (``tenants.middleware`` opens the audited bypass).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.forms import AuthenticationForm
from unfold.sites import UnfoldAdminSite

from notifications import views as notification_views
from notifications.views import notification_list, unread_badge
from portal import views
from portal.dashboard import dashboard_context
from portal.views import merchant_switcher_context
from tenants.request_scope import allowed_merchant_ids
from tenants.selectors import merchant_ids_for_user


class PortalAuthenticationForm(AuthenticationForm):
    """Portal login: any active user with a membership that reaches an active merchant."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Please enter a correct username and password."),
        "no_merchants": (
            _(
                "This account has no access to any merchant yet. Ask your agency or merchant "
                "admin to invite you."
            )
        ),
    }

    def confirm_login_allowed(self, user) -> None:
        # Not AdminAuthenticationForm's check (is_staff): portal users are not Django staff.

        if not user.is_active:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
        if not merchant_ids_for_user(user):
            raise forms.ValidationError(self.error_messages["no_merchants"], code="no_merchants")


class PortalSite(UnfoldAdminSite):
    """The merchant and agency portal."""

    settings_name = "UNFOLD_PORTAL"
    site_title = "Keelson"
    site_header = "Keelson"
    index_title = _("Dashboard")
    index_template = "portal/dashboard.html"
    login_form = PortalAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        return bool(allowed_merchant_ids(request))

    def get_urls(self):

        return [
            path(
                "merchant/switch/",
                self.admin_view(views.switch_merchant),
                name="switch_merchant",
            ),
            path("language/", views.set_language, name="set_language"),
            path(
                "settings/",
                self.admin_view(self.user_settings_view),
                name="user_settings",
            ),
            path(
                "notifications/",
                self.admin_view(self.notifications_view),
                name="notifications",
            ),
            path(
                "notifications/settings/",
                self.admin_view(self.notification_settings_view),
                name="notification_settings",
            ),
            path(
                "notifications/read-all/",
                self.admin_view(notification_views.mark_all_read),
                name="notifications_read_all",
            ),
            path(
                "notifications/<int:recipient_id>/read/",
                self.admin_view(notification_views.mark_read),
                name="notification_read",
            ),
            *super().get_urls(),
        ]

    def user_settings_view(self, request: HttpRequest):
        return views.user_settings(request, self)

    def notifications_view(self, request: HttpRequest) -> TemplateResponse:

        return notification_list(request, self)

    def notification_settings_view(self, request: HttpRequest):
        return notification_views.notification_settings(request, self)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        if self.has_permission(request):
            context["merchant_switcher"] = merchant_switcher_context(request)
            context["language_switcher"] = views.language_switcher_context(request)
            context["user_settings_url"] = reverse(f"{self.name}:user_settings")
            context["notification_badge"] = {
                "unread": unread_badge(request),
                "url": reverse(f"{self.name}:notifications"),
            }
        return context

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})


class StaffAdminSite(UnfoldAdminSite):
    """Django's admin for platform staff: superusers only (``django.contrib.admin.site``)."""

    site_title = _("Keelson staff")
    site_header = _("Keelson staff")
    index_title = _("All tenants")

    def has_permission(self, request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_active and user.is_superuser)


portal_site = PortalSite(name="portal")


def _navigation(site: UnfoldAdminSite, request: HttpRequest, dashboard: str) -> list[dict]:
    """Sidebar groups built from the site's registry, so a new ModelAdmin appears by itself.

    A ModelAdmin may set ``icon`` (a Material Symbols name) for its sidebar entry.
    """
    groups: list[dict] = [
        {
            "items": [
                {
                    "title": dashboard,
                    "icon": "dashboard",
                    "link": reverse(f"{site.name}:index"),
                }
            ]
        }
    ]
    for app in site.get_app_list(request):
        items = []
        for model in app["models"]:
            if not model.get("admin_url"):
                continue
            model_admin = site._registry.get(model["model"])
            items.append(
                {
                    "title": model["name"],
                    "icon": getattr(model_admin, "icon", None) or "table_rows",
                    "link": model["admin_url"],
                }
            )
        if items:
            groups.append({"title": app["name"], "separator": True, "items": items})
    return groups


def portal_navigation(request: HttpRequest) -> list[dict]:
    groups = _navigation(portal_site, request, _("Dashboard"))
    groups[0]["items"].append(
        {
            "title": _("Notifications"),
            "icon": "notifications",
            "link": reverse(f"{portal_site.name}:notifications"),
        }
    )
    return groups


def staff_navigation(request: HttpRequest) -> list[dict]:
    from django.contrib import admin

    return _navigation(admin.site, request, _("Staff home"))
