"""Portal views outside the ModelAdmins: the merchant switcher in the header."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tenants.middleware import SESSION_MERCHANT_KEY
from tenants.request_scope import allowed_merchant_ids
from tenants.selectors import merchants_by_ids

ALL_MERCHANTS = "all"
# After switching, a page about one object of the previous merchant would be a 404: go to the
# list of the same kind of object instead.
_OBJECT_VIEW_SUFFIXES = ("_change", "_delete", "_history")


def merchant_switcher_context(request: HttpRequest) -> dict[str, Any]:
    """What the header shows: the current merchant (or "All my merchants") and the choices."""
    allowed = allowed_merchant_ids(request)
    merchants = list(merchants_by_ids(allowed))
    in_scope = frozenset(getattr(request, "merchant_ids", allowed))
    current = next((m for m in merchants if in_scope == {m.pk}), None)
    agencies = {m.agency_id for m in merchants}
    return {
        "merchants": [
            {
                "id": m.pk,
                "name": m.name,
                "agency": m.agency.name if len(agencies) > 1 else "",
                "selected": current is not None and current.pk == m.pk,
            }
            for m in merchants
        ],
        "current": current,
        "label": current.name if current else f"All my merchants ({len(merchants)})",
        "can_switch": len(merchants) > 1,
        "all_value": ALL_MERCHANTS,
        "action": reverse("portal:switch_merchant"),
    }


def _redirect_target(request: HttpRequest) -> str:
    fallback = reverse("portal:index")
    target = request.POST.get("next") or fallback
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return fallback
    try:
        match = resolve(target.split("?", 1)[0])
    except Resolver404:
        return fallback
    if match.namespace == "portal" and match.url_name:
        for suffix in _OBJECT_VIEW_SUFFIXES:
            if match.url_name.endswith(suffix):
                changelist = match.url_name[: -len(suffix)] + "_changelist"
                return reverse(f"portal:{changelist}")
    return target


@require_POST
def switch_merchant(request: HttpRequest) -> HttpResponseRedirect:
    """Narrow the portal to one merchant, or widen it to all of the user's merchants.

    Only merchants the user may see are accepted; any other value is a 404, so the answer does
    not tell whether a merchant exists.
    """
    value = (request.POST.get("merchant") or "").strip()
    if value in ("", ALL_MERCHANTS):
        request.session.pop(SESSION_MERCHANT_KEY, None)
    else:
        if not value.isdigit() or int(value) not in allowed_merchant_ids(request):
            raise Http404("No such merchant.")
        request.session[SESSION_MERCHANT_KEY] = int(value)
    return HttpResponseRedirect(_redirect_target(request))


def staff_environment(request: HttpRequest) -> list[str]:
    """The staff admin's header label: a reminder that it works across tenants."""
    return ["All tenants", "warning"]
