"""Portal views outside the ModelAdmins: the merchant and language switchers in the header, and
the signed-in user's own settings page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.middleware import SESSION_MERCHANT_KEY
from tenants.models import User
from tenants.request_scope import allowed_merchant_ids
from tenants.selectors import merchants_by_ids
from tenants.services import update_user_settings

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
        "label": current.name
        if current
        else _("All my merchants (%(count)s)") % {"count": len(merchants)},
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
            raise Http404(_("No such merchant."))
        request.session[SESSION_MERCHANT_KEY] = int(value)
    return HttpResponseRedirect(_redirect_target(request))


def staff_environment(request: HttpRequest) -> list[str]:
    """The staff admin's header label: a reminder that it works across tenants."""
    return [_("All tenants"), "warning"]


def language_switcher_context(request: HttpRequest) -> dict[str, Any]:
    """The header's language menu: each language named in itself, the active one selected."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    return {
        "action": reverse("portal:set_language"),
        "languages": [
            {
                "code": code,
                "name": translation.get_language_info(code)["name_local"],
                "selected": code == current or current.startswith(code + "-"),
            }
            for code, _name in settings.LANGUAGES
        ],
    }


@require_POST
def set_language(request: HttpRequest) -> HttpResponseRedirect:
    """As Django's ``set_language`` (the cookie, for pages before sign-in), and the choice saved
    on the user, so it follows them to other browsers and to their e-mails."""
    code = (request.POST.get("language") or "").strip()
    response = HttpResponseRedirect(_redirect_target(request))
    if code not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        update_user_settings(user=request.user, changes={"language": code})
    _remember_language(request, response, code)
    return response


def _remember_language(request: HttpRequest, response: HttpResponseRedirect, code: str) -> None:
    """The language cookie (LocaleMiddleware reads it before sign-in); none for "the browser's"."""
    if not code:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE or request.is_secure(),
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class UserSettingsForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "language", "email_notifications"]


def user_settings(request: HttpRequest, site) -> TemplateResponse | HttpResponseRedirect:
    """The signed-in user's own settings: name, e-mail, language, e-mail notifications."""
    user = request.user
    form = UserSettingsForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        update_user_settings(
            user=user, changes={f: form.cleaned_data[f] for f in UserSettingsForm.Meta.fields}
        )
        if user.language:
            translation.activate(user.language)
        messages.success(request, _("Your settings were saved."))
        response = HttpResponseRedirect(reverse("portal:user_settings"))
        _remember_language(request, response, user.language)
        return response
    context = {**site.each_context(request), "title": _("My settings"), "form": form}
    return TemplateResponse(request, "portal/user_settings.html", context)
