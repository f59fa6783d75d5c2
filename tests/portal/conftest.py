"""Portal fixtures: two agencies, their merchants and users in every role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from tenants.models import Agency, Merchant, Role, User


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Each fixture user gets a password; the default PBKDF2 makes that ~0.3 s apiece.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Tenancy:
    agency_a: Agency
    agency_b: Agency
    a1: Merchant  # agency A's merchants
    a2: Merchant
    b1: Merchant  # agency B's merchant
    agency_owner: User  # owner of agency A: sees a1 and a2
    agency_staff: User  # staff of agency A
    merchant_admin: User  # admin of a1 only
    merchant_staff: User  # staff of a1 only
    viewer: User  # viewer of a1 only
    other_owner: User  # owner of agency B: sees b1 only


@pytest.fixture
def tenancy(make_agency, make_merchant, make_user) -> Tenancy:
    agency_a = make_agency(name="Agency A")
    agency_b = make_agency(name="Agency B")
    a1 = make_merchant(agency=agency_a, name="A-one Goods")
    a2 = make_merchant(agency=agency_a, name="A-two Supplies")
    b1 = make_merchant(agency=agency_b, name="B-one Traders")
    return Tenancy(
        agency_a=agency_a,
        agency_b=agency_b,
        a1=a1,
        a2=a2,
        b1=b1,
        agency_owner=make_user(Role.AGENCY_OWNER, agency=agency_a),
        agency_staff=make_user(Role.AGENCY_STAFF, agency=agency_a),
        merchant_admin=make_user(Role.MERCHANT_ADMIN, merchant=a1),
        merchant_staff=make_user(Role.MERCHANT_STAFF, merchant=a1),
        viewer=make_user(Role.MERCHANT_VIEWER, merchant=a1),
        other_owner=make_user(Role.AGENCY_OWNER, agency=agency_b),
    )


@pytest.fixture
def login():
    """A test client logged in as the given user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def switch_to(client: Client, merchant: Merchant | str, next_url: str = "/"):
    value = merchant if isinstance(merchant, str) else str(merchant.pk)
    return client.post("/merchant/switch/", {"merchant": value, "next": next_url})


def changelist_pks(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}
