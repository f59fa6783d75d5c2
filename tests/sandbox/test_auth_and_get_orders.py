"""Login with Amazon, access tokens, and getOrders with Amazon's rules, through the real
python-amazon-sp-api client where it can show them and raw HTTP where status codes matter."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sp_api.api import Orders
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base.exceptions import SellingApiBadRequestException

from sandbox.amazon.clock import isoformat, parse_iso
from sandbox.amazon.control import sp_api_client_kwargs
from tests.sandbox import spapi_models
from tests.sandbox.helpers import SpApi

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

US = "ATVPDKIKX0DER"


def lwa(seller: dict, **overrides) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": seller["refresh_token"],
        "client_id": seller["client_id"],
        "client_secret": seller["client_secret"],
        **overrides,
    }
    return requests.post(seller["lwa_token_url"], data=form, timeout=30)


def test_login_with_amazon_exchanges_a_refresh_token_and_rejects_bad_credentials(amazon_sandbox):
    seller = amazon_sandbox.seller
    good = lwa(seller)
    assert good.status_code == 200
    assert good.json()["token_type"] == "bearer" and good.json()["expires_in"] == 3600
    assert good.json()["access_token"].startswith("Atza|")

    bad_secret = lwa(seller, client_secret="nope")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    bad_grant = lwa(seller, refresh_token="Atzr|unknown")
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    assert lwa(seller, grant_type="").json()["error"] == "invalid_request"

    # The real client surfaces LWA's answer as AuthorizationError.
    kwargs = sp_api_client_kwargs({**seller, "refresh_token": "Atzr|revoked-long-ago"})
    with pytest.raises(AuthorizationError):
        Orders(**kwargs).get_order("111-1111111-1111111")


def test_sp_api_calls_need_a_live_access_token(amazon_sandbox):
    control = amazon_sandbox.control
    seller = control.create_seller(token_ttl_seconds=1)
    api = SpApi(seller)
    path, params = "/orders/v0/orders", {"MarketplaceIds": US, "CreatedAfter": control.now()}

    def denied(token: str) -> str:
        response = api.call("GET", path, params=params, token=token)
        assert response.status_code == 403
        spapi_models.validate("ordersV0.json", "GET", path, 403, response.json())
        error = response.json()["errors"][0]
        assert (error["code"], error["message"]) == (
            "Unauthorized",
            "Access to requested resource is denied.",
        )
        return error["details"]

    assert "No access token" in denied("")
    assert "revoked, malformed or invalid" in denied("Atza|forged")
    time.sleep(1.2)
    assert "expired" in denied(api.token)

    fresh = SpApi(control.create_seller())
    control.revoke_tokens(fresh.seller["selling_partner_id"])
    response = fresh.call("GET", path, params=params)
    assert response.status_code == 403 and "revoked" in response.json()["errors"][0]["details"]


def test_get_orders_enforces_amazons_date_and_filter_rules(amazon_sandbox):
    api = SpApi(amazon_sandbox.seller)
    now = parse_iso(amazon_sandbox.control.now())
    hour_ago = isoformat(now - timedelta(hours=1))
    just_now = isoformat(now - timedelta(seconds=30))

    def rejected(**params) -> str:
        response = api.get("/orders/v0/orders", **params)
        assert response.status_code == 400, (params, response.text)
        spapi_models.validate("ordersV0.json", "GET", "/orders/v0/orders", 400, response.json())
        return response.json()["errors"][0]["message"]

    assert "MarketplaceIds" in rejected(CreatedAfter=hour_ago)
    assert "Either CreatedAfter or LastUpdatedAfter" in rejected(MarketplaceIds=US)
    assert "cannot be set" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, LastUpdatedAfter=hour_ago
    )
    assert "cannot be set" in rejected(
        MarketplaceIds=US, LastUpdatedAfter=hour_ago, CreatedBefore=hour_ago
    )
    assert "two minutes" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, CreatedBefore=just_now
    )
    assert "two minutes" in rejected(
        MarketplaceIds=US, LastUpdatedAfter=hour_ago, LastUpdatedBefore=just_now
    )
    assert "after" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, CreatedBefore=isoformat(now - timedelta(hours=2))
    )
    assert "between 1 and 100" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, MaxResultsPerPage=101
    )
    assert "does not sell" in rejected(MarketplaceIds="A1VC38T7YXB528", CreatedAfter=hour_ago)
    assert "SellerOrderId" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, SellerOrderId="X", OrderStatuses="Unshipped"
    )
    assert "Invalid OrderStatuses" in rejected(
        MarketplaceIds=US, CreatedAfter=hour_ago, OrderStatuses="Lost"
    )
    assert "ISO 8601" in rejected(MarketplaceIds=US, CreatedAfter="yesterday")


def test_a_new_order_is_listed_once_it_is_two_minutes_old(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    start = isoformat(parse_iso(control.now()) - timedelta(minutes=10))
    order = control.place_order(sid)
    early = client.get_orders(CreatedAfter=start).payload
    assert early["Orders"] == []
    assert parse_iso(early["CreatedBefore"]) < parse_iso(order["purchase_date"])
    control.advance_clock(minutes=2)
    later = client.get_orders(CreatedAfter=start).payload
    assert [o["AmazonOrderId"] for o in later["Orders"]] == [order["amazon_order_id"]]
    with pytest.raises(SellingApiBadRequestException):
        client.get_orders(CreatedAfter=start, CreatedBefore=control.now())


def test_pages_follow_next_tokens_and_filters_combine(amazon_sandbox_unlimited):
    control, sid = (
        amazon_sandbox_unlimited.control,
        amazon_sandbox_unlimited.seller["selling_partner_id"],
    )
    now = parse_iso(control.now())
    control.generate_orders(
        sid,
        230,
        seed="paging",
        placed_from=isoformat(now - timedelta(days=2)),
        placed_to=isoformat(now - timedelta(minutes=5)),
        afn_share=0.3,
    )
    client = Orders(**amazon_sandbox_unlimited.client_kwargs())
    since = isoformat(now - timedelta(days=3))
    marketplaces = amazon_sandbox_unlimited.seller["marketplace_ids"]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"NextToken": token} if token else {"CreatedAfter": since}
        page = client.get_orders(
            MarketplaceIds=marketplaces, MaxResultsPerPage=100, **kwargs
        ).payload
        seen += page["Orders"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and len({o["AmazonOrderId"] for o in seen}) == 230
    dates = [o["PurchaseDate"] for o in seen]
    assert dates == sorted(dates)

    afn = client.get_orders(
        MarketplaceIds=marketplaces, CreatedAfter=since, FulfillmentChannels=["AFN"]
    ).payload["Orders"]
    assert afn and all(o["FulfillmentChannel"] == "AFN" for o in afn)
    assert len(afn) == sum(o["FulfillmentChannel"] == "AFN" for o in seen) < 100
    us_shipped = client.get_orders(
        MarketplaceIds=[US], CreatedAfter=since, OrderStatuses=["Shipped"]
    ).payload["Orders"]
    assert all(o["MarketplaceId"] == US and o["OrderStatus"] == "Shipped" for o in us_shipped)
    picked = [o["AmazonOrderId"] for o in seen[:3]]
    by_id = client.get_orders(
        MarketplaceIds=marketplaces, CreatedAfter=since, AmazonOrderIds=picked
    )
    assert sorted(o["AmazonOrderId"] for o in by_id.payload["Orders"]) == sorted(picked)
    with pytest.raises(SellingApiBadRequestException):
        client.get_orders(NextToken="forged-token")


def test_orders_in_several_marketplaces_keep_their_currencies(amazon_sandbox):
    control = amazon_sandbox.control
    seller = control.create_seller(marketplace_ids=[US, "A1PA6795UKMFR9", "A1VC38T7YXB528"])
    sid = seller["selling_partner_id"]
    yen = control.place_order(
        sid, marketplace_id="A1VC38T7YXB528", items=[{"unit_price": "1980", "quantity": 2}]
    )
    euro = control.place_order(
        sid, marketplace_id="A1PA6795UKMFR9", items=[{"unit_price": "19.99"}]
    )
    control.advance_clock(minutes=33)
    jp = Orders(**sp_api_client_kwargs(seller, "A1VC38T7YXB528"))
    order = jp.get_order(yen["amazon_order_id"]).payload
    assert order["OrderTotal"] == {"CurrencyCode": "JPY", "Amount": "3960"}
    assert order["SalesChannel"] == "Amazon.co.jp"
    item = jp.get_order_items(yen["amazon_order_id"]).payload["OrderItems"][0]
    assert item["ItemPrice"] == {"CurrencyCode": "JPY", "Amount": "3960"}
    assert "." not in item["ItemTax"]["Amount"]
    listed = jp.get_orders(
        CreatedAfter=isoformat(parse_iso(yen["purchase_date"]) - timedelta(minutes=1))
    )
    assert [o["AmazonOrderId"] for o in listed.payload["Orders"]] == [yen["amazon_order_id"]]
    de = Orders(**sp_api_client_kwargs(seller, "A1PA6795UKMFR9")).get_order(euro["amazon_order_id"])
    # Prices include VAT on Amazon.de: the total is the price; ItemTax is the VAT inside it.
    assert de.payload["OrderTotal"] == {"CurrencyCode": "EUR", "Amount": "19.99"}
