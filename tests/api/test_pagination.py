"""Cursor pagination: `?limit=` 1..200, an opaque `next` link, stable under inserts, and a
400 (never a 404 or 500) for a bad limit or cursor."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.support.api import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def agency_with_merchants(make_agency, make_merchant, make_api_key):
    agency = make_agency()
    merchants = [make_merchant(agency=agency) for _ in range(5)]
    return agency, merchants, make_api_key(agency=agency)


def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


def forged(**tokens) -> str:
    return base64.b64encode(urlencode(tokens).encode()).decode()


def test_pages_follow_next_links_without_gaps_or_repeats_under_inserts(
    call, agency_with_merchants, make_merchant
):
    agency, merchants, key = agency_with_merchants
    seen: list[int] = []
    response = call("get", "/api/v1/merchants/?limit=2", key=key)
    page = response.json()
    assert page["previous"] is None
    seen += [m["id"] for m in page["results"]]
    make_merchant(agency=agency)  # a newer row appears between pages
    while page["next"]:
        assert page["next"].startswith("http://testserver/api/v1/merchants/?")
        page = call("get", page["next"], key=key).json()
        assert len(page["results"]) <= 2
        seen += [m["id"] for m in page["results"]]
    assert seen == sorted((m.pk for m in merchants), reverse=True)


def test_the_limit_defaults_to_50_and_accepts_up_to_200(call, agency_with_merchants):
    _, _merchants, key = agency_with_merchants
    assert len(call("get", "/api/v1/merchants/", key=key).json()["results"]) == 5
    assert call("get", "/api/v1/merchants/?limit=200", key=key).status_code == 200
    page = call("get", "/api/v1/merchants/?limit=1", key=key).json()
    assert len(page["results"]) == 1 and page["next"]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "٣"])
def test_a_limit_outside_1_to_200_is_400(call, agency_with_merchants, limit):
    _, _, key = agency_with_merchants
    body = assert_problem(
        call("get", "/api/v1/merchants/", key=key, data={"limit": limit}), 400, "validation_error"
    )
    assert list(body["errors"]) == ["limit"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        forged(o="0", r="0", p="abc"),
        forged(o="0", r="0", p=str(10**30)),
        forged(o="x", r="0", p="1"),
    ],
)
def test_a_bad_or_forged_cursor_is_400(call, agency_with_merchants, cursor):
    _, _, key = agency_with_merchants
    body = assert_problem(
        call("get", "/api/v1/merchants/", key=key, data={"cursor": cursor}), 400, "validation_error"
    )
    assert list(body["errors"]) == ["cursor"]


def test_a_valid_cursor_is_accepted(call, agency_with_merchants):
    _, _merchants, key = agency_with_merchants
    page = call("get", "/api/v1/merchants/?limit=2", key=key).json()
    response = call("get", "/api/v1/merchants/", key=key, data={"cursor": cursor_of(page["next"])})
    assert response.status_code == 200
