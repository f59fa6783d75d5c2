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

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sp_api.api import FeedsV20210630, FinancesV0, Notifications, OrdersV0, OrdersV20260101
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


# --- parsing Orders 2026-01-01 ---------------------------------------------------------------

# Orders 2026-01-01 fulfillment statuses as Orders v0 OrderStatus values (our Order.status).
STATUS_FROM_2026 = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
# What searchOrders is asked to include: statuses and dates (FULFILLMENT), money (PROCEEDS),
# buyer cancellation requests (CANCELLATION, rule B3) and the delivery address (RECIPIENT).
SEARCH_ORDERS_DATA = ("FULFILLMENT", "PROCEEDS", "CANCELLATION", "RECIPIENT")
# Address members that carry no personal data: what Orders v0 returns without a restricted
# data token. Without ``personal_data`` a 2026 record keeps only these, like a v0 record.
NON_PII_ADDRESS_FIELDS = ("City", "StateOrRegion", "PostalCode", "CountryCode", "AddressType")
_ADDRESS_FROM_2026 = {
    "name": "Name",
    "addressLine1": "AddressLine1",
    "addressLine2": "AddressLine2",
    "addressLine3": "AddressLine3",
    "city": "City",
    "stateOrRegion": "StateOrRegion",
    "postalCode": "PostalCode",
    "countryCode": "CountryCode",
    "phone": "Phone",
    "addressType": "AddressType",
}


def parse_money_2026(value: dict | None) -> Money | None:
    if not value or value.get("amount") in (None, ""):
        return None
    try:
        return Money(Decimal(str(value["amount"])), value.get("currencyCode", ""))
    except InvalidOperation as exc:
        raise AmazonTransientError(f"malformed amount {value!r}") from exc


def parse_item_2026(data: dict) -> AmazonOrderItem:
    """An Orders 2026-01-01 order item as an Orders v0-shaped record.

    ``ItemPrice`` (v0) is the line: unit price times quantity ordered. Shipping, tax and
    discount come from the item's proceeds breakdowns (for the quantity not cancelled); a TAX
    breakdown without detail is item tax. Without PROCEEDS (or while Pending) they are None,
    as in v0.
    """
    product = data.get("product") or {}
    quantity = int(data["quantityOrdered"])
    unit = parse_money_2026((product.get("price") or {}).get("unitPrice"))
    item_price = Money(unit.amount * quantity, unit.currency) if unit else None
    shipping_price = item_tax = shipping_tax = discount = None
    for breakdown in (data.get("proceeds") or {}).get("breakdowns") or ():
        subtotal = parse_money_2026(breakdown.get("subtotal"))
        kind = breakdown.get("type")
        if kind == "SHIPPING":
            shipping_price = subtotal
        elif kind == "DISCOUNT" and subtotal is not None:
            discount = Money(abs(subtotal.amount), subtotal.currency)
        elif kind == "TAX":
            detail = {
                d.get("subtype"): parse_money_2026(d.get("value"))
                for d in breakdown.get("detailedBreakdowns") or ()
            }
            if detail:
                item_tax, shipping_tax = detail.get("ITEM"), detail.get("SHIPPING")
            else:
                item_tax = subtotal
    request = (data.get("cancellation") or {}).get("cancellationRequest") or {}
    return AmazonOrderItem(
        order_item_id=data["orderItemId"],
        sku=product.get("sellerSku", "") or "",
        asin=product.get("asin", "") or "",
        title=product.get("title", "") or "",
        quantity_ordered=quantity,
        quantity_shipped=int((data.get("fulfillment") or {}).get("quantityFulfilled", 0)),
        item_price=item_price,
        item_tax=item_tax,
        shipping_price=shipping_price,
        shipping_tax=shipping_tax,
        promotion_discount=discount,
        buyer_cancel_requested=request.get("requester") == "BUYER",
        buyer_cancel_reason=(request.get("cancelReason") or "") if request else "",
    )


def parse_order_2026(data: dict, *, personal_data: bool = False) -> AmazonOrder:
    """An Orders 2026-01-01 order (with FULFILLMENT, PROCEEDS, CANCELLATION, RECIPIENT) as the
    same record Orders v0 gives, items included."""
    fulfillment = data["fulfillment"]
    status = STATUS_FROM_2026[fulfillment["fulfillmentStatus"]]
    programs = set(data.get("programs") or ())
    channel = data.get("salesChannel") or {}
    ship_by = fulfillment.get("shipByWindow") or {}
    deliver_by = fulfillment.get("deliverByWindow") or {}
    raw_address = (data.get("recipient") or {}).get("deliveryAddress") or {}
    address = {
        ours: raw_address[theirs]
        for theirs, ours in _ADDRESS_FROM_2026.items()
        if raw_address.get(theirs)
    }
    if "AddressType" in address:
        address["AddressType"] = str(address["AddressType"]).capitalize()
    if not personal_data:
        address = {k: v for k, v in address.items() if k in NON_PII_ADDRESS_FIELDS}
    buyer = (data.get("buyer") or {}) if personal_data else {}
    return AmazonOrder(
        amazon_order_id=data["orderId"],
        marketplace_id=channel.get("marketplaceId", ""),
        status=status,
        fulfillment_channel="AFN" if fulfillment.get("fulfilledBy") == "AMAZON" else "MFN",
        purchase_date=parse_datetime(data["createdTime"]),
        last_update_date=parse_datetime(data["lastUpdatedTime"]),
        sales_channel=channel.get("marketplaceName", "") or "",
        ship_service_level=fulfillment.get("fulfillmentServiceLevel", "") or "",
        earliest_ship_date=parse_datetime(ship_by.get("earliestDateTime")),
        latest_ship_date=parse_datetime(ship_by.get("latestDateTime")),
        earliest_delivery_date=parse_datetime(deliver_by.get("earliestDateTime")),
        latest_delivery_date=parse_datetime(deliver_by.get("latestDateTime")),
        is_prime="PRIME" in programs,
        is_business_order="AMAZON_BUSINESS" in programs,
        is_premium_order="PREMIUM" in programs,
        order_total=parse_money_2026((data.get("proceeds") or {}).get("grandTotal")),
        buyer_name=buyer.get("buyerName", "") or address.get("Name", ""),
        buyer_email=buyer.get("buyerEmail", ""),
        shipping_address=address,
        items=tuple(parse_item_2026(item) for item in data["orderItems"]),
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
                self._sleep(min(2.0 ** (attempt - 1), 30.0, self.max_wait))
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

    def _payload(self, response: Any, what: str, key: str | None = None) -> Any:
        """The response's payload; a transient error when it is missing or lacks ``key``.

        The library turns a body that is not JSON (a truncated or HTML page) into an empty
        payload (``{}``), not an error: without this check a malformed getOrders page would
        read as an empty last page, and the caller would move its cursor past orders it never
        saw. ``key`` is a member the model requires (``Orders``, ``OrderItems``, ``orders``).
        """
        payload = getattr(response, "payload", None)
        if payload is None or (
            key is not None and (not isinstance(payload, dict) or key not in payload)
        ):
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
                payload = self._payload(
                    self._invoke(client.get_orders, **params), "getOrders", "Orders"
                )
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
                    return self._payload(response, "getOrderItems", "OrderItems")
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

    # --- Orders 2026-01-01 --------------------------------------------------------------------

    def search_orders_page(
        self,
        *,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        created_after: datetime | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
        personal_data: bool = False,
    ) -> OrdersPage:
        """One page of searchOrders (Orders 2026-01-01), items included in each record.

        ``personal_data`` asks for the buyer too and keeps the full address; it needs a
        restricted data token on real Amazon. The caller keeps the pagination token.
        """
        included = [*SEARCH_ORDERS_DATA, *(["BUYER"] if personal_data else [])]
        params: dict[str, Any] = {
            "marketplaceIds": list(self.credentials.marketplace_ids),
            "includedData": included,
        }
        if pagination_token:
            params["paginationToken"] = pagination_token
        else:
            params["maxResultsPerPage"] = max_results
            if last_updated_after is not None:
                params["lastUpdatedAfter"] = amazon_timestamp(last_updated_after)
            if last_updated_before is not None:
                params["lastUpdatedBefore"] = amazon_timestamp(last_updated_before)
            if created_after is not None:
                params["createdAfter"] = amazon_timestamp(created_after)

        def fetch() -> OrdersPage:
            client = self._client(OrdersV20260101)
            try:
                response = self._invoke(client.search_orders, **params)
            finally:
                client.close()
            payload = self._payload(response, "searchOrders", "orders")
            try:
                orders = tuple(
                    parse_order_2026(o, personal_data=personal_data) for o in payload["orders"]
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise AmazonTransientError(f"searchOrders: malformed order ({exc!r})") from exc
            pagination = getattr(response, "pagination", None) or payload.get("pagination") or {}
            return OrdersPage(
                orders=orders,
                next_token=pagination.get("nextToken") or None,
                last_updated_before=parse_datetime(payload.get("lastUpdatedBefore")),
            )

        return self.call("searchOrders", fetch)

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

    # --- Notifications v1 --------------------------------------------------------------------

    def ensure_subscription(
        self, notification_type: str, queue_arn: str, destination_name: str
    ) -> str:
        """Make sure the seller's ``notification_type`` notifications go to the SQS queue
        ``queue_arn``: the application's destination for the queue (grantless; found or
        created), then the seller's subscription to it (found, or created; one pointing
        elsewhere is replaced). Idempotent; returns the subscription id."""
        destination_id = self._destination_for(queue_arn, destination_name)
        current = self._subscription(notification_type)
        if current is not None and current.get("destinationId") == destination_id:
            return str(current["subscriptionId"])
        if current is not None:
            self.delete_subscription(notification_type, str(current["subscriptionId"]))

        def create() -> dict:
            client = self._client(Notifications)
            try:
                response = self._invoke(
                    client.create_subscription, notification_type, destination_id=destination_id
                )
                return self._payload(response, "createSubscription", "subscriptionId")
            finally:
                client.close()

        return str(self.call("createSubscription", create)["subscriptionId"])

    def delete_subscription(self, notification_type: str, subscription_id: str) -> None:
        def delete() -> None:
            client = self._client(Notifications)
            try:
                self._invoke(
                    client.delete_notification_subscription, notification_type, subscription_id
                )
            finally:
                client.close()

        try:
            self.call("deleteSubscriptionById", delete)
        except AmazonPermanentError as exc:
            if exc.status != 404:  # already gone: what we wanted
                raise

    def _subscription(self, notification_type: str) -> dict | None:
        def fetch() -> dict | None:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.get_subscription, notification_type)
                return self._payload(response, "getSubscription", "subscriptionId")
            except AmazonPermanentError as exc:
                if exc.status == 404:
                    return None
                raise
            finally:
                client.close()

        return self.call("getSubscription", fetch)

    def _destination_for(self, queue_arn: str, name: str) -> str:
        def find() -> str | None:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.get_destinations)
                payload = getattr(response, "payload", None)
                # The library turns an empty list into {} (as it does a body that is not
                # JSON): both read as "none"; creating one then answers 409 if there is one.
                if payload == {}:
                    payload = []
                if not isinstance(payload, list):
                    raise AmazonTransientError("getDestinations: response without a payload")
            finally:
                client.close()
            for destination in payload:
                if ((destination.get("resource") or {}).get("sqs") or {}).get("arn") == queue_arn:
                    return str(destination["destinationId"])
            return None

        def create() -> str:
            client = self._client(Notifications)
            try:
                response = self._invoke(client.create_destination, name=name, arn=queue_arn)
                return str(
                    self._payload(response, "createDestination", "destinationId")["destinationId"]
                )
            finally:
                client.close()

        found = self.call("getDestinations", find)
        if found:
            return found
        try:
            return self.call("createDestination", create)
        except AmazonPermanentError as exc:
            # Another worker created it meanwhile (409): it is there now.
            if exc.status != 409:
                raise
            found = self.call("getDestinations", find)
            if not found:
                raise
            return found

    # --- Feeds 2021-06-30 --------------------------------------------------------------------

    def create_feed_document(self, content: bytes, content_type: str) -> str:
        """createFeedDocument, then the upload of ``content`` to the presigned URL Amazon gave
        (the library's own upload, in the same attempt). Returns the feedDocumentId."""

        def send() -> str:
            client = self._client(FeedsV20210630)
            try:
                response = self._invoke(
                    client.create_feed_document, io.BytesIO(content), content_type
                )
                payload = self._payload(response, "createFeedDocument", "feedDocumentId")
            finally:
                client.close()
            return str(payload["feedDocumentId"])

        return self.call("createFeedDocument", send)

    def create_feed(self, feed_type: str, document_id: str, marketplace_ids: list[str]) -> str:
        """createFeed for an uploaded document. Returns the feedId."""

        def send() -> str:
            client = self._client(FeedsV20210630, marketplace_ids[0] if marketplace_ids else None)
            try:
                response = self._invoke(
                    client.create_feed, feed_type, document_id, marketplaceIds=marketplace_ids
                )
                payload = self._payload(response, "createFeed", "feedId")
            finally:
                client.close()
            return str(payload["feedId"])

        return self.call("createFeed", send)

    def get_feed(self, feed_id: str) -> FeedStatus:
        def fetch() -> FeedStatus:
            client = self._client(FeedsV20210630)
            try:
                payload = self._payload(
                    self._invoke(client.get_feed, feed_id), "getFeed", "processingStatus"
                )
            finally:
                client.close()
            return FeedStatus(
                feed_id=str(payload.get("feedId") or feed_id),
                processing_status=str(payload["processingStatus"]),
                result_document_id=payload.get("resultFeedDocumentId") or None,
            )

        return self.call("getFeed", fetch)

    def get_feed_document(self, document_id: str) -> str:
        """getFeedDocument and the download of its content (a processing report)."""

        def fetch() -> str:
            client = self._client(FeedsV20210630)
            try:
                text = self._invoke(client.get_feed_document, document_id)
            finally:
                client.close()
            if not isinstance(text, str) or not text.strip():
                raise AmazonTransientError("getFeedDocument: empty document")
            return text

        return self.call("getFeedDocument", fetch)


@dataclass(frozen=True)
class FeedStatus:
    """getFeed: where a feed is (IN_QUEUE, IN_PROGRESS, DONE, CANCELLED, FATAL)."""

    feed_id: str
    processing_status: str
    result_document_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.processing_status in FEED_FINISHED


FEED_FINISHED = frozenset({"DONE", "CANCELLED", "FATAL"})


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
