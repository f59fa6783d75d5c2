"""The Amazon gateway: python-amazon-sp-api's real client classes, unpatched, behind our types.

Pointing at the sandbox emulator is configuration, through the library's own injection points:
the client takes any marketplace-like object (we pass our own with the `endpoint`), and an
`auth_token_client_class` (we pass an LWA client class whose scheme/host are the emulator's).

Pitfalls handled here (architecture.md):
- The library's `throttle_retry`/`load_all_pages` decorators do not retry a 429 raised while
  pages are iterated and share their counter across threads, so we page ourselves: one call
  per page, the NextToken in the caller's cursor, each page through our own rate limiter.
- The library sends `host: endpoint[8:]` (it assumes https://); the emulator ignores Host.
- A 5xx or truncated body without JSON comes back as an empty response, not an exception:
  a missing payload is therefore a transient error here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sp_api.api import FinancesV0, OrdersV0
from sp_api.auth import AccessTokenClient
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import exceptions as sp_exceptions

from integrations.amazon.ratelimit import RateBudgetExceeded, RateLimiter
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money, OrdersPage

logger = logging.getLogger(__name__)

T = TypeVar("T")

REGION_ENDPOINTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 (a URL)


# --- errors ----------------------------------------------------------------------------------


class AmazonError(Exception):
    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class AmazonThrottled(AmazonError):
    def __init__(self, message: str, *, retry_after: float, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class AmazonAuthFailed(AmazonError):
    """The seller's authorisation is missing, expired or revoked: a person must act."""


class AmazonTransientError(AmazonError):
    """5xx, timeouts, malformed pages: try again later."""


class AmazonPermanentError(AmazonError):
    """Amazon refused the request (4xx other than 429/403): retrying cannot help."""


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AmazonCredentials:
    selling_partner_id: str
    region: str
    marketplace_ids: tuple[str, ...]
    refresh_token: str
    client_id: str
    client_secret: str
    endpoint: str
    lwa_token_url: str

    @classmethod
    def from_account(cls, account) -> AmazonCredentials:
        from django.conf import settings

        return cls(
            selling_partner_id=account.selling_partner_id,
            region=account.region,
            marketplace_ids=tuple(account.marketplace_ids),
            refresh_token=account.lwa_refresh_token,
            client_id=account.lwa_client_id or getattr(settings, "AMAZON_LWA_CLIENT_ID", ""),
            client_secret=account.lwa_client_secret
            or getattr(settings, "AMAZON_LWA_CLIENT_SECRET", ""),
            endpoint=(account.endpoint_override or REGION_ENDPOINTS[account.region]).rstrip("/"),
            lwa_token_url=account.lwa_endpoint_override or LWA_TOKEN_URL,
        )


@dataclass(frozen=True)
class _Marketplace:
    """What sp_api's Client reads from a marketplace: endpoint, marketplace_id, region."""

    endpoint: str
    marketplace_id: str
    region: str


def _lwa_client_class(token_url: str) -> type[AccessTokenClient]:
    if token_url == LWA_TOKEN_URL:
        return AccessTokenClient
    parts = urlsplit(token_url)
    return type(
        "EndpointAccessTokenClient",
        (AccessTokenClient,),
        {"scheme": f"{parts.scheme}://", "host": parts.netloc, "path": parts.path},
    )


# --- parsing ---------------------------------------------------------------------------------


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_money(value: dict | None) -> Money | None:
    if not value or value.get("Amount") in (None, ""):
        return None
    try:
        return Money(Decimal(str(value["Amount"])), value.get("CurrencyCode", ""))
    except InvalidOperation as exc:
        raise AmazonTransientError(f"malformed amount {value!r}") from exc


def parse_order(data: dict, items: tuple[AmazonOrderItem, ...] | None = None) -> AmazonOrder:
    address = data.get("ShippingAddress") or {}
    buyer = data.get("BuyerInfo") or {}
    return AmazonOrder(
        amazon_order_id=data["AmazonOrderId"],
        marketplace_id=data.get("MarketplaceId", ""),
        status=data["OrderStatus"],
        fulfillment_channel=data.get("FulfillmentChannel") or "MFN",
        purchase_date=parse_datetime(data["PurchaseDate"]),
        last_update_date=parse_datetime(data["LastUpdateDate"]),
        sales_channel=data.get("SalesChannel", ""),
        order_type=data.get("OrderType", ""),
        ship_service_level=data.get("ShipServiceLevel", ""),
        earliest_ship_date=parse_datetime(data.get("EarliestShipDate")),
        latest_ship_date=parse_datetime(data.get("LatestShipDate")),
        earliest_delivery_date=parse_datetime(data.get("EarliestDeliveryDate")),
        latest_delivery_date=parse_datetime(data.get("LatestDeliveryDate")),
        is_prime=bool(data.get("IsPrime")),
        is_business_order=bool(data.get("IsBusinessOrder")),
        is_premium_order=bool(data.get("IsPremiumOrder")),
        order_total=parse_money(data.get("OrderTotal")),
        buyer_name=buyer.get("BuyerName", "") or address.get("Name", ""),
        buyer_email=buyer.get("BuyerEmail", ""),
        shipping_address={
            k: address[k]
            for k in (
                "Name",
                "AddressLine1",
                "AddressLine2",
                "AddressLine3",
                "City",
                "StateOrRegion",
                "PostalCode",
                "CountryCode",
                "Phone",
                "AddressType",
            )
            if address.get(k)
        },
        items=items,
    )


def parse_item(data: dict) -> AmazonOrderItem:
    cancel = data.get("BuyerRequestedCancel") or {}
    return AmazonOrderItem(
        order_item_id=data["OrderItemId"],
        sku=data.get("SellerSKU", ""),
        asin=data.get("ASIN", ""),
        title=data.get("Title", ""),
        quantity_ordered=int(data.get("QuantityOrdered", 0)),
        quantity_shipped=int(data.get("QuantityShipped", 0)),
        item_price=parse_money(data.get("ItemPrice")),
        item_tax=parse_money(data.get("ItemTax")),
        shipping_price=parse_money(data.get("ShippingPrice")),
        shipping_tax=parse_money(data.get("ShippingTax")),
        promotion_discount=parse_money(data.get("PromotionDiscount")),
        buyer_cancel_requested=str(cancel.get("IsBuyerRequestedCancel", "")).lower() == "true",
        buyer_cancel_reason=cancel.get("BuyerCancelReason", "") or "",
    )


def amazon_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the gateway -----------------------------------------------------------------------------


class AmazonGateway:
    """One seller's SP-API, with our rate limiting, retries and error mapping."""

    def __init__(
        self,
        credentials: AmazonCredentials,
        *,
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        max_wait: float = 120.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials = credentials
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self._sleep = sleep

    # Clients are cheap to make; one per call keeps workers independent of each other.
    def _client(self, api_class, marketplace_id: str | None = None, **kw: Any):
        creds = self.credentials
        mp_id = marketplace_id or creds.marketplace_ids[0]
        return api_class(
            marketplace=_Marketplace(creds.endpoint, mp_id, creds.region),
            refresh_token=creds.refresh_token,
            credentials={"lwa_app_id": creds.client_id, "lwa_client_secret": creds.client_secret},
            auth_token_client_class=_lwa_client_class(creds.lwa_token_url),
            timeout=self.timeout,
            **kw,
        )

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """Run one SP-API call under the rate limiter, retrying 429s and transient errors."""
        seller = self.credentials.selling_partner_id
        last: AmazonError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.limiter.acquire(seller, operation, max_wait=self.max_wait)
            except RateBudgetExceeded as exc:
                raise AmazonThrottled(str(exc), retry_after=exc.wait, code="rate_budget") from exc
            try:
                return fn()
            except AmazonThrottled as exc:
                last = exc
                self.limiter.throttled(seller, operation)
                self._sleep(min(exc.retry_after, self.max_wait))
            except AmazonTransientError as exc:
                last = exc
                self._sleep(min(2.0 ** (attempt - 1), 30.0))
            logger.info("amazon %s attempt %s failed: %s", operation, attempt, last)
        assert last is not None
        raise last

    def _invoke(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an sp_api method and map what it raises or returns to our errors."""
        try:
            response = method(*args, **kwargs)
        except sp_exceptions.SellingApiRequestThrottledException as exc:
            raise AmazonThrottled(
                _message(exc),
                retry_after=_retry_after(exc.headers),
                code="QuotaExceeded",
                status=429,
            ) from exc
        except AuthorizationError as exc:
            if (exc.status_code or 0) >= 500:
                raise AmazonTransientError(_message(exc), status=exc.status_code) from exc
            raise AmazonAuthFailed(
                _message(exc), code="auth_failed", status=exc.status_code
            ) from exc
        except sp_exceptions.SellingApiForbiddenException as exc:
            raise AmazonAuthFailed(_message(exc), code="auth_failed", status=403) from exc
        except (
            sp_exceptions.SellingApiServerException,
            sp_exceptions.SellingApiTemporarilyUnavailableException,
            sp_exceptions.SellingApiGatewayTimeoutException,
        ) as exc:
            raise AmazonTransientError(_message(exc), status=exc.code) from exc
        except sp_exceptions.SellingApiException as exc:
            amzn_code = getattr(exc, "amzn_code", "") or ""
            if type(exc) is sp_exceptions.SellingApiException:
                # A status the library has no class for (401, 502, ...): it keeps no status.
                if amzn_code in ("Unauthorized", "InvalidAccessToken", "AccessDenied"):
                    raise AmazonAuthFailed(_message(exc), code="auth_failed") from exc
                raise AmazonTransientError(_message(exc), code=amzn_code) from exc
            raise AmazonPermanentError(_message(exc), code=amzn_code, status=exc.code) from exc
        except (httpx.TransportError, ValueError) as exc:
            # Connection trouble, or a body that is not JSON at all.
            raise AmazonTransientError(f"{type(exc).__name__}: {exc}") from exc
        return response

    def _payload(self, response: Any, what: str) -> Any:
        payload = getattr(response, "payload", None)
        if payload is None:
            raise AmazonTransientError(f"{what}: response without a payload (malformed page?)")
        return payload

    # --- Orders v0 ---------------------------------------------------------------------------

    def get_orders_page(
        self,
        *,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        created_after: datetime | None = None,
        next_token: str | None = None,
        max_results: int = 100,
    ) -> OrdersPage:
        """One page of getOrders; the caller keeps the NextToken in its cursor."""
        params: dict[str, Any] = {"MarketplaceIds": list(self.credentials.marketplace_ids)}
        if next_token:
            params["NextToken"] = next_token
        else:
            params["MaxResultsPerPage"] = max_results
            if last_updated_after is not None:
                params["LastUpdatedAfter"] = amazon_timestamp(last_updated_after)
            if last_updated_before is not None:
                params["LastUpdatedBefore"] = amazon_timestamp(last_updated_before)
            if created_after is not None:
                params["CreatedAfter"] = amazon_timestamp(created_after)

        def fetch() -> OrdersPage:
            client = self._client(OrdersV0)
            try:
                payload = self._payload(self._invoke(client.get_orders, **params), "getOrders")
            finally:
                client.close()
            try:
                orders = tuple(parse_order(o) for o in payload.get("Orders", []))
            except (KeyError, TypeError) as exc:
                raise AmazonTransientError(f"getOrders: malformed order ({exc})") from exc
            return OrdersPage(
                orders=orders,
                next_token=payload.get("NextToken") or None,
                last_updated_before=parse_datetime(payload.get("LastUpdatedBefore")),
            )

        return self.call("getOrders", fetch)

    def get_order_items(self, amazon_order_id: str) -> tuple[AmazonOrderItem, ...]:
        items: list[AmazonOrderItem] = []
        next_token: str | None = None
        while True:

            def fetch(token: str | None = next_token) -> dict:
                client = self._client(OrdersV0)
                try:
                    kwargs = {"NextToken": token} if token else {}
                    response = self._invoke(client.get_order_items, amazon_order_id, **kwargs)
                    return self._payload(response, "getOrderItems")
                finally:
                    client.close()

            payload = self.call("getOrderItems", fetch)
            try:
                items.extend(parse_item(i) for i in payload.get("OrderItems", []))
            except (KeyError, TypeError, ValueError) as exc:
                raise AmazonTransientError(f"getOrderItems: malformed item ({exc})") from exc
            next_token = payload.get("NextToken") or None
            if not next_token:
                return tuple(items)

    def get_order(self, amazon_order_id: str) -> AmazonOrder:
        def fetch() -> AmazonOrder:
            client = self._client(OrdersV0)
            try:
                payload = self._payload(self._invoke(client.get_order, amazon_order_id), "getOrder")
            finally:
                client.close()
            return parse_order(payload)

        return self.call("getOrder", fetch)

    def confirm_shipment(
        self,
        amazon_order_id: str,
        *,
        marketplace_id: str,
        package_reference_id: str,
        carrier_code: str,
        tracking_number: str,
        ship_date: datetime,
        items: list[tuple[str, int]],
        carrier_name: str = "",
        shipping_method: str = "",
    ) -> None:
        """confirmShipment for one package: the order items and quantities in it (rule R3)."""
        body = {
            "packageDetail": {
                "packageReferenceId": package_reference_id,
                "carrierCode": carrier_code,
                "trackingNumber": tracking_number,
                "shipDate": amazon_timestamp(ship_date),
                "orderItems": [
                    {"orderItemId": item_id, "quantity": quantity} for item_id, quantity in items
                ],
            },
            "marketplaceId": marketplace_id,
        }
        if carrier_name:
            body["packageDetail"]["carrierName"] = carrier_name
        if shipping_method:
            body["packageDetail"]["shippingMethod"] = shipping_method

        def send() -> None:
            client = self._client(OrdersV0, marketplace_id)
            try:
                self._invoke(client.confirm_shipment, amazon_order_id, **body)
            finally:
                client.close()

        self.call("confirmShipment", send)

    # --- Finances v0 -------------------------------------------------------------------------

    def financial_events_for_order(self, amazon_order_id: str) -> dict:
        """listFinancialEventsByOrderId, all pages merged: {"ShipmentEventList": [...], ...}."""
        merged: dict[str, list] = {}
        next_token: str | None = None
        while True:

            def fetch(token: str | None = next_token) -> dict:
                client = self._client(FinancesV0)
                try:
                    kwargs = {"NextToken": token} if token else {}
                    response = self._invoke(
                        client.get_financial_events_for_order, amazon_order_id, **kwargs
                    )
                    return self._payload(response, "listFinancialEventsByOrderId")
                finally:
                    client.close()

            payload = self.call("listFinancialEventsByOrderId", fetch)
            for name, events in (payload.get("FinancialEvents") or {}).items():
                if isinstance(events, list):
                    merged.setdefault(name, []).extend(events)
            next_token = payload.get("NextToken") or None
            if not next_token:
                return merged


def _message(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    error = getattr(exc, "error", None)
    if error:
        return str(error)
    return str(exc) or type(exc).__name__


def _retry_after(headers: Any) -> float:
    """Amazon's 429 carries no Retry-After; x-amzn-RateLimit-Limit (req/s) gives the pace."""
    if not headers:
        return 1.0
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            pass
    limit = headers.get("x-amzn-RateLimit-Limit") if hasattr(headers, "get") else None
    try:
        rate = float(limit) if limit else 0.0
    except ValueError:
        rate = 0.0
    return min(60.0, 1.0 / rate) if rate > 0 else 1.0
