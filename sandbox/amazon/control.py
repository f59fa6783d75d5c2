"""Python helpers for the emulator's control API (``/_sandbox/...``), and for pointing the real
python-amazon-sp-api client classes at an emulator.

    sandbox = AmazonSandboxClient("http://127.0.0.1:8123")
    seller = sandbox.create_seller(marketplace_ids=["ATVPDKIKX0DER"])
    order = sandbox.place_order(seller["selling_partner_id"], items=[{"quantity": 2}])
    sandbox.advance_clock(minutes=31)                    # Pending -> Unshipped (rule A1)
    orders = Orders(**sp_api_client_kwargs(seller))      # the real client, unpatched
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests


class SandboxControlError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class AmazonSandboxClient:
    """The control API over HTTP (any process may use it; state lives in the database)."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sandbox{path}", json=body, timeout=self.timeout
        )
        data = response.json() if response.content else None
        if response.status_code >= 400:
            raise SandboxControlError(response.status_code, data)
        return data

    # sellers
    def create_seller(self, **fields: Any) -> dict:
        return self._call("POST", "/sellers", fields)

    def seller(self, selling_partner_id: str) -> dict:
        return self._call("GET", f"/sellers/{selling_partner_id}")

    def update_seller(self, selling_partner_id: str, **fields: Any) -> dict:
        """``tax_detail_omitted_share``: the share of orders (0 to 1, the same ones every time)
        whose Orders 2026-01-01 items give their tax without the ITEM/SHIPPING detail."""
        return self._call("POST", f"/sellers/{selling_partner_id}", fields)

    def revoke_tokens(self, selling_partner_id: str) -> dict:
        return self._call("POST", f"/sellers/{selling_partner_id}/revoke-tokens", {})

    def revoke_authorizations(
        self, selling_partner_id: str, application_id: str | None = None
    ) -> int:
        """The seller removes the application (or all) in Manage Your Apps: their refresh
        tokens answer ``invalid_grant``. Returns how many authorizations were revoked."""
        body = {"application_id": application_id} if application_id else {}
        path = f"/sellers/{selling_partner_id}/revoke-authorizations"
        return self._call("POST", path, body)["revoked"]

    # developer applications (the website authorization workflow)
    def create_application(self, redirect_uris: list[str], **fields: Any) -> dict:
        """``fields``: ``application_id``, ``name``, ``client_id``, ``client_secret``,
        ``draft`` (default true: the consent URI then needs ``version=beta``)."""
        return self._call("POST", "/applications", {"redirect_uris": redirect_uris, **fields})

    def application(self, application_id: str) -> dict:
        return self._call("GET", f"/applications/{application_id}")

    def update_application(self, application_id: str, **fields: Any) -> dict:
        """``redirect_uris``, ``draft`` (false: published), ``name``."""
        return self._call("POST", f"/applications/{application_id}", fields)

    # orders
    def place_order(self, selling_partner_id: str, **fields: Any) -> dict:
        return self._call("POST", f"/sellers/{selling_partner_id}/orders", fields)

    def generate_orders(self, selling_partner_id: str, count: int, seed: Any, **options) -> dict:
        body = {"count": count, "seed": str(seed), **options}
        return self._call("POST", f"/sellers/{selling_partner_id}/orders/generate", body)

    def order(self, selling_partner_id: str, amazon_order_id: str) -> dict:
        return self._call("GET", f"/sellers/{selling_partner_id}/orders/{amazon_order_id}")

    def request_buyer_cancellation(
        self,
        selling_partner_id: str,
        amazon_order_id: str,
        reason: str = "No longer needed.",
        order_item_ids: list[str] | None = None,
    ) -> dict:
        body: dict[str, Any] = {"reason": reason}
        if order_item_ids:
            body["order_item_ids"] = order_item_ids
        path = f"/sellers/{selling_partner_id}/orders/{amazon_order_id}/buyer-cancellation"
        return self._call("POST", path, body)

    def ship_in_seller_central(
        self,
        selling_partner_id: str,
        amazon_order_id: str,
        *,
        carrier: str = "UPS",
        tracking_number: str = "",
        ship_date: str | None = None,
    ) -> dict:
        """The seller confirms shipment of every open item in Seller Central, outside Keelson."""
        body: dict[str, Any] = {"carrier": carrier, "tracking_number": tracking_number}
        if ship_date:
            body["ship_date"] = ship_date
        path = f"/sellers/{selling_partner_id}/orders/{amazon_order_id}/ship"
        return self._call("POST", path, body)

    def ship_older_in_seller_central(
        self, selling_partner_id: str, placed_before: str, *, carrier: str = "UPS", after_days=1
    ) -> list[str]:
        """The seller's history: every open seller-fulfilled order placed before
        ``placed_before`` (no buyer asked to cancel it) confirmed in Seller Central
        ``after_days`` after it was placed. Returns those orders, oldest first."""
        body = {"placed_before": placed_before, "carrier": carrier, "after_days": after_days}
        path = f"/sellers/{selling_partner_id}/orders/ship-older"
        return self._call("POST", path, body)["amazon_order_ids"]

    def refund_in_seller_central(
        self,
        selling_partner_id: str,
        amazon_order_id: str,
        items: list[dict] | None = None,
        reason: str = "CustomerReturn",
        posted_date: str | None = None,
    ) -> dict:
        """``items=None`` refunds everything charged; else ``[{"order_item_id": ...,
        "components": {"Principal": "5.00", ...}}]``."""
        body: dict[str, Any] = {"reason": reason}
        if posted_date:
            body["posted_date"] = posted_date
        if items:
            body["items"] = items
        else:
            body["full"] = True
        return self._call(
            "POST", f"/sellers/{selling_partner_id}/orders/{amazon_order_id}/refunds", body
        )

    def feed(self, selling_partner_id: str, feed_id: str) -> dict:
        return self._call("GET", f"/sellers/{selling_partner_id}/feeds/{feed_id}")

    # clock, switches, faults
    def now(self) -> str:
        return self._call("GET", "/clock")["now"]

    def advance_clock(
        self, *, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> str:
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        return self._call("POST", "/clock", {"advance_seconds": total})["now"]

    def set_clock(self, to: str) -> str:
        return self._call("POST", "/clock", {"to": to})["now"]

    def set_rate_limits(self, enabled: bool) -> dict:
        return self._call("POST", "/rate-limits", {"enabled": enabled})

    def set_settings(self, **settings: Any) -> dict:
        return self._call("POST", "/settings", settings)

    def inject_fault(self, kind: str, **rule: Any) -> dict:
        return self._call("POST", "/faults", {"kind": kind, **rule})

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")


# --- the real client, pointed at an emulator ---------------------------------------------------


@dataclass(frozen=True)
class SandboxMarketplace:
    """What python-amazon-sp-api reads from a ``Marketplaces`` member."""

    endpoint: str
    marketplace_id: str
    region: str = "us-east-1"


def lwa_client_class(token_url: str) -> type:
    """An ``AccessTokenClient`` that exchanges refresh tokens at ``token_url`` (the library
    builds its URL from the class attributes ``scheme + host + path``)."""
    from sp_api.auth import AccessTokenClient

    parts = urlsplit(token_url)
    return type(
        "SandboxAccessTokenClient",
        (AccessTokenClient,),
        {"scheme": f"{parts.scheme}://", "host": parts.netloc, "path": parts.path},
    )


def sp_api_client_kwargs(seller: dict, marketplace_id: str | None = None) -> dict[str, Any]:
    """Keyword arguments for any ``sp_api.api`` client class, for a seller dict as returned by
    the control API (or printed by ``run_amazon_sandbox``)."""
    marketplace_id = marketplace_id or seller["marketplace_ids"][0]
    return {
        "marketplace": SandboxMarketplace(seller["endpoint"], marketplace_id),
        "refresh_token": seller["refresh_token"],
        "credentials": {
            "lwa_app_id": seller["client_id"],
            "lwa_client_secret": seller["client_secret"],
            "refresh_token": seller["refresh_token"],
        },
        "auth_token_client_class": lwa_client_class(seller["lwa_token_url"]),
        "verify": _tls_context(),
    }


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the emulator in this process: given none, each
    sp_api client loads the CA bundle twice (about 100 ms of CPU), although the emulator
    speaks plain HTTP."""
    return httpx.create_ssl_context()
