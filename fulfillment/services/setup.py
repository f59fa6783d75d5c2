"""Setting up fulfillment services: a service with its signing secret, its scoped API key (shown
once), and its locations.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fulfillment import errors, workflow
from fulfillment.models import FulfillmentLocation, FulfillmentService
from fulfillment.services.base import SERVICE_KEY_SCOPES
from tenants.models import (
    API_KEY_PREFIX_LENGTH,
    Agency,
    ApiKey,
    ApiKeyOwner,
    Merchant,
    hash_api_key,
)


@dataclass(frozen=True)
class ServiceCredentials:
    """Shown once: the service's API key and its signing secret."""

    service: FulfillmentService
    api_key: str | None
    signing_secret: str


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_fulfillment_service(
    *,
    name: str,
    workflow: str = workflow.Workflow.FULFILLMENT_ORDER,
    merchant: Merchant | None = None,
    agency: Agency | None = None,
    callback_url: str = "",
    issue_api_key: bool = True,
    signing_secret: str | None = None,
) -> ServiceCredentials:
    """A service owned by a merchant (which it then serves, as its default location) or by an
    agency (it serves the merchants given a location with ``add_location``)."""
    if (merchant is None) == (agency is None):
        raise errors.InvalidFulfillmentInput(
            "A fulfillment service belongs to exactly one merchant or one agency."
        )
    secret = signing_secret or new_signing_secret()
    service = FulfillmentService.objects.create(
        name=name,
        workflow=workflow,
        merchant=merchant,
        agency=agency,
        callback_url=callback_url,
        signing_secret=secret,
    )
    if merchant is not None:
        add_location(service=service, merchant=merchant, is_default=True)
    raw = issue_service_api_key(service=service) if issue_api_key else None
    service.refresh_from_db()
    return ServiceCredentials(service, raw, secret)


@transaction.atomic
def issue_service_api_key(*, service: FulfillmentService, name: str = "") -> str:
    """Issue the service's API key (fulfillments:read/write only), revoking its previous one.
    Returns the raw key, shown once. The key is owned by the service; it carries the service's
    owner (merchant or agency) for listing, and sees only the merchants the service serves."""
    service = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    if service.api_key_id is not None:
        ApiKey.objects.filter(pk=service.api_key_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    raw = ApiKey.generate_raw_key()

    key = ApiKey.objects.create(
        name=name or f"{service.name} (fulfillment service)",
        owner_type=ApiKeyOwner.FULFILLMENT_SERVICE,
        agency_id=service.agency_id,
        merchant_id=service.merchant_id,
        prefix=raw[:API_KEY_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        scopes=sorted(SERVICE_KEY_SCOPES),
    )
    service.api_key = key
    service.save(update_fields=["api_key"])
    return raw


@transaction.atomic
def add_location(
    *,
    service: FulfillmentService,
    merchant: Merchant,
    is_default: bool = False,
    skus: Sequence[str] = (),
    name: str = "",
) -> FulfillmentLocation:
    """Let ``service`` fulfil ``merchant``'s lines: the given SKUs, and (as the merchant's
    default) every line no other location is assigned. An agency's service serves only its
    agency's merchants."""
    if service.merchant_id is not None and service.merchant_id != merchant.pk:
        raise errors.InvalidFulfillmentInput("This service belongs to another merchant.")
    if service.agency_id is not None and service.agency_id != merchant.agency_id:
        raise errors.InvalidFulfillmentInput("This service belongs to another agency.")
    if is_default:
        FulfillmentLocation.objects.filter(merchant=merchant, is_default=True).exclude(
            service=service
        ).update(is_default=False)
    location, _ = FulfillmentLocation.objects.update_or_create(
        service=service,
        merchant=merchant,
        defaults={
            "is_default": is_default,
            "skus": sorted(set(skus)),
            "name": name or service.name,
            "is_active": True,
        },
    )
    return location
