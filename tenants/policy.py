"""Who may do what, from roles alone (no ORM, no I/O).

Portal users are not Django staff and hold no Django model permissions: what they may do with a
merchant's rows follows from their roles on that merchant (architecture.md, "Tenancy"):

- agency owner and admin, merchant admin: view, add, change, delete;
- agency staff and merchant staff: view and change;
- merchant viewer: view only.

Some things (a merchant's settings, API keys) need an admin role even to change; a ModelAdmin
lists those capabilities in ``admin_only`` and ``allows(..., admin_only=True)`` applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from tenants.models import Role


class Capability(StrEnum):
    VIEW = "view"
    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"


ALL_CAPABILITIES = frozenset(Capability)
ADMIN_ROLES = frozenset({Role.AGENCY_OWNER, Role.AGENCY_ADMIN, Role.MERCHANT_ADMIN})

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.AGENCY_OWNER: ALL_CAPABILITIES,
    Role.AGENCY_ADMIN: ALL_CAPABILITIES,
    Role.MERCHANT_ADMIN: ALL_CAPABILITIES,
    Role.AGENCY_STAFF: frozenset({Capability.VIEW, Capability.CHANGE}),
    Role.MERCHANT_STAFF: frozenset({Capability.VIEW, Capability.CHANGE}),
    Role.MERCHANT_VIEWER: frozenset({Capability.VIEW}),
}


def capabilities(roles: Iterable[str]) -> frozenset[Capability]:
    """Everything any of the roles allows."""
    allowed: set[Capability] = set()
    for role in roles:
        allowed |= ROLE_CAPABILITIES.get(role, frozenset())
    return frozenset(allowed)


def allows(roles: Iterable[str], capability: Capability | str, *, admin_only: bool = False) -> bool:
    """Whether the roles allow the capability; with ``admin_only``, only admin roles count."""
    roles = frozenset(roles)
    if admin_only:
        roles &= ADMIN_ROLES
    return Capability(capability) in capabilities(roles)


class Access:
    """What one user may do, merchant by merchant (built by ``selectors.access_for_user``).

    ``merchant_roles`` maps every merchant the user may see to the roles that apply to it
    (agency roles reach all of the agency's merchants); ``agency_roles`` maps the agencies the
    user belongs to to their agency roles.
    """

    def __init__(
        self,
        merchant_roles: dict[int, frozenset[str]],
        agency_roles: dict[int, frozenset[str]],
        merchant_agency: dict[int, int],
    ):
        self.merchant_roles = merchant_roles
        self.agency_roles = agency_roles
        self.merchant_agency = merchant_agency

    @property
    def merchant_ids(self) -> frozenset[int]:
        return frozenset(self.merchant_roles)

    def can(
        self, capability: Capability | str, merchant_id: int | None, *, admin_only: bool = False
    ) -> bool:
        if merchant_id is None:
            return False
        return allows(self.merchant_roles.get(merchant_id, ()), capability, admin_only=admin_only)

    def merchant_ids_with(
        self,
        capability: Capability | str,
        within: Iterable[int] | None = None,
        *,
        admin_only: bool = False,
    ) -> frozenset[int]:
        """The merchants (of ``within``, default all) on which the user has the capability."""
        ids = self.merchant_ids if within is None else frozenset(within) & self.merchant_ids
        return frozenset(m for m in ids if self.can(capability, m, admin_only=admin_only))

    def can_on_agency(self, capability: Capability | str, agency_id: int | None) -> bool:
        """Agency-wide capability (agency keys): agency roles only, admins for anything but view."""
        if agency_id is None:
            return False
        roles = self.agency_roles.get(agency_id, frozenset())
        return allows(roles, capability, admin_only=Capability(capability) != Capability.VIEW)
