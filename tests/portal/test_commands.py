"""Operator commands: seed_demo (idempotent, --json) and create_api_key."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client

from tenants.models import Agency, AmazonAccount, ApiKey, Membership, Merchant, User, hash_api_key
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts() -> dict[str, int]:
    merchant_ids = list(Merchant.objects.values_list("id", flat=True))
    with tenant_context(merchant_ids):
        accounts = AmazonAccount.objects.count()
    return {
        "agencies": Agency.objects.count(),
        "merchants": len(merchant_ids),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "accounts": accounts,
        "active_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
    }


def test_seed_demo_is_idempotent():
    run("seed_demo")
    first = counts()
    run("seed_demo")

    assert counts() == first
    assert first["agencies"] == 2 and first["merchants"] == 4
    northwind = Agency.objects.get(name="Northwind Agency")
    assert northwind.merchants.count() == 3
    agency_user = User.objects.get(username="agency")
    assert agency_user.check_password("keelson-demo") and not agency_user.is_staff
    assert User.objects.get(username="admin").is_superuser


def test_seed_demo_logins_work_and_show_the_right_merchants():
    run("seed_demo")

    for username, expected in [
        ("agency", {"Northwind Outdoor", "Hamn & Hem", "Siam Tea House"}),
        ("merchant2", {"Hamn & Hem"}),
        ("merchant3", {"Siam Tea House"}),
        ("merchant1", {"Northwind Outdoor"}),
        ("viewer", {"Northwind Outdoor"}),
        ("contoso", {"Contoso Kitchen"}),
    ]:
        client = Client()
        assert client.login(request=HttpRequest(), username=username, password="keelson-demo")
        switcher = client.get("/").context["merchant_switcher"]
        assert {m["name"] for m in switcher["merchants"]} == expected, username
    admin = Client()
    assert admin.login(request=HttpRequest(), username="admin", password="keelson-demo")
    assert admin.get("/admin/").status_code == 200


def test_seed_demo_northwind_sells_in_three_currencies_and_time_zones():
    run("seed_demo")

    northwind = Merchant.objects.filter(agency__slug="northwind")
    assert {(m.name, m.time_zone, m.default_currency) for m in northwind} == {
        ("Northwind Outdoor", "America/New_York", "USD"),
        ("Hamn & Hem", "Europe/Stockholm", "SEK"),
        ("Siam Tea House", "Asia/Bangkok", "THB"),
    }
    with tenant_context(list(northwind.values_list("id", flat=True))):
        accounts = {
            a.merchant.slug: (a.region, a.marketplace_ids)
            for a in AmazonAccount.objects.select_related("merchant")
        }
    assert accounts == {
        "northwind-outdoor": ("NA", ["ATVPDKIKX0DER"]),
        "hamn-och-hem": ("EU", ["A2NODRKZP88ZB9"]),  # Amazon.se
        "siam-tea-house": ("FE", ["A19VAU5U5O7RUS"]),  # Amazon.sg: Amazon has no Thai market
    }


def test_seed_demo_sets_each_login_language_and_keeps_a_later_choice():
    from portal.demo_data import USER_LANGUAGES, USERS

    assert set(USER_LANGUAGES) == {u.username for u in USERS}
    call_command("seed_demo", stdout=io.StringIO())
    languages = dict(User.objects.values_list("username", "language"))
    assert (languages["merchant1"], languages["merchant2"], languages["merchant3"]) == (
        "en",
        "sv",
        "th",
    )
    User.objects.filter(username="merchant2").update(language="en")  # chosen in the portal
    call_command("seed_demo", stdout=io.StringIO())
    assert User.objects.get(username="merchant2").language == "en"


def test_seed_demo_json_has_the_exact_shape_and_reissues_usable_keys():
    out, _ = run("seed_demo", "--json")
    data = json.loads(out)

    assert set(data) == {"users", "api_keys"}
    assert data["users"], "no users"
    for user in data["users"]:
        assert set(user) == {"username", "password", "role", "agency", "merchant"}
    assert {u["username"] for u in data["users"]} >= {"agency", "merchant1", "viewer", "admin"}
    agency_row = next(u for u in data["users"] if u["username"] == "agency")
    assert agency_row == {
        "username": "agency",
        "password": "keelson-demo",
        "role": "agency_owner",
        "agency": "northwind",
        "merchant": None,
    }
    keys = data["api_keys"]
    for key in keys:
        assert set(key) == {"key", "owner_type", "agency", "merchant", "scopes"}
    assert sorted(k["merchant"] for k in keys if k["owner_type"] == "merchant") == sorted(
        Merchant.objects.values_list("slug", flat=True)
    )
    assert sorted(k["agency"] for k in keys if k["owner_type"] == "agency") == sorted(
        Agency.objects.values_list("slug", flat=True)
    )
    for key in keys:
        stored = ApiKey.objects.get(key_hash=hash_api_key(key["key"]))
        assert stored.revoked_at is None and stored.scopes == key["scopes"]

    again = json.loads(run("seed_demo", "--json")[0])

    # Re-issued: the old keys are revoked, one active demo key per owner remains.
    for key in keys:
        assert ApiKey.objects.get(key_hash=hash_api_key(key["key"])).revoked_at is not None
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == len(again["api_keys"])
    assert len(again["api_keys"]) == len(keys)


def test_create_api_key_for_a_merchant_prints_the_key_once(make_merchant):
    merchant = make_merchant(slug="acme")

    out, err = run("create_api_key", "--merchant", "acme", "--scopes", "orders:read,refunds:read")

    raw = out.strip()
    key = ApiKey.objects.get(key_hash=hash_api_key(raw))
    assert (key.owner_type, key.merchant, key.scopes) == (
        "merchant",
        merchant,
        ["orders:read", "refunds:read"],
    )
    assert key.prefix in err and raw not in err


def test_create_api_key_for_an_agency_with_a_name(make_agency):
    agency = make_agency(slug="northwind-x")

    out, _ = run(
        "create_api_key", "--agency", "northwind-x", "--scopes", "orders:read", "--name", "ERP"
    )

    key = ApiKey.objects.get(key_hash=hash_api_key(out.strip()))
    assert (key.owner_type, key.agency, key.name) == ("agency", agency, "ERP")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--merchant", "nope", "--scopes", "orders:read"], "No merchant"),
        (["--agency", "nope", "--scopes", "orders:read"], "No agency"),
        (["--merchant", "acme", "--scopes", "orders:delete"], "Unknown scope"),
        (["--merchant", "acme", "--scopes", " , "], "at least one scope"),
    ],
)
def test_create_api_key_refuses_bad_input(make_merchant, args, message):
    make_merchant(slug="acme")

    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert not ApiKey.objects.exists()
