"""GET /api/v1/merchants/: the merchants a key may see, and nothing else."""

from __future__ import annotations

import pytest

from tests.support.api import assert_problem

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [m["id"] for m in response.json()["results"]]


def test_an_agency_key_sees_the_active_merchants_of_its_agency(
    call, make_agency, make_merchant, make_api_key
):
    agency, other = make_agency(), make_agency()
    a1, a2 = make_merchant(agency=agency), make_merchant(agency=agency)
    make_merchant(agency=agency, is_active=False)
    make_merchant(agency=other)
    key = make_api_key(agency=agency, scopes=["orders:read"])

    response = call("get", "/api/v1/merchants/", key=key)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert sorted(ids(response)) == sorted([a1.pk, a2.pk])


def test_a_merchant_key_sees_its_merchant_with_every_documented_field(
    call, make_agency, make_merchant, make_api_key
):
    agency = make_agency(name="Harbour Agency")
    merchant = make_merchant(
        agency=agency,
        name="Alpha Goods",
        slug="alpha-goods",
        time_zone="Europe/Berlin",
        default_currency="EUR",
        auto_request_fulfillment=True,
        deadline_warning_days=5,
    )
    make_merchant(agency=agency)
    key = make_api_key(merchant=merchant, scopes=["refunds:read"])

    listed = call("get", "/api/v1/merchants/", key=key).json()["results"]
    detail = call("get", f"/api/v1/merchants/{merchant.pk}/", key=key).json()

    assert listed == [detail]
    created_at = detail.pop("created_at")
    assert created_at.startswith(str(merchant.created_at.year))
    assert detail == {
        "id": merchant.pk,
        "name": "Alpha Goods",
        "slug": "alpha-goods",
        "agency": {"id": agency.pk, "name": "Harbour Agency"},
        "time_zone": "Europe/Berlin",
        "default_currency": "EUR",
        "settings": {"auto_request_fulfillment": True, "deadline_warning_days": 5},
        "amazon_sync": [],
    }


def test_a_key_without_any_scope_may_still_list_merchants(call, two_merchants, make_api_key):
    a, _ = two_merchants
    key = make_api_key(merchant=a, scopes=[])
    assert ids(call("get", "/api/v1/merchants/", key=key)) == [a.pk]


def test_another_agencys_merchant_is_404_not_403(call, two_merchants, make_api_key):
    a, b = two_merchants
    key = make_api_key(agency=a.agency)
    assert call("get", f"/api/v1/merchants/{a.pk}/", key=key).status_code == 200
    assert_problem(call("get", f"/api/v1/merchants/{b.pk}/", key=key), 404, "not_found")


def test_a_deactivated_merchant_disappears_from_its_agencys_key(
    call, make_agency, make_merchant, make_api_key
):
    agency = make_agency()
    merchant = make_merchant(agency=agency, is_active=False)
    key = make_api_key(agency=agency)
    assert_problem(call("get", f"/api/v1/merchants/{merchant.pk}/", key=key), 404, "not_found")
    assert ids(call("get", "/api/v1/merchants/", key=key)) == []


def test_the_key_of_a_deactivated_merchant_is_refused(call, make_merchant, make_api_key):
    merchant = make_merchant()
    key = make_api_key(merchant=merchant)
    merchant.is_active = False
    merchant.save()
    body = assert_problem(call("get", "/api/v1/merchants/", key=key), 401, "not_authenticated")
    assert "deactivated" in body["detail"]
