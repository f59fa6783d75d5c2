"""Raw GraphQL over HTTP to the emulator, for tests that need the status, errors and
extensions as sent (the real ShopifyAPI client is used in tests/integrations/shopify)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

ORDER_CREATE = """
mutation orderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name sourceIdentifier }
    userErrors { field message code }
  }
}
"""


def graphql(store: dict, query: str, variables: dict | None = None, token: str | None = None):
    return requests.post(
        store["graphql_url"],
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token if token is not None else store["access_token"]},
        timeout=30,
    )


def order_input(source_identifier: str = "111-0000000-0000001", **extra: Any) -> dict:
    order = {
        "currency": "USD",
        "sourceName": "amazon",
        "sourceIdentifier": source_identifier,
        "tags": ["amazon"],
        "lineItems": [
            {
                "sku": "SKU-A",
                "title": "Widget",
                "quantity": 2,
                "priceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "USD"}},
            },
            {
                "sku": "SKU-B",
                "title": "Gadget",
                "quantity": 1,
                "priceSet": {"shopMoney": {"amount": "5.50", "currencyCode": "USD"}},
            },
        ],
        "transactions": [
            {
                "kind": "SALE",
                "status": "SUCCESS",
                "gateway": "amazon",
                "amountSet": {"shopMoney": {"amount": "25.50", "currencyCode": "USD"}},
            }
        ],
    }
    order.update(extra)
    return order


def create_order(store: dict, **extra: Any) -> dict:
    response = graphql(
        store,
        ORDER_CREATE,
        {"order": order_input(**extra), "options": {"sendReceipt": False}},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["orderCreate"]
    assert payload["userErrors"] == [], payload
    return payload["order"]


class Receiver:
    """A webhook receiver on loopback: answers each POST with the next status of ``statuses``
    (then 200) and records what it got (raw body and headers)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.received.append(
                    {"body": body, "headers": dict(self.headers.items()), "status": status}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.event.set()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/shopify/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def by_topic(self, topic: str) -> list[dict]:
        return [r for r in self.received if r["headers"].get("X-Shopify-Topic") == topic]
