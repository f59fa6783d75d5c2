"""Amazon's usage plans (token bucket per selling partner and operation, 429 with Amazon's
body, ``x-amzn-RateLimit-Limit`` on every answer), the off switch, and injected faults."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sp_api.api import Orders
from sp_api.base.exceptions import SellingApiRequestThrottledException

from sandbox.amazon.clock import isoformat, parse_iso
from tests.sandbox import spapi_models
from tests.sandbox.helpers import SpApi

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def orders_query(control) -> dict:
    since = isoformat(parse_iso(control.now()) - timedelta(hours=1))
    return {"MarketplaceIds": "ATVPDKIKX0DER", "CreatedAfter": since}


def test_get_orders_allows_its_burst_of_20_then_throttles_per_seller(amazon_sandbox):
    control = amazon_sandbox.control
    api = SpApi(amazon_sandbox.seller)
    params = orders_query(control)
    answers = [api.get("/orders/v0/orders", **params) for _ in range(21)]
    assert [r.status_code for r in answers] == [200] * 20 + [429]
    assert {r.headers["x-amzn-RateLimit-Limit"] for r in answers} == {"0.0167"}
    throttled = answers[-1].json()
    assert throttled["errors"][0]["code"] == "QuotaExceeded"
    spapi_models.validate("ordersV0.json", "GET", "/orders/v0/orders", 429, throttled)
    # Other operations and other sellers have their own buckets.
    assert api.get("/orders/v0/orders/111-0000000-0000000").status_code == 404
    other = SpApi(control.create_seller())
    assert other.get("/orders/v0/orders", **params).status_code == 200
    # The real client raises its throttling exception (our gateway backs off on it).
    with pytest.raises(SellingApiRequestThrottledException):
        Orders(**amazon_sandbox.client_kwargs()).get_orders(CreatedAfter=params["CreatedAfter"])

    control.set_rate_limits(False)
    assert {api.get("/orders/v0/orders", **params).status_code for _ in range(25)} == {200}
    control.set_rate_limits(True)  # a fresh bucket: the burst again
    assert [api.get("/orders/v0/orders", **params).status_code for _ in range(21)][-2:] == [
        200,
        429,
    ]


def test_injected_errors_hit_an_exact_share_of_requests_then_stop(amazon_sandbox_unlimited):
    control = amazon_sandbox_unlimited.control
    api = SpApi(amazon_sandbox_unlimited.seller)
    params = orders_query(control)
    control.inject_fault("error_503", share=0.5, count=2, operations=["getOrders"])
    codes = [api.get("/orders/v0/orders", **params).status_code for _ in range(6)]
    assert codes == [200, 503, 200, 503, 200, 200]
    control.inject_fault("error_500", share=1.0, count=1)
    failed = api.get("/orders/v0/orders", **params)
    assert failed.status_code == 500
    spapi_models.validate("ordersV0.json", "GET", "/orders/v0/orders", 500, failed.json())
    assert failed.headers["x-amzn-RateLimit-Limit"] == "0.0167"

    control.inject_fault("throttle", duration_seconds=0.6, operations=["getOrder"])
    storm = [api.get("/orders/v0/orders/111-0000000-0000000").status_code for _ in range(3)]
    assert storm == [429, 429, 429]
    assert api.get("/orders/v0/orders", **params).status_code == 200  # other operations pass
    time.sleep(0.7)
    assert api.get("/orders/v0/orders/111-0000000-0000000").status_code == 404
    assert [f["hits"] for f in control.faults()["faults"]] == [2, 1]  # the storm has expired


def test_latency_and_broken_pages_can_be_injected(amazon_sandbox_unlimited):
    control = amazon_sandbox_unlimited.control
    api = SpApi(amazon_sandbox_unlimited.seller)
    params = orders_query(control)
    control.inject_fault("latency", latency_ms=400, count=1)
    started = time.monotonic()
    assert api.get("/orders/v0/orders", **params).status_code == 200
    assert time.monotonic() - started >= 0.4

    control.inject_fault("truncated", count=1)
    cut = api.get("/orders/v0/orders", **params)
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    control.inject_fault("malformed", count=1)
    html = api.get("/orders/v0/orders", **params)
    assert html.status_code == 200 and html.headers["Content-Type"] == "text/html"
    assert api.get("/orders/v0/orders", **params).json()["payload"]["Orders"] == []
    control.clear_faults()
    assert control.faults()["faults"] == []
