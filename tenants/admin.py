"""Admin for tenancy.

- ``TenantScopedAdminMixin``: the one scoping mixin every portal ModelAdmin of tenant data uses
  (querysets, object lookups, related choices, filters, actions and permissions, all limited to
  the merchants in the request's scope and the user's roles on them).
- The portal's ModelAdmins: merchants (settings), Amazon accounts, Shopify stores, API keys.
- The staff admin's ModelAdmins (``admin.site``, superusers, across tenants).

Adding a portal ModelAdmin for a tenant-owned model::

        class OrderPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
        ...

and register a factory for it in ``tests/<app>/factories.py`` (the isolation harness in
``tests/portal/test_isolation.py`` walks every portal ModelAdmin).
"""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from tenants import services
from tenants.forms import (
    AmazonAccountForm,
    ApiKeyCreateForm,
    MerchantSettingsForm,
    ShopifyStoreForm,
    split_secrets,
)
from tenants.models import (
    Agency,
    AmazonAccount,
    ApiKey,
    ApiKeyOwner,
    Membership,
    Merchant,
    ShopifyStore,
    StaffAccess,
    TenantModel,
    User,
)
from tenants.policy import Capability
from tenants.request_scope import portal_access, request_scope

# Related models that hold no tenant data and may be offered as choices as they are.
UNSCOPED_RELATED_MODELS: set[type[Model]] = set()


def scoped_related_queryset(request: HttpRequest, queryset: QuerySet) -> QuerySet:
    """Choices for a relation, limited to the request's merchants (fail closed)."""
    model = queryset.model
    ids = list(request_scope(request))
    if issubclass(model, Merchant):
        return queryset.filter(id__in=ids)
    if issubclass(model, TenantModel):
        return queryset.filter(merchant_id__in=ids)
    if issubclass(model, Agency):
        return queryset.filter(merchants__id__in=ids).distinct()
    if issubclass(model, User):
        return queryset.filter(
            Q(memberships__merchant_id__in=ids) | Q(memberships__agency__merchants__id__in=ids)
        ).distinct()
    if model in UNSCOPED_RELATED_MODELS:
        return queryset
    return queryset.none()


def _action_capability(func) -> Capability:
    allowed = set(getattr(func, "allowed_permissions", ()) or ())
    for capability in (Capability.DELETE, Capability.ADD, Capability.CHANGE):
        if capability.value in allowed:
            return capability
    if allowed == {"view"}:
        return Capability.VIEW
    return Capability.CHANGE  # an action changes something unless it says otherwise


class TenantScopedAdminMixin:
    """Scopes a portal ModelAdmin to the request's merchants and the user's roles on them.

    - querysets: rows of merchants in scope (``merchant_lookup``; the scoped manager and
      row-level security do it too, this keeps it explicit);
    - object URLs of other tenants' rows (or missing rows): 404, not a redirect, so an id tells
      nothing about other tenants;
    - foreign-key and many-to-many choices, and list filters on relations: in scope only;
    - the ``merchant`` field: on add forms limited to the merchants the user may add to,
      pre-filled and hidden when there is one; read-only afterwards (rows never move);
    - actions: run on the selected rows of merchants where the user has the capability;
    - permissions: from roles (``tenants.policy``), not Django's permission tables;
      capabilities in ``admin_only`` need an admin role.
    """

    merchant_lookup = "merchant_id"  # "pk" when the model is Merchant itself
    merchant_field = "merchant"
    admin_only: frozenset[Capability] = frozenset()
    icon: str | None = None

    # -- scope --------------------------------------------------------------------------------

    def scope_ids(self, request: HttpRequest) -> frozenset[int]:
        return request_scope(request)

    def merchant_id_of(self, obj: Model) -> int | None:
        if self.merchant_lookup == "pk":
            return obj.pk
        return getattr(obj, self.merchant_lookup)

    def filter_to_merchants(self, queryset: QuerySet, merchant_ids) -> QuerySet:
        return queryset.filter(**{f"{self.merchant_lookup}__in": list(merchant_ids)})

    def restrict_queryset(
        self, request: HttpRequest, queryset: QuerySet, capability: Capability
    ) -> QuerySet:
        """The rows of ``queryset`` the user has ``capability`` on."""
        ids = portal_access(request).merchant_ids_with(
            capability, self.scope_ids(request), admin_only=capability in self.admin_only
        )
        return self.filter_to_merchants(queryset, ids)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.filter_to_merchants(super().get_queryset(request), self.scope_ids(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and self.merchant_id_of(obj) not in self.scope_ids(request):
            return None
        return obj

    def get_scoped_object_or_404(self, request: HttpRequest, object_id: str) -> Model:
        """For custom views and unfold row/detail actions."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(_("No such object."))
        return obj

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with "doesn't exist"; the portal answers 404 for a
        # missing object and for another tenant's alike.
        raise Http404(_("No %(verbose_name)s with this id.") % {"verbose_name": opts.verbose_name})

    # -- permissions --------------------------------------------------------------------------

    def portal_can(
        self, request: HttpRequest, capability: Capability, obj: Model | None = None
    ) -> bool:
        access = portal_access(request)
        admin_only = capability in self.admin_only
        if obj is None:
            return bool(
                access.merchant_ids_with(capability, self.scope_ids(request), admin_only=admin_only)
            )
        merchant_id = self.merchant_id_of(obj)
        return merchant_id in self.scope_ids(request) and access.can(
            capability, merchant_id, admin_only=admin_only
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.portal_can(request, Capability.VIEW)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.portal_can(request, Capability.VIEW, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # ``obj`` is the parent object for inlines.
        return self.portal_can(request, Capability.ADD, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.portal_can(request, Capability.CHANGE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.portal_can(request, Capability.DELETE, obj)

    # -- forms --------------------------------------------------------------------------------

    def _is_merchant_field(self, db_field) -> bool:
        return self.merchant_lookup != "pk" and db_field.name == self.merchant_field

    def addable_merchant_ids(self, request: HttpRequest) -> frozenset[int]:
        return portal_access(request).merchant_ids_with(
            Capability.ADD, self.scope_ids(request), admin_only=Capability.ADD in self.admin_only
        )

    def get_field_queryset(self, db, db_field, request: HttpRequest):
        queryset = super().get_field_queryset(db, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(db)
        queryset = scoped_related_queryset(request, queryset)
        if self._is_merchant_field(db_field):
            queryset = queryset.filter(id__in=list(self.addable_merchant_ids(request)))
        return queryset

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if self._is_merchant_field(db_field):
            ids = self.addable_merchant_ids(request)
            if len(ids) == 1:
                (only,) = ids
                return forms.ModelChoiceField(
                    queryset=Merchant.objects.filter(id=only),
                    initial=only,
                    widget=forms.HiddenInput,
                    label=db_field.verbose_name.capitalize(),
                )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.merchant_lookup != "pk" and self.merchant_field not in readonly:
            readonly.append(self.merchant_field)
        return readonly

    # -- lists --------------------------------------------------------------------------------

    def get_list_display(self, request: HttpRequest):
        columns = list(super().get_list_display(request))
        if (
            self.merchant_lookup != "pk"
            and len(self.scope_ids(request)) > 1
            and self.merchant_field not in columns
        ):
            columns.insert(1, self.merchant_field)
        return columns

    def get_list_select_related(self, request: HttpRequest):
        # The merchant column (shown in a multi-merchant scope) reads each row's merchant: join
        # it, or the list runs one query per row (tests/portal/test_changelist_queries.py).
        related = super().get_list_select_related(request)
        # True or False: Django joins every non-null foreign key, the merchant's included.
        if (
            isinstance(related, bool)
            or self.merchant_lookup == "pk"
            or self.merchant_field in related
            or self.merchant_field not in self.get_list_display(request)
        ):
            return related
        return [*related, self.merchant_field]

    def get_list_filter(self, request: HttpRequest):
        filters = list(super().get_list_filter(request))
        if (
            self.merchant_lookup != "pk"
            and len(self.scope_ids(request)) > 1
            and self.merchant_field not in filters
        ):
            filters.insert(0, self.merchant_field)
        scoped = []
        for item in filters:
            if isinstance(item, str) and self._is_relation_path(item):
                # Choices from the (scoped) rows themselves, never the whole related table.
                item = (item, RelatedOnlyFieldListFilter)
            scoped.append(item)
        return scoped

    def _is_relation_path(self, path: str) -> bool:
        try:
            fields = get_fields_from_path(self.model, path)
        except (FieldDoesNotExist, NotRelationField):
            return False
        return bool(fields) and fields[-1].is_relation

    # -- actions ------------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        return {
            name: (self._scoped_action(func), action_name, description)
            for name, (func, action_name, description) in actions.items()
        }

    def _scoped_action(self, func):
        capability = _action_capability(func)

        @functools.wraps(func)
        def run(modeladmin, request, queryset):
            return func(modeladmin, request, self.restrict_queryset(request, queryset, capability))

        return run


# --- Portal ----------------------------------------------------------------------------------


def status_label(text: str, variant: str | None) -> str:
    return render_to_string(
        "unfold/helpers/label.html", {"text": text or "-", "variant": variant or "default"}
    )


CONNECTION_STATUS_VARIANT = {
    "active": "success",
    "paused": "info",
    "auth_failed": "danger",
    "disconnected": "warning",
}


class MerchantOrAgencyOwnedAdminMixin(TenantScopedAdminMixin):
    """Rows that belong to a merchant or, with no merchant, to an agency (API keys,
    fulfillment services). A merchant's rows are scoped as usual; an agency's are visible to
    the members of the agencies of the merchants in scope, and acted on by those whose agency
    role has the capability. The rows show their own owner, so no merchant column or filter
    is added. ``get_queryset`` says which agency rows a model lists (the agency's own, and
    for services those that serve a merchant in scope)."""

    def visible_agency_ids(self, request: HttpRequest) -> frozenset[int]:
        """Agencies of the merchants in scope that the user is a member of."""
        access = portal_access(request)
        in_scope = {access.merchant_agency[m] for m in self.scope_ids(request)}
        return frozenset(a for a in access.agency_roles if a in in_scope)

    def restrict_queryset(self, request, queryset, capability) -> QuerySet:
        access = portal_access(request)
        merchant_ids = access.merchant_ids_with(
            capability, self.scope_ids(request), admin_only=capability in self.admin_only
        )
        agency_ids = [
            a for a in self.visible_agency_ids(request) if access.can_on_agency(capability, a)
        ]
        return queryset.filter(
            Q(merchant_id__in=sorted(merchant_ids))
            | Q(merchant__isnull=True, agency_id__in=agency_ids)
        )

    def get_object(self, request, object_id, from_field=None):
        # get_queryset already encodes both kinds of visibility.
        return ModelAdmin.get_object(self, request, object_id, from_field)

    def get_list_display(self, request):
        return list(self.list_display)

    def get_list_filter(self, request):
        return list(self.list_filter)


class MerchantPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    merchant_lookup = "pk"
    admin_only = frozenset({Capability.CHANGE})
    icon = "storefront"
    form = MerchantSettingsForm
    list_display = [
        "name",
        "agency",
        "time_zone",
        "default_currency",
        "auto_request_fulfillment",
        "deadline_warning_days",
    ]
    search_fields = ["name", "slug"]
    readonly_fields = ["agency", "slug", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "agency", "slug"]}),
        (_("Region"), {"fields": ["time_zone", "default_currency"]}),
        (_("Orders"), {"fields": ["auto_request_fulfillment", "deadline_warning_days"]}),
        (_("Record"), {"fields": ["created_at"], "classes": ["collapse"]}),
    ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # merchants are onboarded by staff (or a later sign-up flow)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        services.update_merchant_settings(merchant=obj, changes=changes)


class ConnectionPortalAdmin(TenantScopedAdminMixin, ModelAdmin):
    """Amazon accounts and Shopify stores: listed and changed; never added or deleted here
    (connecting and disconnecting are their own flows, rule R8)."""

    editable_fields: frozenset[str] = frozenset()

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj) -> str:
        return status_label(obj.get_status_display(), CONNECTION_STATUS_VARIANT.get(obj.status))

    def update(self, obj, changes: dict[str, Any], secrets: dict[str, str]) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in self.editable_fields}
        self.update(obj, changes, split_secrets(form))

    @staticmethod
    def secret_state(value: str) -> str:
        return _("Set (hidden)") if value else _("Not set")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read-only users see whether secrets are set, not the inputs to replace them.
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if not f.startswith("new_")]})
            for name, opts in fieldsets
        ]


class AmazonAccountPortalAdmin(ConnectionPortalAdmin):
    icon = "shopping_cart"
    form = AmazonAccountForm
    editable_fields = services.AMAZON_ACCOUNT_FIELDS
    list_display = [
        "__str__",
        "selling_partner_id",
        "region",
        "marketplaces",
        "status_badge",
        "sync_cursor",
        "connected_at",
    ]
    list_filter = ["status", "region"]
    search_fields = ["name", "selling_partner_id"]
    readonly_fields = [
        "selling_partner_id",
        "credentials",
        "status_message",
        "sync_cursor",
        "connected_at",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["merchant", "name", "selling_partner_id", "region", "marketplace_ids"]}),
        (_("Sync"), {"fields": ["status", "status_message", "sync_cursor", "connected_at"]}),
        (
            "Credentials",
            {
                "fields": [
                    "credentials",
                    "new_lwa_refresh_token",
                    "lwa_client_id",
                    "new_lwa_client_secret",
                ]
            },
        ),
        (
            "Sandbox",
            {"fields": ["endpoint_override", "lwa_endpoint_override"], "classes": ["collapse"]},
        ),
    ]

    @admin.display(description=_("Marketplaces"))
    def marketplaces(self, obj: AmazonAccount) -> str:
        return ", ".join(obj.marketplace_ids) or "-"

    @admin.display(description=_("Stored credentials"))
    def credentials(self, obj: AmazonAccount) -> str:
        return _("Refresh token: %(secret_state)s; client secret: %(secret_state2)s") % {
            "secret_state": self.secret_state(obj.lwa_refresh_token),
            "secret_state2": self.secret_state(obj.lwa_client_secret),
        }

    def update(self, obj, changes, secrets) -> None:
        services.update_amazon_account(account=obj, changes=changes, secrets=secrets)


class ShopifyStorePortalAdmin(ConnectionPortalAdmin):
    icon = "shopping_bag"
    form = ShopifyStoreForm
    editable_fields = services.SHOPIFY_STORE_FIELDS
    list_display = ["shop_domain", "api_version", "status_badge", "created_at"]
    list_filter = ["status"]
    search_fields = ["shop_domain"]
    readonly_fields = ["shop_domain", "credentials", "created_at"]
    fieldsets = [
        (None, {"fields": ["merchant", "shop_domain", "api_version", "status"]}),
        (_("Mirror"), {"fields": ["inventory_behaviour"]}),
        (_("Credentials"), {"fields": ["credentials", "new_access_token", "new_webhook_secret"]}),
        (_("Sandbox"), {"fields": ["endpoint_override"], "classes": ["collapse"]}),
    ]

    @admin.display(description=_("Stored credentials"))
    def credentials(self, obj: ShopifyStore) -> str:
        return _("Access token: %(secret_state)s; webhook secret: %(secret_state2)s") % {
            "secret_state": self.secret_state(obj.access_token),
            "secret_state2": self.secret_state(obj.webhook_secret),
        }

    def update(self, obj, changes, secrets) -> None:
        services.update_shopify_store(store=obj, changes=changes, secrets=secrets)


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyDisplayMixin:
    @admin.display(description=_("Key"))
    def key_prefix(self, obj: ApiKey) -> str:
        return format_html('<code class="keelson-code">{}…</code>', obj.prefix)

    @admin.display(description=_("Belongs to"))
    def owner(self, obj: ApiKey) -> str:
        if obj.owner_type == ApiKeyOwner.AGENCY:
            return f"{obj.agency} (agency: all its merchants)"
        return str(obj.merchant or obj.get_owner_type_display())

    @admin.display(description=_("Scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) or "-"

    @admin.display(description=_("Status"), ordering="revoked_at")
    def key_status(self, obj: ApiKey) -> str:
        if obj.revoked_at:
            return status_label("Revoked", "danger")
        return status_label("Active", "success")


class ApiKeyPortalAdmin(ApiKeyDisplayMixin, MerchantOrAgencyOwnedAdminMixin, ModelAdmin):
    """API keys of the merchants in scope, and of the user's agencies (for agency members).

    Adding calls ``create_api_key`` and shows the key once; "Revoke" calls ``revoke_api_key``.
    Keys are never edited or deleted: a revoked key stays listed for the record.
    """

    icon = "key"
    admin_only = frozenset({Capability.ADD, Capability.CHANGE, Capability.DELETE})
    list_display = [
        "name",
        "owner",
        "key_prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "key_status",
    ]
    list_filter = [ApiKeyStatusFilter, "owner_type"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys"]
    readonly_fields = [
        "name",
        "owner",
        "key_prefix",
        "scope_list",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    # -- scope: merchant keys by merchant; agency keys for members of the agency -------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = ModelAdmin.get_queryset(self, request).select_related("agency", "merchant")
        return qs.filter(
            Q(merchant_id__in=list(self.scope_ids(request)))
            | Q(
                owner_type=ApiKeyOwner.AGENCY,
                merchant__isnull=True,
                agency_id__in=list(self.visible_agency_ids(request)),
            )
        )

    def _agency_key(self, obj: ApiKey) -> bool:
        return obj.merchant_id is None and obj.agency_id is not None

    def portal_can(self, request, capability, obj=None) -> bool:
        if capability == Capability.DELETE:
            return False  # revoke instead; the key stays listed
        access = portal_access(request)
        if obj is not None and self._agency_key(obj):
            return obj.agency_id in self.visible_agency_ids(request) and access.can_on_agency(
                capability, obj.agency_id
            )
        if obj is None and any(
            access.can_on_agency(capability, a) for a in self.visible_agency_ids(request)
        ):
            return True
        return super().portal_can(request, capability, obj)

    # -- adding: the key is shown once --------------------------------------------------------

    def owner_choices(self, request: HttpRequest) -> list[tuple[str, str]]:
        access = portal_access(request)
        choices = []
        agencies = {a.pk: a for a in Agency.objects.filter(id__in=list(access.agency_roles))}
        for agency_id in sorted(self.visible_agency_ids(request)):
            if access.can_on_agency(Capability.ADD, agency_id) and agency_id in agencies:
                name = agencies[agency_id].name
                choices.append((f"agency:{agency_id}", f"{name} (agency key: all its merchants)"))
        merchant_ids = access.merchant_ids_with(
            Capability.ADD, self.scope_ids(request), admin_only=True
        )
        for merchant in Merchant.objects.filter(id__in=list(merchant_ids)).order_by("name"):
            choices.append((f"merchant:{merchant.pk}", f"{merchant.name} (merchant key)"))
        return choices

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            choices = self.owner_choices(request)
            return type(
                "ApiKeyCreateFormForRequest", (ApiKeyCreateForm,), {"owner_choices": choices}
            )
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "owner", "scopes"]})]
        return [
            (None, {"fields": ["name", "owner", "key_prefix", "scope_list"]}),
            (_("Use"), {"fields": ["created_by", "created_at", "last_used_at", "revoked_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else list(self.readonly_fields)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # keys are not edited
        issued = services.create_api_key(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            agency=form.cleaned_data.get("owner_agency"),
            merchant=form.cleaned_data.get("owner_merchant"),
            created_by=request.user,
        )
        # The admin goes on with `obj` (history, the next page): make it the stored key.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.api_key, field.attname))
        obj._state.adding = False
        obj._state.db = issued.api_key._state.db
        request._keelson_issued_key = issued.raw_key

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        raw_key = getattr(request, "_keelson_issued_key", None)
        if raw_key is None:  # pragma: no cover - save_model always sets it
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "raw_key": raw_key,
            "owner": self.owner(obj),
            "changelist_url": self._changelist_url(),
        }
        response = TemplateResponse(request, "portal/api_key_created.html", context)
        # The page holds a secret: never cache it, anywhere.
        response["Cache-Control"] = "no-store, private"
        response["Pragma"] = "no-cache"
        return response

    def _changelist_url(self) -> str:
        from django.urls import reverse

        return reverse(f"{self.admin_site.name}:tenants_apikey_changelist")

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key=key)
            revoked += 1
        if revoked:
            self.message_user(
                request,
                ngettext("Revoked %(count)s key.", "Revoked %(count)s keys.", revoked)
                % {"count": revoked},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, _("No active key was selected."), messages.WARNING)


# --- Staff admin (admin.site: superusers, across tenants) --------------------------------------


class ReadOnlyStaffAdminMixin:
    """Rows the staff admin shows and never adds, changes or deletes: what happened stays as
    it happened (refunds and fulfillment orders change through their use cases only, the
    audit never)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    icon = "group"


class MembershipInline(TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["role", "agency", "merchant", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["agency", "merchant"]


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    icon = "person"
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    inlines = [MembershipInline]
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_superuser"]
    fieldsets = [
        *BaseUserAdmin.fieldsets,
        (_("Notifications"), {"fields": ["email_notifications"]}),
    ]


class MerchantInline(TabularInline):
    model = Merchant
    extra = 0
    fields = ["name", "slug", "is_active"]
    show_change_link = True


@admin.register(Agency)
class AgencyAdmin(ModelAdmin):
    icon = "domain"
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MerchantInline]


@admin.register(Merchant)
class MerchantAdmin(ModelAdmin):
    icon = "storefront"
    list_display = ["name", "agency", "slug", "time_zone", "default_currency", "is_active"]
    list_filter = ["is_active", "agency"]
    search_fields = ["name", "slug", "agency__name"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["agency"]


@admin.register(Membership)
class MembershipAdmin(ModelAdmin):
    icon = "badge"
    list_display = ["user", "role", "agency", "merchant", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "agency__name", "merchant__name"]
    autocomplete_fields = ["user", "agency", "merchant"]


class StaffConnectionAdmin(ModelAdmin):
    """Staff see and fix connections across tenants; secrets stay write-only here too."""

    editable_fields: frozenset[str] = frozenset()
    list_select_related = ["merchant"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj) -> str:
        return status_label(obj.get_status_display(), CONNECTION_STATUS_VARIANT.get(obj.status))

    def save_model(self, request, obj, form, change) -> None:
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in self.editable_fields}
        self.update(obj, changes, split_secrets(form))


@admin.register(AmazonAccount)
class AmazonAccountAdmin(StaffConnectionAdmin):
    icon = "shopping_cart"
    form = AmazonAccountForm
    editable_fields = services.AMAZON_ACCOUNT_FIELDS
    list_display = [
        "__str__",
        "merchant",
        "selling_partner_id",
        "region",
        "status_badge",
        "sync_cursor",
        "next_sync_at",
    ]
    list_filter = ["status", "region"]
    search_fields = ["name", "selling_partner_id", "merchant__name"]
    readonly_fields = [
        "merchant",
        "selling_partner_id",
        "status_message",
        "sync_cursor",
        "next_sync_at",
        "lease_owner",
        "lease_until",
        "connected_at",
    ]
    fieldsets = [
        *AmazonAccountPortalAdmin.fieldsets[:2],
        (
            "Credentials",
            {"fields": ["new_lwa_refresh_token", "lwa_client_id", "new_lwa_client_secret"]},
        ),
        (_("Sandbox"), {"fields": ["endpoint_override", "lwa_endpoint_override"]}),
        (_("Scheduler"), {"fields": ["next_sync_at", "lease_owner", "lease_until"]}),
    ]

    def update(self, obj, changes, secrets) -> None:
        services.update_amazon_account(account=obj, changes=changes, secrets=secrets)


@admin.register(ShopifyStore)
class ShopifyStoreAdmin(StaffConnectionAdmin):
    icon = "shopping_bag"
    form = ShopifyStoreForm
    editable_fields = services.SHOPIFY_STORE_FIELDS
    list_display = ["shop_domain", "merchant", "api_version", "status_badge", "created_at"]
    list_filter = ["status"]
    search_fields = ["shop_domain", "merchant__name"]
    readonly_fields = ["merchant", "shop_domain", "created_at"]
    fieldsets = [
        (None, {"fields": ["merchant", "shop_domain", "api_version", "status"]}),
        (_("Mirror"), {"fields": ["inventory_behaviour"]}),
        (_("Credentials"), {"fields": ["new_access_token", "new_webhook_secret"]}),
        (_("Sandbox"), {"fields": ["endpoint_override"]}),
    ]

    def update(self, obj, changes, secrets) -> None:
        services.update_shopify_store(store=obj, changes=changes, secrets=secrets)


@admin.register(ApiKey)
class ApiKeyAdmin(ApiKeyDisplayMixin, ModelAdmin):
    icon = "key"
    list_display = ["name", "owner", "key_prefix", "scope_list", "last_used_at", "key_status"]
    list_filter = [ApiKeyStatusFilter, "owner_type"]
    search_fields = ["name", "prefix", "agency__name", "merchant__name"]
    list_select_related = ["agency", "merchant"]
    actions = ["revoke_keys"]
    fields = [
        "name",
        "owner",
        "key_prefix",
        "scope_list",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # keys are issued in the portal or with `manage.py create_api_key`

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key=key)
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)s key.", "Revoked %(count)s keys.", revoked)
            % {"count": revoked},
            messages.SUCCESS,
        )


@admin.register(StaffAccess)
class StaffAccessAdmin(ReadOnlyStaffAdminMixin, ModelAdmin):
    """Every cross-tenant request of the staff admin, on the record: read-only."""

    icon = "policy"
    list_display = ["at", "username", "method", "path", "query", "status_code", "ip_address"]
    list_filter = ["method", "status_code"]
    search_fields = ["username", "path", "query"]
    date_hierarchy = "at"
