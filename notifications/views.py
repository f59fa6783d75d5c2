"""The portal's notification pages (rules R4, A9, B5): the user's own notifications for the
merchants in scope, and marking them read. Wired into ``portal.site.PortalSite.get_urls``
behind ``admin_view`` (login, membership, tenant scope).

Reads go through ``notifications.selectors``, writes through ``notifications.services``; the
queries are the scoped manager's (and row-level security's), narrowed explicitly to the
request's merchants and to the logged-in user's own copies.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from notifications import selectors, services
from notifications.forms import NotificationSettingsForm
from tenants.request_scope import request_scope

PER_PAGE = 25
BADGE_ATTR = "_keelson_unread_notifications"


def request_merchant_ids(request: HttpRequest) -> frozenset[int]:
    return request_scope(request)


def unread_badge(request: HttpRequest) -> int:
    """The header's unread count: one count query per request, however often it is asked."""
    cached = getattr(request, BADGE_ATTR, None)
    if cached is None:
        cached = selectors.unread_count(request.user, request_merchant_ids(request))
        setattr(request, BADGE_ATTR, cached)
    return cached


def notification_list(request: HttpRequest, site) -> TemplateResponse:
    scope = request_merchant_ids(request)
    unread_only = request.GET.get("unread") == "1"
    queryset = selectors.notifications_for(
        request.user, unread_only=unread_only, merchant_ids=scope
    )
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    items = []
    for recipient in page.object_list:
        note = recipient.notification
        items.append(
            {
                "id": recipient.pk,
                "title": note.display_title,
                "body": note.display_body,
                "kind": note.get_kind_display(),
                "merchant": note.merchant.name,
                "created_at": note.created_at,
                "unread": recipient.read_at is None,
                "order": note.order,
                "order_url": (
                    reverse("portal:orders_order_change", args=[note.order_id])
                    if note.order_id
                    else None
                ),
                "read_url": reverse("portal:notification_read", args=[recipient.pk]),
            }
        )
    context = {
        **site.each_context(request),
        "title": _("Notifications"),
        "items": items,
        "page": page,
        "unread_only": unread_only,
        "several_merchants": len(scope) > 1,
        "read_all_url": reverse("portal:notifications_read_all"),
        "list_url": reverse("portal:notifications"),
        "settings_url": reverse("portal:notification_settings"),
    }
    request.current_app = site.name
    return TemplateResponse(request, "portal/notifications.html", context)


def _back(request: HttpRequest) -> HttpResponseRedirect:
    fallback = reverse("portal:notifications")
    target = request.POST.get("next") or fallback
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return HttpResponseRedirect(target)


@require_POST
def mark_read(request: HttpRequest, recipient_id: int) -> HttpResponseRedirect:
    """Mark one of the user's notifications read. Another user's (or tenant's) id changes
    nothing and says nothing about it."""
    services.mark_read(request.user, [recipient_id], merchant_ids=request_merchant_ids(request))
    return _back(request)


@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponseRedirect:
    """Mark every notification of the merchants in scope read."""
    count = services.mark_read(request.user, merchant_ids=request_merchant_ids(request))
    if count:
        messages.success(
            request,
            ngettext(
                "Marked %(count)s notification read.", "Marked %(count)s notifications read.", count
            )
            % {"count": count},
        )
    else:
        messages.info(request, _("No unread notifications."))
    return _back(request)


def notification_settings(request: HttpRequest, site) -> TemplateResponse | HttpResponseRedirect:
    """The user's own choices, per kind: in the portal, by e-mail (for every merchant they see).
    Nothing here depends on a merchant or a role: each person chooses for themselves."""
    table = selectors.preference_table(request.user)
    if request.method == "POST":
        form = NotificationSettingsForm(request.POST, table=table)
        if form.is_valid():
            services.set_preferences(request.user, form.choices())
            messages.success(request, gettext("Your notification settings are saved."))
            return HttpResponseRedirect(reverse(f"{site.name}:notification_settings"))
    else:
        form = NotificationSettingsForm(table=table)
    context = {
        **site.each_context(request),
        "title": gettext("Notification settings"),
        "form": form,
        "email_off": not (request.user.email_notifications and request.user.email),
        "list_url": reverse(f"{site.name}:notifications"),
    }
    request.current_app = site.name
    return TemplateResponse(request, "portal/notification_settings.html", context)
