"""Setting up fulfillment services: a service with its signing secret, its scoped API key (shown
once), its locations and which service is each merchant's default; editing it, issuing a new
key or signing secret, revoking its key. (Testing, deactivating and taking a location away are
``connections``.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import callbacks, errors, workflow
from fulfillment.models import ConnectionStatus, FulfillmentLocation, FulfillmentService
from fulfillment.services.base import SERVICE_KEY_SCOPES
from tenants.models import (
    API_KEY_PREFIX_LENGTH,
    Agency,
    ApiKey,
    ApiKeyOwner,
    Merchant,
    hash_api_key,
)
from tenants.services import revoke_api_key


@dataclass(frozen=True)
class ServiceCredentials:
    """Shown once: the service's API key and its signing secret."""

    service: FulfillmentService
    api_key: str | None
    signing_secret: str


@dataclass(frozen=True)
class LocationSpec:
    """A merchant a new service serves: as its default (every line no SKU assignment claims)
    and/or for the given SKUs."""

    merchant: Merchant
    is_default: bool = False
    skus: Sequence[str] = ()
    name: str = ""


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def clean_skus(skus: Iterable[str]) -> list[str]:
    return sorted({sku.strip() for sku in skus if sku and sku.strip()})


def check_callback_url(url: str, *, require_https: bool) -> str:
    """The callback URL as stored (empty: the service polls the API), or a validation error on
    the ``callback_url`` field. The portal requires https outside DEBUG."""
    url = (url or "").strip()
    if not url:
        return ""
    problem = callbacks.callback_url_problem(url, require_https=require_https)
    if problem:
        raise errors.InvalidFulfillmentInput(problem, errors={"callback_url": [problem]})
    return url


def _check_workflow(value: str) -> str:
    if value not in {choice.value for choice in workflow.Workflow}:
        text = _("Choose a workflow: fulfillment orders or legacy.")
        raise errors.InvalidFulfillmentInput(text, errors={"workflow": [text]})
    return value


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        text = _("Give the service a name.")
        raise errors.InvalidFulfillmentInput(text, errors={"name": [text]})
    return name


def _ensure_active(service: FulfillmentService) -> None:
    if not service.is_active:
        raise errors.ServiceInactive(
            _("%(name)s is deactivated: reactivate it first.") % {"name": service.name}
        )


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
    locations: Sequence[LocationSpec] | None = None,
    require_https: bool = False,
) -> ServiceCredentials:
    """A service owned by a merchant or by an agency, with its locations, its signing secret
    and (by default) its API key, all or nothing. Without ``locations``, a merchant's service
    is its default and an agency's serves nobody yet (``add_location``)."""
    if (merchant is None) == (agency is None):
        raise errors.InvalidFulfillmentInput(
            "A fulfillment service belongs to exactly one merchant or one agency."
        )
    name = _check_name(name)
    _check_workflow(workflow)
    callback_url = check_callback_url(callback_url, require_https=require_https)
    secret = signing_secret or new_signing_secret()
    service = FulfillmentService.objects.create(
        name=name,
        workflow=workflow,
        merchant=merchant,
        agency=agency,
        callback_url=callback_url,
        signing_secret=secret,
    )
    if locations is None:
        locations = [LocationSpec(merchant, is_default=True)] if merchant is not None else []
    for spec in locations:
        add_location(
            service=service,
            merchant=spec.merchant,
            is_default=spec.is_default,
            skus=spec.skus,
            name=spec.name,
        )
    raw = issue_service_api_key(service=service) if issue_api_key else None
    service.refresh_from_db()
    return ServiceCredentials(service, raw, secret)


@transaction.atomic
def update_fulfillment_service(
    *,
    service: FulfillmentService,
    name: str,
    workflow: str,
    callback_url: str,
    require_https: bool = False,
) -> FulfillmentService:
    """Rename it, change its workflow (fulfillment orders made before keep theirs) or its
    callback URL (a new URL is untested until tested or used)."""
    locked = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    locked.name = _check_name(name)
    locked.workflow = _check_workflow(workflow)
    url = check_callback_url(callback_url, require_https=require_https)
    if url != locked.callback_url:
        locked.callback_url = url
        if locked.is_active:
            locked.connection_status = ConnectionStatus.NOT_TESTED
            locked.connection_error = ""
            locked.connection_checked_at = None
    locked.save(
        update_fields=[
            "name",
            "workflow",
            "callback_url",
            "connection_status",
            "connection_error",
            "connection_checked_at",
        ]
    )
    return locked


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
def revoke_service_api_key(*, service: FulfillmentService) -> ApiKey | None:
    """The service's key stops working at once (401); it stays listed, revoked. Idempotent;
    None when the service has no key."""
    locked = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    if locked.api_key_id is None:
        return None
    return revoke_api_key(api_key=ApiKey.objects.get(pk=locked.api_key_id))


@transaction.atomic
def rotate_signing_secret(*, service: FulfillmentService) -> str:
    """A new signing secret (shown once): callbacks are signed with it from now on, so the
    service must verify with it; until it is tested again the connection counts as untested."""
    locked = FulfillmentService.objects.select_for_update().get(pk=service.pk)
    _ensure_active(locked)
    secret = new_signing_secret()
    locked.signing_secret = secret
    locked.connection_status = ConnectionStatus.NOT_TESTED
    locked.connection_error = ""
    locked.connection_checked_at = None
    locked.save(
        update_fields=[
            "signing_secret",
            "connection_status",
            "connection_error",
            "connection_checked_at",
        ]
    )
    return secret


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
        raise errors.InvalidFulfillmentInput(_("This service belongs to another merchant."))
    if service.agency_id is not None and service.agency_id != merchant.agency_id:
        raise errors.InvalidFulfillmentInput(_("This service belongs to another agency."))
    if is_default:
        FulfillmentLocation.objects.filter(merchant=merchant, is_default=True).exclude(
            service=service
        ).update(is_default=False)
    location, _created = FulfillmentLocation.objects.update_or_create(
        service=service,
        merchant=merchant,
        defaults={
            "is_default": is_default,
            "skus": clean_skus(skus),
            "name": name or service.name,
            "is_active": True,
        },
    )
    return location


@transaction.atomic
def set_default_service(*, merchant: Merchant, service: FulfillmentService) -> FulfillmentLocation:
    """Make ``service`` the merchant's default: it gets every line no SKU assignment claims,
    from the next order on (fulfillment orders made already stay with their service)."""
    locations = list(
        FulfillmentLocation.objects.select_for_update()
        .filter(merchant=merchant)
        .select_related("service")
    )
    chosen = next((loc for loc in locations if loc.service_id == service.pk), None)
    if chosen is None or not chosen.is_active:
        raise errors.InvalidFulfillmentInput(
            _("%(service)s does not serve %(merchant)s: add a location for it first.")
            % {"service": service.name, "merchant": merchant.name}
        )
    _ensure_active(chosen.service)
    for location in locations:
        if location.is_default and location.pk != chosen.pk:
            location.is_default = False
            location.save(update_fields=["is_default"])
    if not chosen.is_default:
        chosen.is_default = True
        chosen.save(update_fields=["is_default"])
    return chosen
