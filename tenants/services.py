"""Write use cases of the tenancy app."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.crypto import ENCRYPTED_PREFIX, EncryptedTextField, rotate
from tenants.errors import InvalidApiKeyOwner, NotEditable, UnknownScope
from tenants.models import (
    API_KEY_PREFIX_LENGTH,
    AccountStatus,
    Agency,
    AmazonAccount,
    ApiKey,
    ApiKeyOwner,
    ApiScope,
    Merchant,
    ShopifyStore,
    TenantModel,
    User,
    hash_api_key,
)
from tenants.scope import tenant_context

# What people may change through the portal; everything else is the system's (sync cursors,
# leases, failure states) or identifies the row (seller id, shop domain).
MERCHANT_SETTINGS_FIELDS = frozenset(
    {"name", "time_zone", "default_currency", "auto_request_fulfillment", "deadline_warning_days"}
)
AMAZON_ACCOUNT_FIELDS = frozenset(
    {
        "name",
        "region",
        "marketplace_ids",
        "lwa_client_id",
        "endpoint_override",
        "lwa_endpoint_override",
        "status",
    }
)
AMAZON_ACCOUNT_SECRETS = frozenset({"lwa_refresh_token", "lwa_client_secret"})
SHOPIFY_STORE_FIELDS = frozenset(
    {"api_version", "endpoint_override", "status", "inventory_behaviour"}
)
SHOPIFY_STORE_SECRETS = frozenset({"access_token", "webhook_secret"})
# People may pause a connection or resume it; the other states are set by the system.
SETTABLE_STATUSES = frozenset({AccountStatus.ACTIVE, AccountStatus.PAUSED})


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key: `raw_key` is shown once and never stored."""

    api_key: ApiKey
    raw_key: str


def create_api_key(
    *,
    name: str,
    scopes: Iterable[str],
    agency: Agency | None = None,
    merchant: Merchant | None = None,
    created_by: User | None = None,
) -> IssuedApiKey:
    """Issue an API key for an agency or a merchant (exactly one)."""
    if (agency is None) == (merchant is None):
        raise InvalidApiKeyOwner(_("An API key belongs to exactly one agency or one merchant."))
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in ApiScope.values]
    if unknown:
        raise UnknownScope(
            _("Unknown scope(s): %(join)s. Known: %(join2)s.")
            % {"join": ", ".join(unknown), "join2": ", ".join(ApiScope.values)}
        )
    raw = ApiKey.generate_raw_key()
    key = ApiKey.objects.create(
        name=name,
        owner_type=ApiKeyOwner.AGENCY if agency else ApiKeyOwner.MERCHANT,
        agency=agency,
        merchant=merchant,
        prefix=raw[:API_KEY_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        scopes=scopes,
        created_by=created_by,
    )
    return IssuedApiKey(api_key=key, raw_key=raw)


def _atomic(model):
    """A transaction on the connection the model's queries use: the application's, or the
    owner's inside ``system_context`` (staff admin, operator commands)."""
    return transaction.atomic(using=router.db_for_write(model))


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; idempotent (a revoked key keeps its first revocation time)."""
    with _atomic(ApiKey):
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
    return locked


def _check_fields(changes: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise NotEditable(f"{what}: {', '.join(unknown)} cannot be changed here.")


USER_SETTINGS_FIELDS = frozenset(
    {"first_name", "last_name", "email", "language", "email_notifications"}
)


def update_user_settings(*, user: User, changes: Mapping[str, Any]) -> User:
    """A person's own settings (name, e-mail, language, e-mail notifications): the settings
    page and the header's language menu both change them here."""
    _check_fields(changes, USER_SETTINGS_FIELDS, "Your settings")
    # Compared with the stored row: a validated ModelForm has already set its instance's fields.
    stored = User.objects.get(pk=user.pk)
    changed = {f: v for f, v in changes.items() if getattr(stored, f) != v}
    for field, value in changes.items():
        setattr(user, field, value)
    if changed:
        user.full_clean(exclude=["password"], validate_unique=False)
        user.save(update_fields=sorted(changed))
    return user


def update_merchant_settings(*, merchant: Merchant, changes: Mapping[str, Any]) -> Merchant:
    """Change a merchant's settings (time zone, currency, automatic fulfillment, warnings)."""
    _check_fields(changes, MERCHANT_SETTINGS_FIELDS, "Merchant settings")
    with _atomic(Merchant):
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.full_clean()
        if changes:
            locked.save(update_fields=sorted(changes))
    return locked


def _update_connection(
    model: type[AmazonAccount] | type[ShopifyStore],
    pk: int,
    changes: Mapping[str, Any],
    secrets: Mapping[str, str],
    fields: frozenset[str],
    secret_fields: frozenset[str],
):
    what = model._meta.verbose_name.capitalize()
    _check_fields(changes, fields, what)
    _check_fields(secrets, secret_fields, what)
    if "status" in changes and changes["status"] not in SETTABLE_STATUSES:
        raise NotEditable(f"{what}: the status can only be set to active or paused.")
    # The scoped manager and row-level security both limit this to the caller's merchants.
    with _atomic(model):
        return _apply_connection_changes(model, pk, changes, secrets)


def _apply_connection_changes(model, pk, changes, secrets):
    locked = model.objects.select_for_update().get(pk=pk)
    updated = set()
    for field, value in changes.items():
        setattr(locked, field, value)
        updated.add(field)
    for field, value in secrets.items():
        if value:  # an empty secret input means "keep the current value"
            setattr(locked, field, value)
            updated.add(field)
    if (
        any(secrets.values())
        and locked.status == AccountStatus.AUTH_FAILED
        and "status" not in changes
    ):
        # New credentials: let the next sync try them.
        locked.status = AccountStatus.ACTIVE
        updated.add("status")
        if hasattr(locked, "status_message"):
            locked.status_message = ""
            updated.add("status_message")
    locked.full_clean()
    if updated:
        locked.save(update_fields=sorted(updated))
    return locked


def update_amazon_account(
    *, account: AmazonAccount, changes: Mapping[str, Any], secrets: Mapping[str, str] | None = None
) -> AmazonAccount:
    """Change an Amazon account's settings; secrets given empty keep their stored value."""
    return _update_connection(
        AmazonAccount,
        account.pk,
        changes,
        secrets or {},
        AMAZON_ACCOUNT_FIELDS,
        AMAZON_ACCOUNT_SECRETS,
    )


def update_shopify_store(
    *, store: ShopifyStore, changes: Mapping[str, Any], secrets: Mapping[str, str] | None = None
) -> ShopifyStore:
    """Change a Shopify store's settings; secrets given empty keep their stored value."""
    return _update_connection(
        ShopifyStore,
        store.pk,
        changes,
        secrets or {},
        SHOPIFY_STORE_FIELDS,
        SHOPIFY_STORE_SECRETS,
    )


def pause_shopify_store(store_id: int) -> ShopifyStore | None:
    """Shopify refused the store's token: mark it "authentication failed" (its writes keep
    waiting in the outbox until it is reconnected). Returns the store when it was paused now,
    None when it already was (or is disconnected), so the caller tells the merchant once."""
    paused = ShopifyStore.objects.filter(pk=store_id, status=AccountStatus.ACTIVE).update(
        status=AccountStatus.AUTH_FAILED
    )
    return ShopifyStore.objects.get(pk=store_id) if paused else None


def record_api_key_use(api_key: ApiKey, *, at: datetime, resolution: timedelta) -> bool:
    """Set the key's last_used_at, at most once per `resolution` (one conditional UPDATE, so
    concurrent requests do not queue on the row). Returns whether it was written."""
    if api_key.last_used_at is not None and at - api_key.last_used_at < resolution:
        return False
    updated = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - resolution))
        .update(last_used_at=at)
    )
    if updated:
        api_key.last_used_at = at
    return bool(updated)


def rotate_encryption_keys() -> dict[str, int]:
    """Re-encrypt every encrypted value with the newest key of KEELSON_ENCRYPTION_KEYS.

    Run after putting a new key first; then the old key can be dropped. Idempotent. Works one
    merchant at a time in its own scope (row-level security applies to these tables), and
    rewrites the stored tokens without decrypting them into Python objects.
    """
    from django.apps import apps
    from django.db import connection

    counts: dict[str, int] = {}
    merchant_ids = list(Merchant.objects.values_list("id", flat=True))
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if not fields:
            continue
        table = connection.ops.quote_name(model._meta.db_table)
        pk = connection.ops.quote_name(model._meta.pk.column)
        rotated = 0
        scopes = merchant_ids if issubclass(model, TenantModel) else [None]
        for merchant_id in scopes:
            with tenant_context(merchant_id or []), transaction.atomic():
                with connection.cursor() as cursor:
                    for field in fields:
                        column = connection.ops.quote_name(field.column)
                        cursor.execute(
                            f"SELECT {pk}, {column} FROM {table} WHERE {column} LIKE %s FOR UPDATE",
                            [ENCRYPTED_PREFIX + "%"],
                        )
                        for row_id, stored in cursor.fetchall():
                            cursor.execute(
                                f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",
                                [rotate(stored), row_id],
                            )
                            rotated += 1
        counts[model._meta.label] = rotated
    return counts
