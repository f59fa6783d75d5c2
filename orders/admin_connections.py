"""Connecting Amazon accounts in the portal (issue 13): "Connect an Amazon account" (Seller
Central's website authorization workflow), the page Amazon sends the browser back to, and the
"Test connection" and "Disconnect" actions.

The Amazon side (the state in the session, the code exchange, the check) is
``integrations.amazon.connections``; saving the account and starting its sync is orders'
(``sync.connect_amazon_account``: a known seller is reconnected with its sync cursor kept).
The portal mixes this into tenants' Amazon account admin (portal/admin.py). Connecting,
disconnecting and reconnecting never send a refund or a cancellation to Amazon (rule R8).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from unfold.decorators import action as unfold_action
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from foundation.api.errors import DomainError
from foundation.i18n import localize
from integrations.amazon import connections
from integrations.amazon.gateway import AmazonCredentials
from integrations.amazon.marketplaces import MARKETPLACES
from orders import sync
from tenants.models import AccountStatus, AmazonAccount, AmazonRegion, Merchant
from tenants.policy import Capability
from tenants.request_scope import portal_access
from tenants.scope import tenant_context

CALLBACK_URL_NAME = "tenants_amazonaccount_connect_callback"


def marketplace_choices() -> list[tuple[str, str]]:
    """Every marketplace we know, region by region, labelled with its region."""
    regions = dict(AmazonRegion.choices)
    return [
        (m.marketplace_id, f"{m.name} ({m.country}, {regions[m.region]})")
        for region in AmazonRegion.values
        for m in MARKETPLACES.values()
        if m.region == region
    ]


class AmazonConnectForm(forms.Form):
    """What Keelson asks before sending the person to Seller Central: for which merchant, the
    account's name, its region and the marketplaces to sync (all of one region: one
    authorization is for one region's Seller Central)."""

    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.none(), widget=UnfoldAdminSelectWidget
    )
    name = forms.CharField(
        label=_("Account name"),
        required=False,
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("How Keelson shows this seller account, e.g. “Amazon US”. Optional."),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        choices=AmazonRegion.choices,
        initial=AmazonRegion.NA,
        widget=UnfoldAdminSelectWidget,
        help_text=_("The Seller Central you sign in to: North America, Europe or Far East."),
    )
    marketplace_ids = forms.MultipleChoiceField(
        label=_("Marketplaces"),
        choices=marketplace_choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("The marketplaces whose orders Keelson syncs, all of the chosen region."),
    )

    def __init__(self, *args, merchants: QuerySet[Merchant], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["merchant"]
        field.queryset = merchants
        if len(merchants) == 1:
            field.initial = merchants[0].pk
            field.widget = forms.HiddenInput()

    def clean(self) -> dict:
        data = super().clean()
        region, chosen = data.get("region"), data.get("marketplace_ids") or []
        foreign = [m for m in chosen if MARKETPLACES[m].region != region]
        if region and foreign:
            self.add_error(
                "marketplace_ids",
                gettext(
                    "%(marketplaces)s are not in the %(region)s region: one authorization "
                    "covers one region, so choose that region's marketplaces."
                )
                % {
                    "marketplaces": ", ".join(MARKETPLACES[m].name for m in foreign),
                    "region": AmazonRegion(region).label,
                },
            )
        return data


class AmazonAccountConnectionAdminMixin:
    """Orders' part of the portal's Amazon account admin: "Connect an Amazon account" at the
    top of the list (admins only: the ``connect`` permission), its callback, and the "Test
    connection" and "Disconnect" actions."""

    actions_list = ["connect_amazon_account"]

    # -- permissions ----------------------------------------------------------------------------

    def has_connect_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.portal_can(request, Capability.ADD)

    def has_disconnect_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.portal_can(request, Capability.ADD)  # admins, like connecting

    def connectable_merchants(self, request: HttpRequest) -> QuerySet[Merchant]:
        ids = self.addable_merchant_ids(request)
        return Merchant.objects.filter(id__in=list(ids), is_active=True).order_by("name")

    # -- connecting -----------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "connect/callback/",
                self.admin_site.admin_view(require_GET(self.amazon_callback_view)),
                name=CALLBACK_URL_NAME,
            ),
            *super().get_urls(),
        ]

    def callback_url(self) -> str:
        """The redirect URI registered with Amazon for Keelson's application."""
        return settings.KEELSON_PUBLIC_URL.rstrip("/") + reverse(
            f"{self.admin_site.name}:{CALLBACK_URL_NAME}"
        )

    def _page(self, request: HttpRequest, template: str, title: str, context: dict, status=200):
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "title": title, "opts": self.opts, **context},
            status=status,
        )

    @unfold_action(
        description=_("Connect an Amazon account"),
        url_path="connect",
        permissions=["connect"],
        icon="add_link",
    )
    def connect_amazon_account(self, request: HttpRequest) -> HttpResponse:
        """The form, then (POST) the state kept in the session and off to Seller Central."""
        application = connections.AmazonApplication.from_settings()
        merchants = self.connectable_merchants(request)
        form = AmazonConnectForm(
            request.POST if request.method == "POST" else None, merchants=merchants
        )
        if request.method == "POST" and application.configured and form.is_valid():
            data = form.cleaned_data
            consent_url = connections.begin_authorization(
                request.session,
                application,
                user_id=request.user.pk,
                merchant_id=data["merchant"].pk,
                name=data["name"].strip(),
                region=data["region"],
                marketplace_ids=data["marketplace_ids"],
                redirect_uri=self.callback_url(),
            )
            return HttpResponseRedirect(consent_url)
        return self._page(
            request,
            "orders/portal/amazon_connect.html",
            gettext("Connect an Amazon account"),
            {
                "form": form,
                "configured": application.configured,
                "not_configured": "" if application.configured else connections.not_configured(),
                "changelist_url": self._changelist_url(),
            },
            status=200 if request.method == "GET" else 400,  # a POST here was refused
        )

    def amazon_callback_view(self, request: HttpRequest) -> HttpResponse:
        """Where Seller Central sends the browser back: the state checked against the session,
        the code exchanged, one read with the new token; then the account is saved (new, or a
        known seller reconnected with its cursor kept). Any refusal: a page that says why, and
        nothing saved."""
        try:
            pending = connections.take_authorization(
                request.session, state=request.GET.get("state", ""), user_id=request.user.pk
            )
        except DomainError as exc:
            return self._failed(request, localize(exc.message))
        merchant = Merchant.objects.filter(pk=pending.merchant_id, is_active=True).first()
        if merchant is None or not portal_access(request).can(Capability.ADD, merchant.pk):
            return self._failed(
                request,
                gettext("You may not connect Amazon accounts for this merchant (any more)."),
                status=403,
            )
        if request.GET.get("error"):
            return self._failed(
                request,
                gettext(
                    "The authorization was not given in Seller Central (%(error)s). Nothing "
                    "was connected."
                )
                % {"error": request.GET.get("error_description") or request.GET["error"]},
            )
        selling_partner_id = request.GET.get("selling_partner_id", "").strip()
        try:
            application = connections.configured_application()
            credentials = connections.authorize(
                application,
                pending,
                code=request.GET.get("spapi_oauth_code", ""),
                selling_partner_id=selling_partner_id,
            )
        except DomainError as exc:
            return self._failed(request, localize(exc.message))
        account = self._save(merchant, pending, credentials, application)
        self.message_user(
            request,
            gettext(
                "%(account)s is connected (seller %(seller)s). Keelson is syncing its orders; "
                "nothing was sent to Amazon."
            )
            % {"account": account, "seller": account.selling_partner_id},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:tenants_amazonaccount_change", args=[account.pk])
        )

    @staticmethod
    def _save(
        merchant: Merchant,
        pending: connections.PendingAuthorization,
        credentials: AmazonCredentials,
        application: connections.AmazonApplication,
    ) -> AmazonAccount:
        with tenant_context(merchant):
            known = AmazonAccount.objects.filter(
                merchant=merchant, selling_partner_id=credentials.selling_partner_id
            ).first()
            return sync.connect_amazon_account(
                merchant,
                selling_partner_id=credentials.selling_partner_id,
                marketplace_ids=list(credentials.marketplace_ids),
                refresh_token=credentials.refresh_token,
                region=credentials.region,
                name=pending.name or (known.name if known else ""),
                # Keelson's application's client (the settings): nothing stored per account.
                endpoint_override=application.spapi_endpoint_override,
                lwa_endpoint_override=application.lwa_token_url_override,
            )

    def _failed(self, request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
        return self._page(
            request,
            "orders/portal/amazon_connect_failed.html",
            gettext("The Amazon account was not connected"),
            {
                "message": message,
                "connect_url": reverse(
                    f"{self.admin_site.name}:tenants_amazonaccount_connect_amazon_account"
                ),
                "changelist_url": self._changelist_url(),
            },
            status=status,
        )

    def _changelist_url(self) -> str:
        return reverse(f"{self.admin_site.name}:tenants_amazonaccount_changelist")

    # -- actions on the list --------------------------------------------------------------------

    @admin.action(description=_("Test connection"), permissions=["view"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        """One cheap read per account (an LWA token, one page of getOrders): the answer in
        plain words. Changes nothing."""
        for account in queryset.order_by("name", "id"):
            if account.status == AccountStatus.DISCONNECTED or not account.lwa_refresh_token:
                self.message_user(
                    request,
                    gettext("%(account)s is disconnected: connect it again to use it.")
                    % {"account": account},
                    messages.INFO,
                )
                continue
            check = connections.check_connection(AmazonCredentials.from_account(account))
            self.message_user(
                request,
                f"{account}: {check.message}",
                messages.SUCCESS if check.ok else messages.ERROR,
            )

    @admin.action(description=_("Disconnect"), permissions=["disconnect"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Stop the sync and forget the authorization; nothing is sent to Amazon (R8)."""
        if not self.has_disconnect_permission(request):
            raise PermissionDenied
        # Admins only, merchant by merchant (the action's scoping allows any who may change).
        allowed = self.restrict_queryset(request, queryset, Capability.ADD)
        refused = queryset.exclude(pk__in=allowed.values("pk")).select_related("merchant")
        for account in refused.order_by("name", "id"):
            self.message_user(
                request,
                gettext(
                    "%(account)s was not disconnected: only an admin of %(merchant)s may "
                    "disconnect its Amazon account."
                )
                % {"account": account, "merchant": account.merchant},
                messages.ERROR,
            )
        for account in allowed.order_by("name", "id"):
            connections.disconnect_account(account)
            self.message_user(
                request,
                gettext(
                    "%(account)s is disconnected: its orders are no longer synced and nothing "
                    "is sent to Amazon. Keelson forgot its authorization; connect it again to "
                    "resume where the sync stopped. To end Keelson's access on Amazon's side "
                    "too, remove the app in Seller Central (Manage Your Apps)."
                )
                % {"account": account},
                messages.SUCCESS,
            )
