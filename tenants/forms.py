"""Forms of the tenancy admin: merchant settings, channel connections with write-only secrets,
and API key creation. Forms validate; the ModelAdmins hand the result to a service."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from tenants.models import (
    AccountStatus,
    Agency,
    AmazonAccount,
    ApiKey,
    ApiScope,
    Merchant,
    ShopifyStore,
)
from tenants.services import SETTABLE_STATUSES

WRITE_ONLY_HELP = _(
    "Stored encrypted and never shown again. Leave empty to keep the current value."
)


def write_only_field(label: str) -> forms.CharField:
    """A secret input: never pre-filled, never echoed back after a failed submit."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        help_text=WRITE_ONLY_HELP,
        widget=UnfoldAdminPasswordWidget(
            attrs={"autocomplete": "new-password", "spellcheck": "false"}, render_value=False
        ),
    )


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class MerchantSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, widget=UnfoldAdminSelectWidget)

    class Meta:
        model = Merchant
        fields = [
            "name",
            "time_zone",
            "default_currency",
            "auto_request_fulfillment",
            "deadline_warning_days",
        ]


class ConnectionStatusMixin:
    """People may pause a connection or resume it; other statuses are the system's."""

    def _limit_status_choices(self) -> None:
        field = self.fields.get("status")
        if field is None:
            return
        current = self.instance.status if self.instance and self.instance.pk else None
        allowed = [c for c in AccountStatus.choices if c[0] in SETTABLE_STATUSES]
        if current and current not in SETTABLE_STATUSES:
            allowed.insert(0, (current, AccountStatus(current).label))
        field.choices = allowed

    def clean_status(self):
        value = self.cleaned_data["status"]
        if "status" in self.changed_data and value not in SETTABLE_STATUSES:
            raise forms.ValidationError(_("Set the status to active or paused."))
        return value

    # The write-only input that connects it again (disconnecting forgets what it holds).
    reconnect_input: str = ""

    def clean(self):
        data = super().clean()
        if (
            self.instance.pk
            and self.instance.status == AccountStatus.DISCONNECTED
            and "status" in self.changed_data
            and not data.get(self.reconnect_input)
        ):
            self.add_error(
                "status",
                _(
                    "It was disconnected and Keelson forgot its credentials: connect it again "
                    "(or enter new credentials below) instead of changing its status."
                ),
            )
        return data


class AmazonAccountForm(ConnectionStatusMixin, forms.ModelForm):
    new_lwa_refresh_token = write_only_field("LWA refresh token")
    new_lwa_client_secret = write_only_field("LWA client secret")
    reconnect_input = "new_lwa_refresh_token"

    secret_fields = {
        "new_lwa_refresh_token": "lwa_refresh_token",
        "new_lwa_client_secret": "lwa_client_secret",
    }

    class Meta:
        model = AmazonAccount
        # The stored secrets are not form fields: they are never rendered.
        fields = [
            "name",
            "region",
            "marketplace_ids",
            "status",
            "lwa_client_id",
            "endpoint_override",
            "lwa_endpoint_override",
        ]
        widgets = {"marketplace_ids": UnfoldAdminTextInputWidget}
        labels = {
            "marketplace_ids": _("Marketplace IDs"),
            "lwa_client_id": "LWA client ID",
            "endpoint_override": "SP-API endpoint",
            "lwa_endpoint_override": "LWA token endpoint",
        }
        help_texts = {"marketplace_ids": "Comma-separated, e.g. ATVPDKIKX0DER,A2EUQ1WTGCTBG2."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_status_choices()


class ShopifyStoreForm(ConnectionStatusMixin, forms.ModelForm):
    new_access_token = write_only_field(_("Admin API access token"))
    new_webhook_secret = write_only_field(_("Webhook secret"))
    reconnect_input = "new_access_token"

    secret_fields = {
        "new_access_token": "access_token",
        "new_webhook_secret": "webhook_secret",
    }

    class Meta:
        model = ShopifyStore
        fields = ["api_version", "status", "inventory_behaviour", "endpoint_override"]
        labels = {
            "api_version": _("Admin API version"),
            "endpoint_override": _("Admin API endpoint"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_status_choices()


def split_secrets(form: forms.Form) -> dict[str, str]:
    """The secrets typed into a connection form, by model field name (empty ones left out)."""
    mapping = getattr(form, "secret_fields", {})
    return {
        model_field: form.cleaned_data[form_field]
        for form_field, model_field in mapping.items()
        if form.cleaned_data.get(form_field)
    }


class ApiKeyCreateForm(forms.ModelForm):
    """A new API key: its owner (a merchant or an agency the user administers) and scopes.

    ``owner_choices`` is set per request by the ModelAdmin: [("merchant:1", "Acme"), ...].
    """

    owner_choices: list[tuple[str, str]] = []

    owner = forms.ChoiceField(
        label=_("Belongs to"),
        widget=UnfoldAdminSelectWidget,
        help_text=(
            _(
                "A merchant key reads and writes that merchant's data only; an agency key reaches "
                "every merchant of the agency."
            )
        ),
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("Grant only what the integration needs."),
    )

    class Meta:
        model = ApiKey
        fields = ["name"]
        help_texts = {"name": _("What uses this key, e.g. 'Warehouse integration'.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = self.owner_choices
        if len(self.owner_choices) == 1:
            self.fields["owner"].initial = self.owner_choices[0][0]

    def clean_owner(self) -> str:
        value = self.cleaned_data["owner"]
        kind, _sep, pk = value.partition(":")
        if kind == "merchant":
            self.cleaned_data["owner_merchant"] = Merchant.objects.get(pk=int(pk))
            self.cleaned_data["owner_agency"] = None
        elif kind == "agency":
            self.cleaned_data["owner_agency"] = Agency.objects.get(pk=int(pk))
            self.cleaned_data["owner_merchant"] = None
        else:  # pragma: no cover - the choices only hold the two kinds
            raise forms.ValidationError(_("Choose who the key belongs to."))
        return value
