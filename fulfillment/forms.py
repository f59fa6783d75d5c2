"""Forms of the portal's fulfillment-service pages. They validate what a person typed and hand
it to one use case (``fulfillment.services``); a rule the use case refuses is an error on the
form, and nothing is saved."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from foundation.api.errors import DomainError
from foundation.i18n import localize
from fulfillment import services
from fulfillment.models import FulfillmentService, Workflow
from tenants.models import Agency, Merchant

WORKFLOW_HELP = _(
    "Fulfillment orders: the service accepts or rejects each request and answers cancellation "
    "requests (F5-F9). Legacy: the service starts at once; a request cannot be cancelled from "
    "Keelson (F1, F4). Requests made before a change keep their workflow."
)
CALLBACK_HELP = _(
    "Where Keelson POSTs each request and cancellation request, signed with the service's "
    "signing secret (https). Leave empty if the service polls the API instead."
)
SKUS_HELP = _(
    "Optional: SKUs this service always gets, one per line or separated by commas. As the "
    "default service it also gets every line no other service is assigned."
)


def parse_skus(text: str) -> list[str]:
    return services.clean_skus(re.split(r"[\s,;]+", text or ""))


def apply_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Show a refused use case on the form: on its fields when it names them."""
    placed = False
    for name, problems in (exc.errors or {}).items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
    if not placed:
        form.add_error(None, localize(exc.message))


class FulfillmentServiceForm(forms.ModelForm):
    """A service's own settings (the change page). The ModelAdmin saves them through
    ``update_fulfillment_service``; https is required outside DEBUG (``require_https``)."""

    require_https = True

    class Meta:
        model = FulfillmentService
        fields = ["name", "workflow", "callback_url"]
        labels = {"callback_url": _("Callback URL")}
        help_texts = {"workflow": WORKFLOW_HELP, "callback_url": CALLBACK_HELP}
        widgets = {"workflow": UnfoldAdminRadioSelectWidget}

    def clean_callback_url(self) -> str:
        try:
            return services.check_callback_url(
                self.cleaned_data.get("callback_url", ""), require_https=self.require_https
            )
        except DomainError as exc:
            raise forms.ValidationError(localize(exc.message), code="callback_url") from exc


class FulfillmentServiceCreateForm(FulfillmentServiceForm):
    """A new service: who it belongs to, which merchants it serves (as their default, and for
    which SKUs). Submitting runs ``create_fulfillment_service`` in ``clean()``: the service,
    its locations and its API key are made together, or nothing is saved.

    ``owner_choices`` (``"merchant:<id>"`` / ``"agency:<id>"``), ``merchant_ids`` (the
    merchants the user may add a service for) and ``require_https`` are set per request by the
    ModelAdmin."""

    owner_choices: list[tuple[str, str]] = []
    merchant_ids: frozenset[int] = frozenset()

    owner = forms.ChoiceField(
        label=_("Belongs to"),
        widget=UnfoldAdminSelectWidget,
        help_text=_(
            "A merchant's own service serves that merchant; an agency's service can serve any "
            "of the agency's merchants."
        ),
    )
    serves = forms.ModelMultipleChoiceField(
        label=_("Merchants it serves"),
        queryset=Merchant.objects.none(),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_(
            "Which of the agency's merchants it serves (more can be added later). A merchant's "
            "own service serves that merchant: leave it empty."
        ),
    )
    make_default = forms.BooleanField(
        label=_("Make it their default service"),
        required=False,
        initial=True,
        widget=UnfoldBooleanWidget,
        help_text=_("The default service gets every line no other service is assigned."),
    )
    skus = forms.CharField(
        label=_("SKUs it gets"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=SKUS_HELP,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = self.owner_choices
        if len(self.owner_choices) == 1:
            self.fields["owner"].initial = self.owner_choices[0][0]
        self.fields["serves"].queryset = Merchant.objects.filter(
            id__in=sorted(self.merchant_ids)
        ).order_by("name")
        self.fields["workflow"].initial = Workflow.FULFILLMENT_ORDER
        self.credentials: services.ServiceCredentials | None = None

    def clean_owner(self) -> Merchant | Agency:
        value = self.cleaned_data["owner"]
        if value not in dict(self.owner_choices):  # pragma: no cover - ChoiceField checks
            raise forms.ValidationError(_("Choose who the service belongs to."))
        kind, _sep, pk = value.partition(":")
        if kind == "merchant":
            return Merchant.objects.get(pk=int(pk))
        return Agency.objects.get(pk=int(pk))

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        owner = data["owner"]
        served = list(data.get("serves") or [])
        if isinstance(owner, Merchant):
            if any(m.pk != owner.pk for m in served):
                self.add_error(
                    "serves",
                    _("%(merchant)s's own service serves only %(merchant)s.")
                    % {"merchant": owner.name},
                )
                return data
            served = [owner]
        elif any(m.agency_id != owner.pk for m in served):
            self.add_error(
                "serves",
                _("An agency's service serves only the agency's merchants."),
            )
            return data
        skus = parse_skus(data.get("skus", ""))
        locations = [
            services.LocationSpec(m, is_default=bool(data.get("make_default")), skus=skus)
            for m in served
        ]
        try:
            self.credentials = services.create_fulfillment_service(
                name=data["name"],
                workflow=data["workflow"],
                merchant=owner if isinstance(owner, Merchant) else None,
                agency=owner if isinstance(owner, Agency) else None,
                callback_url=data.get("callback_url", ""),
                locations=locations,
                require_https=self.require_https,
            )
        except DomainError as exc:
            apply_domain_error(self, exc)
        return data

    def _post_clean(self) -> None:
        # The use case validated and saved the service: no second validation of the instance.
        pass


class LocationForm(forms.Form):
    """Add a merchant to those a service serves (the service page's "Add a location")."""

    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.none(), widget=UnfoldAdminSelectWidget
    )
    name = forms.CharField(
        label=_("Location name"), required=False, max_length=200, widget=UnfoldAdminTextInputWidget
    )
    skus = forms.CharField(
        label=_("SKUs it gets"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text=SKUS_HELP,
    )
    make_default = forms.BooleanField(
        label=_("Make it the merchant's default service"),
        required=False,
        widget=UnfoldBooleanWidget,
    )

    def __init__(self, *args, merchants=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merchant"].queryset = (
            merchants if merchants is not None else Merchant.objects.none()
        )
