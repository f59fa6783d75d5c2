"""Read queries about tenancy: who may see which merchants."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from tenants.models import AGENCY_ROLES, READ_ONLY_ROLES, ApiKey, Membership, Merchant, User


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
