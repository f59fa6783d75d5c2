"""The portal's view of the outbox (every external effect of the merchants in scope, where it
is, its last error, a retry action for failed ones), and connecting Shopify stores."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminPasswordWidget

from foundation.api.errors import DomainError
from foundation.i18n import localize
from integrations.outbox.errors import UnknownMessageKind
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.registry import handler_for
from integrations.outbox.services import retry_message
from integrations.shopify import connections
from integrations.shopify.gateway import ShopifyCredentials
from tenants.admin import TenantScopedAdminMixin, status_label
from tenants.models import AccountStatus, ShopifyStore
from tenants.policy import Capability

STATUS_VARIANT = {"pending": "info", "sent": "success", "failed": "danger", "cancelled": "default"}


class OutboxMessagePortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    icon = "outbox"
    list_display = [
        "__str__",
        "destination",
        "order_link",
        "status_badge",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["kind", "order__external_id", "idempotency_key"]
    list_select_related = ["order"]
    ordering = ["-id"]
    actions = ["retry_failed"]
    fields = [
        "kind",
        "destination",
        "order_link",
        "status",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "last_error_code",
        "last_error",
        "result",
        "idempotency_key",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().changeform_view(request, object_id, form_url, extra)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        # Its str ("kind #12 (status)") finds #12.
        if "#" in term:
            number = term.split("#", 1)[1].split()[0]
            if number.isdigit():
                return queryset.filter(pk=int(number)), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("Destination"))
    def destination(self, obj: OutboxMessage) -> str:
        """Where the message goes ("Amazon", "Shopify", the fulfillment service)."""
        try:
            return handler_for(obj.kind).destination
        except UnknownMessageKind:
            return "-"

    @admin.display(description=_("Order"), ordering="order__external_id")
    def order_link(self, obj: OutboxMessage) -> str:
        if obj.order_id is None:
            return "-"
        url = reverse("portal:orders_order_change", args=[obj.order_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.order)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj: OutboxMessage) -> str:
        return status_label(obj.get_status_display(), STATUS_VARIANT.get(obj.status))

    @admin.action(description=_("Retry the selected failed messages"), permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for message in queryset.filter(status=OutboxStatus.FAILED):
            retry_message(message=message)
            retried += 1
        if retried:
            self.message_user(
                request,
                ngettext(
                    "Sending %(count)s message again.", "Sending %(count)s messages again.", retried
                )
                % {"count": retried},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, _("No failed message was selected."), messages.WARNING)


# --- Shopify stores: connect, test, disconnect -------------------------------------------------


SECRET_INPUT = {"autocomplete": "new-password", "spellcheck": "false"}


class ShopifyConnectForm(forms.ModelForm):
    """Connect a store: its domain and the credentials of the store's custom app. Submitting
    runs the use case (``connections.connect_store``): the shop is read with the token first,
    so a wrong token is an error on this form and nothing is saved."""

    access_token = forms.CharField(
        label=_("Admin API access token"),
        widget=UnfoldAdminPasswordWidget(SECRET_INPUT, render_value=False),
        help_text=_("From the store's custom app (Settings, Apps, Develop apps): shpat_..."),
    )
    webhook_secret = forms.CharField(
        label=_("API secret key"),
        widget=UnfoldAdminPasswordWidget(SECRET_INPUT, render_value=False),
        help_text=_("The same app's API secret key: Keelson checks each webhook's signature."),
    )

    class Meta:
        model = ShopifyStore
        fields = ["merchant", "shop_domain", "endpoint_override"]
        labels = {"shop_domain": _("Shop domain"), "endpoint_override": _("Admin API endpoint")}
        help_texts = {
            "shop_domain": _("The store's name.myshopify.com address."),
            "endpoint_override": _("Only for the sandbox emulator; empty for Shopify."),
        }

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.connected_store = connections.connect_store(
                merchant=data["merchant"],
                shop_domain=data["shop_domain"],
                access_token=data["access_token"],
                webhook_secret=data["webhook_secret"],
                endpoint_override=data.get("endpoint_override") or "",
            )
        except DomainError as exc:
            raise forms.ValidationError(localize(exc.message), code=exc.code) from exc
        return data

    def _post_clean(self) -> None:
        # No model validation of the form's instance: the use case validated and saved the
        # store (a disconnected one is reconnected, which a uniqueness check would refuse).
        pass


class ShopifyStoreConnectionAdminMixin:
    """Shopify's part of the portal's store admin (composed with tenants' page by the portal):
    "Connect a store" as the add form, and the "Test connection" and "Disconnect" actions."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.portal_can(request, Capability.ADD)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ShopifyConnectForm
            kwargs["fields"] = ["merchant", "shop_domain", "endpoint_override"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = ["merchant", "shop_domain", "access_token", "webhook_secret"]
            return [
                (None, {"fields": fields}),
                (_("Sandbox"), {"fields": ["endpoint_override"], "classes": ["collapse"]}),
            ]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        store = form.connected_store  # saved by the use case in the form's clean()
        for field in ShopifyStore._meta.concrete_fields:
            setattr(obj, field.attname, getattr(store, field.attname))
        obj._state.adding = False
        obj._state.db = store._state.db

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            _(
                "%(store)s is connected. Keelson is subscribing to its webhooks "
                "(orders, fulfillments, refunds, cancellations)."
            )
            % {"store": obj.shop_domain},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:tenants_shopifystore_changelist")
        )

    @admin.action(description=_("Test connection"), permissions=["view"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for store in queryset.order_by("shop_domain"):
            if store.status == AccountStatus.DISCONNECTED:
                self.message_user(
                    request,
                    _("%(store)s: disconnected. Connect it again to use it.") % {"store": store},
                    messages.INFO,
                )
                continue
            check = connections.check_connection(ShopifyCredentials.from_store(store))
            level = messages.SUCCESS if check.ok else messages.ERROR
            self.message_user(request, f"{store}: {check.message}", level)

    def has_disconnect_permission(self, request: HttpRequest) -> bool:
        return self.portal_can(request, Capability.ADD)  # admins, like connecting

    @admin.action(description=_("Disconnect"), permissions=["disconnect"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet) -> None:
        # The action is offered to anyone who administers some merchant; each store needs the
        # user's admin role on its own merchant (a staff role on another merchant is not enough).
        allowed = self.restrict_queryset(request, queryset, Capability.ADD)
        allowed_ids = set(allowed.values_list("pk", flat=True))
        for store in queryset.order_by("shop_domain"):
            if store.pk not in allowed_ids:
                self.message_user(
                    request,
                    gettext(
                        "%(store)s was not disconnected: only an admin of %(merchant)s may "
                        "disconnect its store."
                    )
                    % {"store": store, "merchant": store.merchant},
                    messages.ERROR,
                )
                continue
            connections.disconnect_store(store)
            self.message_user(
                request,
                gettext(
                    "%(store)s is disconnected: nothing more is written to it. Its token is "
                    "forgotten; connect it again to resume."
                )
                % {"store": store},
                messages.SUCCESS,
            )
