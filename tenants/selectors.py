"""Read queries about tenancy: who may see which merchants."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet

from tenants import scope
from tenants.models import (
    AGENCY_ROLES,
    READ_ONLY_ROLES,
    AmazonAccount,
    ApiKey,
    ApiKeyOwner,
    Membership,
    Merchant,
    User,
)
from tenants.policy import Access


def merchants_for_user(user: User) -> QuerySet[Merchant]:
    """Every merchant the user may see: through agency roles (all the agency's merchants) or
    merchant roles. Superusers see none here: they use the staff admin."""
    if not user.is_authenticated or not user.is_active:
        return Merchant.objects.none()
    memberships = Membership.objects.filter(user=user)
    return (
        Merchant.objects.filter(
            Q(agency__memberships__in=memberships.filter(role__in=AGENCY_ROLES))
            | Q(memberships__in=memberships.exclude(role__in=AGENCY_ROLES))
        )
        .filter(is_active=True)
        .distinct()
        .order_by("name")
    )


def merchant_ids_for_user(user: User) -> frozenset[int]:
    return frozenset(merchants_for_user(user).values_list("id", flat=True))


def access_for_user(user: User) -> Access:
    """The user's roles merchant by merchant (active merchants only), for permission checks."""
    if not user.is_authenticated or not user.is_active:
        return Access({}, {}, {})
    merchant_roles: dict[int, set[str]] = defaultdict(set)
    agency_roles: dict[int, set[str]] = defaultdict(set)
    direct: list[tuple[int, str]] = []
    for agency_id, merchant_id, role in Membership.objects.filter(user=user).values_list(
        "agency_id", "merchant_id", "role"
    ):
        if agency_id is not None:
            agency_roles[agency_id].add(role)
        else:
            direct.append((merchant_id, role))
    merchants = Merchant.objects.filter(is_active=True).filter(
        Q(agency_id__in=list(agency_roles)) | Q(id__in=[m for m, _ in direct])
    )
    merchant_agency = dict(merchants.values_list("id", "agency_id"))
    for merchant_id, agency_id in merchant_agency.items():
        merchant_roles[merchant_id] |= agency_roles.get(agency_id, set())
    for merchant_id, role in direct:
        if merchant_id in merchant_agency:
            merchant_roles[merchant_id].add(role)
    return Access(
        {m: frozenset(r) for m, r in merchant_roles.items()},
        {a: frozenset(r) for a, r in agency_roles.items()},
        merchant_agency,
    )


def merchants_by_ids(ids: Iterable[int]) -> QuerySet[Merchant]:
    return Merchant.objects.filter(id__in=list(ids)).select_related("agency").order_by("name")


def active_api_key_counts(merchant_ids: Iterable[int]) -> dict[int, int]:
    """Active (unrevoked) merchant-owned API keys per merchant."""
    rows = (
        ApiKey.objects.filter(merchant_id__in=list(merchant_ids), revoked_at__isnull=True)
        .values("merchant_id")
        .annotate(n=Count("id"))
    )
    return {row["merchant_id"]: row["n"] for row in rows}


def amazon_accounts_by_merchant() -> dict[int, list[AmazonAccount]]:
    """The Amazon accounts in the current tenant scope, grouped by merchant."""
    grouped: dict[int, list[AmazonAccount]] = defaultdict(list)
    for account in AmazonAccount.objects.order_by("merchant_id", "name", "id"):
        grouped[account.merchant_id].append(account)
    return dict(grouped)


def is_agency_user(user: User) -> bool:
    return Membership.objects.filter(user=user, role__in=AGENCY_ROLES).exists()


def is_read_only_user(user: User, merchant_id: int | None = None) -> bool:
    """Viewers may look, not act. A user with any non-viewer role on the merchant may act."""
    memberships = Membership.objects.filter(user=user)
    if merchant_id is not None:
        memberships = memberships.filter(
            Q(merchant_id=merchant_id) | Q(agency__merchants__id=merchant_id)
        )
    roles = set(memberships.values_list("role", flat=True))
    return bool(roles) and roles <= {r.value for r in READ_ONLY_ROLES}


def merchants_for_api_key(key: ApiKey) -> QuerySet[Merchant]:
    if key.owner_type == ApiKeyOwner.FULFILLMENT_SERVICE:
        # The merchants its service serves (fulfillment.models.FulfillmentLocation), never its
        # owner's whole agency; fulfillment.selectors then narrows it to the service's own
        # fulfillment orders. No service, or an inactive one: nothing.
        return Merchant.objects.filter(
            is_active=True,
            fulfillment_locations__is_active=True,
            fulfillment_locations__service__is_active=True,
            fulfillment_locations__service__api_key=key,
        ).distinct()
    if key.agency_id:
        return Merchant.objects.filter(agency_id=key.agency_id, is_active=True)
    if key.merchant_id:
        return Merchant.objects.filter(id=key.merchant_id, is_active=True)
    return Merchant.objects.none()


def active_api_key_by_hash(key_hash: str) -> ApiKey | None:
    return (
        ApiKey.objects.select_related("agency", "merchant")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .first()
    )


def merchants_in_scope() -> QuerySet[Merchant]:
    """The active merchants of the current tenant scope (none without a scope), with their
    agency: what an API key may see (`GET /api/v1/merchants/`)."""

    ids = scope.current_merchant_ids()
    if not ids:
        return Merchant.objects.none()
    return Merchant.objects.filter(id__in=sorted(ids), is_active=True).select_related("agency")
