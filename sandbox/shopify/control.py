"""Python helpers for the Shopify emulator's control API (``/_sandbox/...``).

sandbox = ShopifySandboxClient("http://127.0.0.1:8124")
store = sandbox.create_store(domain="keelson-demo.myshopify.com")
sandbox.fulfil(store["domain"], order_id, lines=[{"sku": "SKU-1", "quantity": 1}],
               tracking={"company": "UPS", "number": "1Z999"})   # fires fulfillments/create
sandbox.inject_fault("error_503", count=2)                       # the next 2 requests
sandbox.deliveries(topic="fulfillments/create")                  # the webhook log
"""

from __future__ import annotations

from typing import Any

import requests

from sandbox.amazon.control import SandboxControlError


class ShopifySandboxClient:
    """The control API over HTTP (any process may use it; state lives in the database)."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: dict | None = None, params=None) -> Any:
        response = self.session.request(
            method,
            f"{self.base_url}/_sandbox{path}",
            json=body,
            params=params,
            timeout=self.timeout,
        )
        data = response.json() if response.content else None
        if response.status_code >= 400:
            raise SandboxControlError(response.status_code, data)
        return data

    # stores
    def create_store(self, **fields: Any) -> dict:
        """``domain``, ``name``, ``access_token``, ``client_secret``, ``currency_code``,
        ``iana_timezone``; all optional."""
        return self._call("POST", "/stores", fields)

    def store(self, domain: str) -> dict:
        return self._call("GET", f"/stores/{domain}")

    def stores(self) -> list[dict]:
        return self._call("GET", "/stores")["stores"]

    def set_throttle(self, domain: str, **settings: Any) -> dict:
        """``enabled``, ``maximum_available``, ``restore_rate``, ``currently_available``,
        ``reset`` (refill the bucket)."""
        return self._call("POST", f"/stores/{domain}/throttle", settings)

    def freeze_buckets(self, frozen: bool = True) -> dict:
        """Stop (or resume) real time for the cost buckets: points then restore only when the
        clock is advanced."""
        return self._call("POST", "/throttle", {"frozen": frozen})

    def webhook_subscriptions(self, domain: str) -> list[dict]:
        return self._call("GET", f"/stores/{domain}/webhooks")["subscriptions"]

    # the store's orders, and the merchant acting in the store admin
    def orders(self, domain: str) -> list[dict]:
        return self._call("GET", f"/stores/{domain}/orders")["orders"]

    def order(self, domain: str, order_id: int | str) -> dict:
        return self._call("GET", f"/stores/{domain}/orders/{_ref(order_id)}")

    def create_order(self, domain: str, order: dict, options: dict | None = None) -> dict:
        """An order made in the admin; ``order`` is an ``OrderCreateOrderInput`` dict."""
        return self._call("POST", f"/stores/{domain}/orders", {"order": order, "options": options})

    def fulfil(
        self,
        domain: str,
        order_id: int | str,
        *,
        lines: list[dict] | None = None,
        tracking: dict | None = None,
        notify_customer: bool = False,
    ) -> dict:
        """``lines``: ``[{"sku"|"line_item_id": ..., "quantity": n}]``; None: all remaining."""
        body = {"lines": lines, "tracking": tracking, "notify_customer": notify_customer}
        return self._call("POST", f"/stores/{domain}/orders/{_ref(order_id)}/fulfill", body)

    def refund(
        self,
        domain: str,
        order_id: int | str,
        *,
        lines: list[dict] | None = None,
        amount: str | None = None,
        shipping_amount: str | None = None,
        full_shipping: bool = False,
        note: str = "",
    ) -> dict:
        body = {
            "lines": lines or [],
            "amount": amount,
            "shipping_amount": shipping_amount,
            "full_shipping": full_shipping,
            "note": note,
        }
        return self._call("POST", f"/stores/{domain}/orders/{_ref(order_id)}/refund", body)

    def cancel(
        self,
        domain: str,
        order_id: int | str,
        *,
        reason: str = "CUSTOMER",
        refund: bool = True,
        restock: bool = True,
    ) -> dict:
        body = {"reason": reason, "refund": refund, "restock": restock}
        return self._call("POST", f"/stores/{domain}/orders/{_ref(order_id)}/cancel", body)

    # webhooks
    def deliveries(self, **filters: str) -> list[dict]:
        """The delivered-webhook log: ``store``, ``topic``, ``status`` filters."""
        return self._call("GET", "/webhooks/deliveries", params=filters)["deliveries"]

    def set_webhook_retry(
        self, schedule: list[float] | None, timeout_seconds: float | None = None
    ) -> dict:
        body: dict[str, Any] = {"retry_schedule": schedule}
        if timeout_seconds is not None:
            body["timeout_seconds"] = timeout_seconds
        return self._call("POST", "/webhooks/settings", body)

    def deliver_now(self) -> int:
        return self._call("POST", "/webhooks/deliver", {})["attempted"]

    # clock, faults, reset
    def now(self) -> str:
        return self._call("GET", "/clock")["now"]

    def advance_clock(self, *, seconds: float = 0, minutes: float = 0, hours: float = 0) -> str:
        total = seconds + 60 * minutes + 3600 * hours
        return self._call("POST", "/clock", {"advance_seconds": total})["now"]

    def inject_fault(self, kind: str, **rule: Any) -> dict:
        """``kind``: error_500, error_502, error_503, unauthorized, forbidden,
        payment_required, not_found, locked, throttle, latency; ``count``, ``share``,
        ``duration_seconds``, ``store``, ``operations`` (["query"], ["mutation"]),
        ``latency_ms``."""
        return self._call("POST", "/faults", {"kind": kind, **rule})

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")

    def reset(self) -> dict:
        return self._call("POST", "/reset", {})


def _ref(order_id: int | str) -> str:
    text = str(order_id)
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text
