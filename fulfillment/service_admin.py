"""The portal's fulfillment-service pages (composed and registered by ``portal/admin.py``): a
merchant's or an agency's own services, set up without staff.

- The list: each service's owner, workflow, callback, connection state (connected, failing
  with its last error and time, disconnected, not tested), which merchants it is the default
  of, and its key; "Test connection" as a list action.
- Adding one (``FulfillmentServiceCreateForm``): name, owner, workflow, callback URL (https
  outside DEBUG), the merchants it serves; its API key and signing secret are shown once.
- Its page: the settings, and a panel (``fulfillment/portal/service_panel.html``) with "Test
  connection", "Issue a new key", "Revoke key", "Issue a new signing secret", its locations
  (add, remove, make default) and "Deactivate" / "Reactivate". Each button is one use case
  (``fulfillment.services``); a rule that refuses is a message on the page.

Who may act: merchant admins on their merchant's services, agency owners and admins on their
agency's (``tenants.policy``, ``admin_only``); a merchant admin may also choose an agency's
service that serves its merchant as its default. Staff and viewers see the pages without the
buttons, and a forged POST is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from foundation.api.errors import DomainError
from foundation.i18n import localize
from fulfillment import services
from fulfillment.forms import (
    FulfillmentServiceCreateForm,
    FulfillmentServiceForm,
    LocationForm,
    parse_skus,
)
from fulfillment.models import ConnectionStatus, FulfillmentLocation, FulfillmentService
from fulfillment.services import Actor
from tenants.admin import MerchantOrAgencyOwnedAdminMixin, status_label
from tenants.models import Agency, Merchant
from tenants.policy import Capability
from tenants.request_scope import portal_access

CONNECTION_VARIANT = {
    ConnectionStatus.CONNECTED: "success",
    ConnectionStatus.FAILING: "danger",
    ConnectionStatus.DISCONNECTED: "warning",
    ConnectionStatus.NOT_TESTED: "default",
}
# The actions of a service's page, each one use case; all need the change capability (admins).
SERVICE_ACTIONS = frozenset(
    {
        "test_connection",
        "issue_key",
        "revoke_key",
        "rotate_secret",
        "deactivate",
        "reactivate",
        "add_location",
        "remove_location",
    }
)

# What only an active service does (testing a deactivated one says so itself).
ACTIVE_ONLY_ACTIONS = SERVICE_ACTIONS - {"test_connection", "reactivate", "deactivate"}


def require_https() -> bool:
    """Callbacks go over https, except in a development set-up (DEBUG)."""
    return not settings.DEBUG


def _when(value) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else ""


def no_store(response: HttpResponse) -> HttpResponse:
    # The page holds a secret: never cache it, anywhere.
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    return response


@dataclass
class LocationRow:
    location: FulfillmentLocation
    can_remove: bool
    can_make_default: bool


class FulfillmentServicePortalAdmin(MerchantOrAgencyOwnedAdminMixin, ModelAdmin):
    icon = "warehouse"
    admin_only = frozenset({Capability.ADD, Capability.CHANGE, Capability.DELETE})
    form = FulfillmentServiceForm
    list_display = [
        "name",
        "owner",
        "workflow",
        "callback",
        "connection",
        "default_for",
        "key_state",
    ]
    list_filter = ["connection_status", "workflow"]
    search_fields = ["name"]
    ordering = ["name", "id"]
    actions = ["test_connection"]
    readonly_fields = ["owner", "created_at"]
    change_form_outer_after_template = "fulfillment/portal/service_panel.html"

    # -- scope: a merchant's own services; an agency's, for its members and the merchants it
    #    serves --------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        scope = sorted(self.scope_ids(request))
        serves_scope = FulfillmentLocation.objects.filter(
            service=OuterRef("pk"), merchant_id__in=scope, is_active=True
        )
        # The list names only the merchants in scope (an agency's service serves others too).
        active_locations = FulfillmentLocation.objects.filter(
            is_active=True, merchant_id__in=scope
        ).select_related("merchant")
        return (
            ModelAdmin.get_queryset(self, request)
            .filter(
                Q(merchant_id__in=scope)
                | Q(merchant__isnull=True, agency_id__in=sorted(self.visible_agency_ids(request)))
                | Q(merchant__isnull=True, agency__isnull=False) & Exists(serves_scope)
            )
            .select_related("agency", "merchant", "api_key")
            .prefetch_related(
                Prefetch("locations", queryset=active_locations, to_attr="active_locations")
            )
        )

    def portal_can(self, request, capability, obj=None) -> bool:
        if capability == Capability.DELETE:
            return False  # deactivate instead: its fulfillment orders keep it for the record
        access = portal_access(request)
        agencies = self.visible_agency_ids(request)
        if obj is None:
            if any(access.can_on_agency(capability, a) for a in agencies):
                return True
            return super().portal_can(request, capability)
        if obj.merchant_id is not None:
            return super().portal_can(request, capability, obj)
        if obj.agency_id in agencies and access.can_on_agency(capability, obj.agency_id):
            return True
        # Merchant users see the agency's services that serve their merchant, read-only.
        return (
            capability == Capability.VIEW and self.get_queryset(request).filter(pk=obj.pk).exists()
        )

    # -- columns ----------------------------------------------------------------------------

    @admin.display(description=gettext_lazy("Belongs to"))
    def owner(self, obj: FulfillmentService) -> str:
        if obj.merchant_id is not None:
            return str(obj.merchant)
        return _("%(agency)s (agency: shared by its merchants)") % {"agency": obj.agency}

    @admin.display(description=gettext_lazy("Callback"))
    def callback(self, obj: FulfillmentService) -> str:
        return obj.callback_url or _("None: it polls the API")

    @admin.display(description=gettext_lazy("Connection"), ordering="connection_status")
    def connection(self, obj: FulfillmentService) -> str:
        badge = status_label(
            obj.get_connection_status_display(), CONNECTION_VARIANT.get(obj.connection_status)
        )
        detail = ""
        if obj.connection_status == ConnectionStatus.FAILING:
            detail = _("%(error)s (%(when)s)") % {
                "error": obj.connection_error,
                "when": _when(obj.connection_checked_at),
            }
        elif obj.connection_status == ConnectionStatus.CONNECTED:
            detail = _("checked %(when)s") % {"when": _when(obj.connection_checked_at)}
        elif obj.connection_status == ConnectionStatus.DISCONNECTED:
            detail = _("deactivated: no requests go to it")
        elif not obj.callback_url:
            detail = _("no callback URL to test")
        if not detail:
            return badge
        return format_html('{} <span class="connection-detail text-xs">{}</span>', badge, detail)

    @admin.display(description=gettext_lazy("Default service of"))
    def default_for(self, obj: FulfillmentService) -> str:
        names = sorted(
            loc.merchant.name for loc in getattr(obj, "active_locations", []) if loc.is_default
        )
        return ", ".join(names) or "-"

    @admin.display(description=gettext_lazy("API key"))
    def key_state(self, obj: FulfillmentService) -> str:
        key = obj.api_key
        if key is None:
            return status_label(_("No key"), "warning")
        if key.revoked_at:
            return format_html(
                '<code class="keelson-code">{}…</code> {}',
                key.prefix,
                status_label(_("Revoked"), "danger"),
            )
        return format_html(
            '<code class="keelson-code">{}…</code> {}',
            key.prefix,
            status_label(_("Active"), "success"),
        )

    # -- forms ------------------------------------------------------------------------------

    def owner_choices(self, request: HttpRequest) -> list[tuple[str, str]]:
        access = portal_access(request)
        agency_ids = [
            a for a in self.visible_agency_ids(request) if access.can_on_agency(Capability.ADD, a)
        ]
        choices = [
            (
                f"agency:{agency.pk}",
                _("%(agency)s (agency: shared by its merchants)") % {"agency": agency.name},
            )
            for agency in Agency.objects.filter(id__in=agency_ids).order_by("name")
        ]
        merchants = Merchant.objects.filter(id__in=sorted(self.addable_merchant_ids(request)))
        choices += [
            (f"merchant:{m.pk}", _("%(merchant)s (its own service)") % {"merchant": m.name})
            for m in merchants.order_by("name")
        ]
        return choices

    def get_form(self, request, obj=None, change=False, **kwargs):
        attrs = {"require_https": require_https()}
        if obj is None:
            attrs.update(
                owner_choices=self.owner_choices(request),
                merchant_ids=self.addable_merchant_ids(request),
            )
            kwargs["form"] = type(
                "FulfillmentServiceCreateFormForRequest", (FulfillmentServiceCreateForm,), attrs
            )
        else:
            kwargs["form"] = type(
                "FulfillmentServiceFormForRequest", (FulfillmentServiceForm,), attrs
            )
        kwargs["fields"] = ["name", "workflow", "callback_url"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            # Only an agency's service chooses whom it serves; a merchant's serves its merchant.
            agency_owner = any(v.startswith("agency:") for v, _l in self.owner_choices(request))
            serving = ["serves"] if agency_owner else []
            return [
                (None, {"fields": ["name", "owner", "workflow", "callback_url"]}),
                (_("Who it serves"), {"fields": [*serving, "make_default", "skus"]}),
            ]
        # The connection, the key and the locations are in the panel below the form.
        return [
            (None, {"fields": ["name", "owner", "workflow", "callback_url"]}),
            (_("Record"), {"fields": ["created_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else list(self.readonly_fields)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            updated = services.update_fulfillment_service(
                service=obj,
                name=form.cleaned_data["name"],
                workflow=form.cleaned_data["workflow"],
                callback_url=form.cleaned_data.get("callback_url", ""),
                require_https=require_https(),
            )
            obj.connection_status = updated.connection_status
            return
        credentials = form.credentials  # saved by the use case in the form's clean()
        service = credentials.service
        for model_field in FulfillmentService._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(service, model_field.attname))
        obj._state.adding = False
        obj._state.db = service._state.db
        request._keelson_service_credentials = credentials

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        credentials = getattr(request, "_keelson_service_credentials", None)
        if credentials is None:  # pragma: no cover - save_model always sets it
            return super().response_add(request, obj, post_url_continue)
        return self.credentials_page(
            request,
            obj,
            title=_("Fulfillment service created"),
            api_key=credentials.api_key,
            signing_secret=credentials.signing_secret if obj.callback_url else None,
        )

    def credentials_page(
        self,
        request: HttpRequest,
        service: FulfillmentService,
        *,
        title: str,
        api_key: str | None = None,
        signing_secret: str | None = None,
    ) -> HttpResponse:
        """The new key and/or signing secret, shown this once (neither is stored readable:
        the key is hashed, the secret encrypted and never shown again)."""
        service.refresh_from_db()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "service": service,
            "raw_key": api_key,
            "key_prefix": service.api_key.prefix if api_key and service.api_key else "",
            "signing_secret": signing_secret,
            "api_base": request.build_absolute_uri("/api/v1/"),
            "service_url": reverse(
                f"{self.admin_site.name}:fulfillment_fulfillmentservice_change", args=[service.pk]
            ),
        }
        request.current_app = self.admin_site.name
        return no_store(
            TemplateResponse(request, "fulfillment/portal/service_credentials.html", context)
        )

    # -- the service's page: its panel -------------------------------------------------------

    def can_make_default(self, request: HttpRequest, location: FulfillmentLocation) -> bool:
        """The merchant's admins choose its default service (among those serving it)."""
        return location.merchant_id in self.scope_ids(request) and portal_access(request).can(
            Capability.CHANGE, location.merchant_id, admin_only=True
        )

    def addable_location_merchants(
        self, request: HttpRequest, service: FulfillmentService
    ) -> QuerySet:
        served = FulfillmentLocation.objects.filter(service=service, is_active=True).values(
            "merchant_id"
        )
        merchants = Merchant.objects.filter(id__in=sorted(self.addable_merchant_ids(request)))
        if service.merchant_id is not None:
            merchants = merchants.filter(pk=service.merchant_id)
        else:
            merchants = merchants.filter(agency_id=service.agency_id)
        return merchants.exclude(id__in=served).order_by("name")

    def service_panel(self, request: HttpRequest, service: FulfillmentService) -> dict:
        can_change = self.has_change_permission(request, service)
        locations = list(
            FulfillmentLocation.objects.filter(service=service, is_active=True)
            .select_related("merchant")
            .order_by("merchant__name")
        )
        if not can_change:
            # Merchant users of an agency's service see their own merchants' locations only.
            scope = self.scope_ids(request)
            locations = [loc for loc in locations if loc.merchant_id in scope]
        rows = [
            LocationRow(
                loc,
                can_remove=can_change,
                can_make_default=service.is_active
                and not loc.is_default
                and self.can_make_default(request, loc),
            )
            for loc in locations
        ]
        add_merchants = self.addable_location_merchants(request, service) if can_change else None
        return {
            "service": service,
            "can_change": can_change,
            "locations": rows,
            "location_form": (
                LocationForm(merchants=add_merchants)
                if add_merchants is not None and add_merchants.exists() and service.is_active
                else None
            ),
            "connection": self.connection(service),
            "key": service.api_key,
            "checked_at": _when(service.connection_checked_at),
            "urls": {action: self.act_url(service, action) for action in sorted(SERVICE_ACTIONS)}
            | {"make_default": self.act_url(service, "make_default")},
        }

    def act_url(self, service: FulfillmentService, action: str) -> str:
        return reverse(
            f"{self.admin_site.name}:fulfillment_fulfillmentservice_act", args=[service.pk, action]
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        if object_id:
            service = self.get_object(request, object_id)
            if service is not None:
                extra["service_panel"] = self.service_panel(request, service)
                if not self.has_change_permission(request, service):
                    extra.update(show_save=False, show_save_and_continue=False)
        extra["show_save_and_add_another"] = False
        return super().changeform_view(request, object_id, form_url, extra)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/act/<str:action>/",
                self.admin_site.admin_view(require_POST(self.act)),
                name="fulfillment_fulfillmentservice_act",
            ),
            *super().get_urls(),
        ]

    # -- the buttons: one use case each ------------------------------------------------------

    def act(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        service = self.get_object(request, object_id)
        if service is None:
            raise Http404(_("No such fulfillment service."))
        back = HttpResponseRedirect(
            reverse(
                f"{self.admin_site.name}:fulfillment_fulfillmentservice_change", args=[service.pk]
            )
        )
        if action == "make_default":
            location = self._location(request, service)
            if not self.can_make_default(request, location):
                raise PermissionDenied
            self._run(
                request,
                lambda: services.set_default_service(merchant=location.merchant, service=service),
                lambda _result: (
                    _(
                        "%(service)s is now the default service of %(merchant)s: from the next "
                        "order on, it gets every line no other service is assigned."
                    )
                    % {"service": service.name, "merchant": location.merchant.name}
                ),
            )
            return back
        if action not in SERVICE_ACTIONS:
            raise Http404(_("No such action."))
        if not self.has_change_permission(request, service):
            raise PermissionDenied
        if not service.is_active and action in ACTIVE_ONLY_ACTIONS:
            messages.error(
                request, _("%(name)s is deactivated: reactivate it first.") % {"name": service.name}
            )
            return back
        handler = getattr(self, f"_act_{action}")
        return handler(request, service) or back

    def _run(self, request: HttpRequest, run, success) -> object | None:
        """Run one use case; its outcome, or the rule that refused it, as a message."""
        try:
            result = run()
        except DomainError as exc:
            messages.error(request, localize(exc.message))
            return None
        messages.success(request, success(result))
        return result

    def _location(self, request: HttpRequest, service: FulfillmentService) -> FulfillmentLocation:
        raw = request.POST.get("location", "")
        location = (
            FulfillmentLocation.objects.filter(service=service, pk=int(raw), is_active=True)
            .select_related("merchant", "service")
            .first()
            if raw.isdigit()
            else None
        )
        if location is None:
            raise Http404(_("No such location."))
        return location

    def _act_test_connection(self, request, service) -> None:
        self.report_check(request, service)

    def report_check(self, request: HttpRequest, service: FulfillmentService) -> None:
        check = services.send_test_callback(service, require_https=require_https())
        level = {True: messages.SUCCESS, False: messages.ERROR, None: messages.INFO}[check.ok]
        text = f"{service.name}: {check.message}"
        if check.ok is False:
            text += " " + _("Its state is now “failing” until a test or a callback succeeds.")
        messages.add_message(request, level, text)

    def _act_issue_key(self, request, service):
        try:
            raw = services.issue_service_api_key(service=service)
        except DomainError as exc:
            messages.error(request, localize(exc.message))
            return None
        return self.credentials_page(
            request,
            service,
            title=_("New API key for %(name)s") % {"name": service.name},
            api_key=raw,
        )

    def _act_revoke_key(self, request, service) -> None:
        self._run(
            request,
            lambda: services.revoke_service_api_key(service=service),
            lambda key: (
                _(
                    "The key %(prefix)s… of %(name)s is revoked: it gets 401 from now on. Issue "
                    "a new key to let the service work again."
                )
                % {"prefix": key.prefix, "name": service.name}
                if key
                else _("%(name)s has no key to revoke.") % {"name": service.name}
            ),
        )

    def _act_rotate_secret(self, request, service):
        try:
            secret = services.rotate_signing_secret(service=service)
        except DomainError as exc:
            messages.error(request, localize(exc.message))
            return None
        return self.credentials_page(
            request,
            service,
            title=_("New signing secret for %(name)s") % {"name": service.name},
            signing_secret=secret,
        )

    def _act_deactivate(self, request, service) -> None:
        self._run(
            request,
            lambda: services.deactivate_fulfillment_service(
                service, actor=Actor.user(request.user)
            ),
            lambda withdrawal: self.withdrawal_text(
                withdrawal,
                _("%(name)s is deactivated: no more requests go to it and its API key is revoked.")
                % {"name": service.name},
            ),
        )

    def _act_reactivate(self, request, service):
        try:
            raw = services.reactivate_fulfillment_service(service)
        except DomainError as exc:  # pragma: no cover - reactivating refuses nothing today
            messages.error(request, localize(exc.message))
            return None
        messages.success(
            request,
            _(
                "%(name)s is active again. Give it the new key below; choose it as a "
                "merchant's default again if it should get every line."
            )
            % {"name": service.name},
        )
        return self.credentials_page(
            request,
            service,
            title=_("%(name)s reactivated") % {"name": service.name},
            api_key=raw,
        )

    def _act_add_location(self, request, service) -> None:
        form = LocationForm(
            request.POST, merchants=self.addable_location_merchants(request, service)
        )
        if not form.is_valid():
            for problems in form.errors.values():
                for problem in problems:
                    messages.error(request, problem)
            return
        data = form.cleaned_data
        merchant = data["merchant"]
        self._run(
            request,
            lambda: services.add_location(
                service=service,
                merchant=merchant,
                is_default=data["make_default"],
                skus=parse_skus(data["skus"]),
                name=data["name"],
            ),
            lambda location: (
                _("%(name)s now serves %(merchant)s%(default)s.")
                % {
                    "name": service.name,
                    "merchant": merchant.name,
                    "default": _(", as its default service") if location.is_default else "",
                }
            ),
        )

    def _act_remove_location(self, request, service) -> None:
        location = self._location(request, service)
        self._run(
            request,
            lambda: services.remove_location(location, actor=Actor.user(request.user)),
            lambda withdrawal: self.withdrawal_text(
                withdrawal,
                _("%(name)s no longer serves %(merchant)s.")
                % {"name": service.name, "merchant": location.merchant.name},
            ),
        )

    @staticmethod
    def withdrawal_text(withdrawal: services.Withdrawal, done: str) -> str:
        if not withdrawal.changed:
            return done
        parts = [done]
        if withdrawal.moved:
            parts.append(
                _("Orders not requested yet now go to the merchant's other services: %(orders)s.")
                % {"orders": ", ".join(withdrawal.moved)}
            )
        if withdrawal.waiting:
            parts.append(
                _(
                    "No other service takes the items of %(orders)s: choose a default service "
                    "and request fulfillment, or fulfil them yourself."
                )
                % {"orders": ", ".join(withdrawal.waiting)}
            )
        if withdrawal.defaults_cleared:
            parts.append(
                _("It was the default service of %(merchants)s: choose another default.")
                % {"merchants": ", ".join(withdrawal.defaults_cleared)}
            )
        return " ".join(parts)

    # -- list action ------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Test connection"), permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for service in queryset.order_by("name"):
            self.report_check(request, service)
