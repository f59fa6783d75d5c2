"""Secrets never reach the logs (issue 14): a whole scenario (an Amazon account and a Shopify
store connected, orders synced with LWA access tokens, the Shopify mirror, a fulfillment and a
refund through the partner API, Shopify's signed webhook) runs with every logger at DEBUG, and
no log record holds any token, key or secret the scenario used."""

from __future__ import annotations

import logging

import pytest

from integrations.shopify.webhooks import webhook_hmac
from tenants.scope import tenant_context
from tests.support.shopify_mirror import running_mirror

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write of the record: message, arguments, traceback, extras."""
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.append(repr({k: v for k, v in record.__dict__.items() if k not in ("msg", "args")}))
    return "\n".join(parts)


def test_no_log_record_of_a_whole_scenario_holds_a_secret(
    make_merchant, make_api_key, call, caplog, client
):
    caplog.set_level(logging.DEBUG)  # the root logger: ours, urllib3, botocore, sp_api, shopify
    with running_mirror(make_merchant) as mirror:
        key = make_api_key(merchant=mirror.merchant)
        order = mirror.place()  # imported through the gateway: LWA exchanges the refresh token
        mirror.deliver()  # the Shopify mirror, with the store's access token
        response = call(
            "post",
            f"/api/v1/orders/{order.pk}/fulfillments/",
            key=key,
            data={"tracking_number": "1ZSECRET01", "carrier": "UPS"},
        )
        assert response.status_code == 201, response.content
        with tenant_context(mirror.merchant):
            line = order.lines.get()
        refund = call(
            "post",
            f"/api/v1/orders/{order.pk}/refunds/",
            key=key,
            data={"lines": [{"line": line.pk, "amount": "1.00"}]},
        )
        assert refund.status_code == 201, refund.content
        mirror.deliver()  # Amazon's confirmation and payment-adjustment feeds
        body = b'{"id": 1}'
        webhook = client.post(
            f"/webhooks/shopify/{mirror.store.pk}/",
            data=body,
            content_type="application/json",
            HTTP_X_SHOPIFY_HMAC_SHA256=webhook_hmac(body, mirror.shopify.store["client_secret"]),
            HTTP_X_SHOPIFY_TOPIC="orders/updated",
            HTTP_X_SHOPIFY_WEBHOOK_ID="secret-scan-1",
        )
        assert webhook.status_code == 200
        bad = client.post(
            f"/webhooks/shopify/{mirror.store.pk}/",
            data=body,
            content_type="application/json",
            HTTP_X_SHOPIFY_HMAC_SHA256="forged",
            HTTP_X_SHOPIFY_TOPIC="orders/updated",
            HTTP_X_SHOPIFY_WEBHOOK_ID="secret-scan-2",
        )
        assert bad.status_code == 401
        seller = mirror.amazon.seller
        secrets = {
            "LWA refresh token": seller["refresh_token"],
            "LWA client secret": seller["client_secret"],
            "Shopify access token": mirror.shopify.store["access_token"],
            "Shopify webhook secret": mirror.shopify.store["client_secret"],
            "API key": key,
            "API key secret part": key.split(".", 1)[-1] if "." in key else key[-20:],
        }
    texts = [record_text(r) for r in caplog.records]
    assert len(texts) > 50, "the scenario logged (almost) nothing: the scan would prove nothing"
    # Among them the HTTP client's own lines for every SP-API and LWA call (httpx), and the
    # webhook receiver's (ShopifyAPI's urllib logs nothing of its own).
    assert any("/orders/v0/orders" in t for t in texts)
    assert any("/auth/o2/token" in t for t in texts)
    assert any(r.name.startswith("integrations.shopify") for r in caplog.records)
    found = {
        name: next(t for t in texts if value in t)[:300]
        for name, value in secrets.items()
        if value and any(value in t for t in texts)
    }
    # LWA access tokens the emulator issued (they start with Amazon's "Atza|").
    leaked_access = [t[:300] for t in texts if "Atza|" in t]
    print(f"{len(texts)} log records scanned for {len(secrets)} secrets and LWA access tokens")
    assert found == {}
    assert leaked_access == []
