"""Write use cases of the tenancy app."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenants.errors import InvalidApiKeyOwner, UnknownScope
from tenants.models import (
    API_KEY_PREFIX_LENGTH,
    Agency,
    ApiKey,
    ApiKeyOwner,
    ApiScope,
    Merchant,
    User,
    hash_api_key,
)


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
        raise InvalidApiKeyOwner("An API key belongs to exactly one agency or one merchant.")
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in ApiScope.values]
    if unknown:
        raise UnknownScope(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(ApiScope.values)}."
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


@transaction.atomic
def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; idempotent (a revoked key keeps its first revocation time)."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
    return locked
