"""The Shopify gateway: ShopifyAPI's own ``Session`` and ``GraphQL`` client, unpatched, behind
our records and errors. Every call is ``shopify.GraphQL().execute(document, variables)``.

**Pointing at the emulator is configuration.** ``shopify.Session(shop_url, version, token)``
builds its site as ``{Session.protocol}://{shop}.{Session.myshopify_domain}[:{Session.port}]
/admin/api/{version}``, where ``shop`` is only the first label of the host it is given: a
session for ``127.0.0.1:8124`` points at ``https://127.myshopify.com`` (the port and the rest
of the host are dropped). Those three class attributes are the library's settings (``Session
.setup(**kwargs)`` sets them for the whole process); for a store with an ``endpoint`` (the
tenant's ``ShopifyStore.endpoint_override``, e.g. ``http://127.0.0.1:8124``) we set them on a
subclass made for that endpoint instead, so real stores keep ``https`` and
``myshopify.com``: ``protocol="http"``, ``myshopify_domain="0.0.1"``, ``port=8124`` and the
shop ``127`` give ``http://127.0.0.1:8124/admin/api/2025-07``.

**Why a lock per call.** The library keeps the active session in class state:
``ShopifyResource.activate_session`` writes the site, URL and version both to thread-locals
and to class-wide defaults (``ShopifyResource._site`` ...) that every thread without its own
session falls back to, and the access token into a headers dict that ``GraphQL()`` captures by
reference. Two stores' calls interleaving in one process could send one store's query to the
other store's site or with its token. So each call activates its store's session, executes and
clears the session under one process-wide lock; no session outlives a call.

**Other pitfalls (architecture.md).** ``GraphQL().execute`` returns the body as a string (we
parse it), opens the URL without a timeout (we set the socket default timeout for the call,
under the same lock, and restore it), and on an HTTP error prints the error body to stdout and
re-raises ``urllib.error.HTTPError`` (the body is consumed; the status is what we map).

**Throttling.** Shopify answers a query it cannot afford with HTTP 200 and
``errors[].extensions.code == "THROTTLED"``; nothing ran, so the same call (a mutation too)
is sent again after waiting for exactly the missing points:
``(requestedQueryCost - currentlyAvailable) / restoreRate`` seconds, read from
``extensions.cost.throttleStatus``; never a fixed sleep. Bounded: ``max_throttle_retries``
waits, each at most ``max_wait`` seconds, then ``Throttled`` (transient) with that wait.

**No retries of anything else here.** A 5xx or a timeout may come after Shopify ran a mutation;
sending it again could create a second order. Transient errors go to the caller (the outbox
retries with back-off, and the mirror looks its order up by source identifier first).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import shopify

from integrations.shopify import documents
from integrations.shopify.errors import (
    AuthFailed,
    PermanentShopifyError,
    ShopifyUserErrors,
    StoreUnavailable,
    Throttled,
    TransientShopifyError,
    UserError,
)
from integrations.shopify.records import (
    LineQuantity,
    Money,
    NewOrder,
    RefundRequest,
    ShopifyAddress,
    ShopifyFulfillment,
    ShopifyFulfillmentLine,
    ShopifyFulfillmentOrder,
    ShopifyFulfillmentOrderLine,
    ShopifyLineItem,
    ShopifyOrder,
    ShopifyOrdersPage,
    ShopifyRefund,
    ShopifyRefundLine,
    ShopifyShop,
    ShopifyTracking,
    ShopifyTransaction,
    ShopifyWebhookSubscription,
    TrackingInfo,
)

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2025-07"
WEBHOOK_TOPICS = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "FULFILLMENTS_CREATE",
    "REFUNDS_CREATE",
)

# One process-wide lock around activate_session / execute / clear_session (module docstring).
_SESSION_LOCK = threading.Lock()


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopifyCredentials:
    shop_domain: str  # example.myshopify.com
    access_token: str
    api_version: str = DEFAULT_API_VERSION
    endpoint: str = ""  # e.g. http://127.0.0.1:8124 (the emulator); empty for Shopify
    webhook_secret: str = ""

    @classmethod
    def from_store(cls, store) -> ShopifyCredentials:
        """From a ``tenants.models.ShopifyStore``."""
        return cls(
            shop_domain=store.shop_domain,
            access_token=store.access_token,
            api_version=store.api_version or DEFAULT_API_VERSION,
            endpoint=(store.endpoint_override or "").rstrip("/"),
            webhook_secret=store.webhook_secret or "",
        )


def session_class(endpoint: str) -> type[shopify.Session]:
    """``shopify.Session`` for real stores; for an endpoint, a subclass whose class settings
    (protocol, myshopify_domain, port) make the library build that endpoint's site."""
    if not endpoint:
        return shopify.Session
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if "." not in host:
        raise ValueError(f"endpoint host must contain a dot (e.g. 127.0.0.1), got {endpoint!r}")
    return type(
        "EndpointSession",
        (shopify.Session,),
        {
            "protocol": parts.scheme or "https",
            "myshopify_domain": host.split(".", 1)[1],
            "port": parts.port,
        },
    )


def make_session(credentials: ShopifyCredentials) -> shopify.Session:
    cls = session_class(credentials.endpoint)
    shop = urlsplit(credentials.endpoint).hostname if credentials.endpoint else None
    return cls(shop or credentials.shop_domain, credentials.api_version, credentials.access_token)


# --- parsing ---------------------------------------------------------------------------------


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_money(bag: dict | None) -> Money | None:
    money = (bag or {}).get("shopMoney") or {}
    if money.get("amount") in (None, ""):
        return None
    try:
        return Money(Decimal(str(money["amount"])), money.get("currencyCode", ""))
    except InvalidOperation as exc:
        raise TransientShopifyError(f"malformed amount {money!r}") from exc


def _nodes(connection: dict | None) -> list[dict]:
    return list((connection or {}).get("nodes") or ())


def parse_order(data: dict) -> ShopifyOrder:
    full = "lineItems" in data
    order = ShopifyOrder(
        id=data["id"],
        name=data.get("name") or "",
        created_at=parse_datetime(data["createdAt"]),
        updated_at=parse_datetime(data["updatedAt"]),
        cancelled_at=parse_datetime(data.get("cancelledAt")),
        cancel_reason=data.get("cancelReason") or "",
        source_name=data.get("sourceName") or "",
        source_identifier=data.get("sourceIdentifier") or "",
        tags=tuple(data.get("tags") or ()),
        currency=data.get("currencyCode") or "",
        financial_status=data.get("displayFinancialStatus") or "",
        fulfillment_status=data.get("displayFulfillmentStatus") or "",
        total_price=parse_money(data.get("totalPriceSet")),
        total_refunded=parse_money(data.get("totalRefundedSet")),
    )
    if not full:
        return order
    return ShopifyOrder(
        **{
            **order.__dict__,
            "line_items": tuple(
                ShopifyLineItem(
                    id=li["id"],
                    sku=li.get("sku") or "",
                    title=li.get("title") or "",
                    quantity=int(li["quantity"]),
                    current_quantity=int(li.get("currentQuantity", li["quantity"])),
                    unfulfilled_quantity=int(li.get("unfulfilledQuantity", 0)),
                    unit_price=parse_money(li.get("originalUnitPriceSet")),
                )
                for li in _nodes(data.get("lineItems"))
            ),
            "fulfillment_orders": tuple(
                ShopifyFulfillmentOrder(
                    id=fo["id"],
                    status=fo["status"],
                    lines=tuple(
                        ShopifyFulfillmentOrderLine(
                            id=line["id"],
                            line_item_id=line["lineItem"]["id"],
                            sku=line["lineItem"].get("sku") or "",
                            total_quantity=int(line["totalQuantity"]),
                            remaining_quantity=int(line["remainingQuantity"]),
                        )
                        for line in _nodes(fo.get("lineItems"))
                    ),
                )
                for fo in _nodes(data.get("fulfillmentOrders"))
            ),
            "fulfillments": tuple(
                ShopifyFulfillment(
                    id=f["id"],
                    status=f.get("status") or "",
                    created_at=parse_datetime(f.get("createdAt")),
                    tracking=tuple(
                        ShopifyTracking(
                            t.get("company") or "", t.get("number") or "", t.get("url") or ""
                        )
                        for t in f.get("trackingInfo") or ()
                    ),
                    lines=tuple(
                        ShopifyFulfillmentLine(
                            line["lineItem"]["id"],
                            line["lineItem"].get("sku") or "",
                            int(line.get("quantity") or 0),
                        )
                        for line in _nodes(f.get("fulfillmentLineItems"))
                    ),
                )
                for f in data.get("fulfillments") or ()
            ),
            "refunds": tuple(
                ShopifyRefund(
                    id=r["id"],
                    created_at=parse_datetime(r.get("createdAt")),
                    note=r.get("note") or "",
                    total=parse_money(r.get("totalRefundedSet")),
                    lines=tuple(
                        ShopifyRefundLine(
                            line["lineItem"]["id"],
                            line["lineItem"].get("sku") or "",
                            int(line["quantity"]),
                            line.get("restockType") or "",
                        )
                        for line in _nodes(r.get("refundLineItems"))
                    ),
                )
                for r in data.get("refunds") or ()
            ),
            "transactions": tuple(
                ShopifyTransaction(
                    id=t["id"],
                    kind=t["kind"],
                    status=t["status"],
                    gateway=t.get("gateway") or "",
                    amount=parse_money(t.get("amountSet")),
                )
                for t in data.get("transactions") or ()
            ),
        }
    )


def _user_errors(errors: Iterable[dict] | None) -> list[UserError]:
    return [
        UserError(
            field=tuple(e["field"]) if e.get("field") else None,
            message=e.get("message") or "",
            code=e.get("code"),
        )
        for e in errors or ()
    ]


def _money_input(amount: Decimal, currency: str) -> dict:
    return {"shopMoney": {"amount": str(amount), "currencyCode": currency}}


def _address_input(address: ShopifyAddress | None) -> dict | None:
    if address is None:
        return None
    fields = {
        "firstName": address.first_name,
        "lastName": address.last_name,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "provinceCode": address.province_code,
        "zip": address.zip,
        "countryCode": address.country_code,
        "phone": address.phone,
    }
    return {k: v for k, v in fields.items() if v}


def _search_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the gateway -----------------------------------------------------------------------------


class ShopifyGateway:
    """One store's Admin GraphQL API, with Shopify's throttling and error mapping."""

    def __init__(
        self,
        credentials: ShopifyCredentials,
        *,
        max_throttle_retries: int = 5,
        max_wait: float = 30.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials = credentials
        self.max_throttle_retries = max_throttle_retries
        self.max_wait = max_wait
        self.timeout = timeout
        self._sleep = sleep
        self.last_cost: dict | None = None  # extensions.cost of the last answer

    # --- transport -----------------------------------------------------------------------------

    def _send(self, document: str, variables: dict | None) -> str:
        session = make_session(self.credentials)
        with _SESSION_LOCK:
            previous_timeout = socket.getdefaulttimeout()
            shopify.ShopifyResource.activate_session(session)
            try:
                socket.setdefaulttimeout(self.timeout)
                return shopify.GraphQL().execute(document, variables)
            except urllib.error.HTTPError as exc:
                raise _http_error(exc) from exc
            except urllib.error.URLError as exc:
                raise TransientShopifyError(
                    f"cannot reach Shopify: {exc.reason}", code="shopify_unreachable"
                ) from exc
            except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                raise TransientShopifyError(
                    f"{type(exc).__name__}: {exc}", code="shopify_network_error"
                ) from exc
            finally:
                socket.setdefaulttimeout(previous_timeout)
                shopify.ShopifyResource.clear_session()

    def execute(self, document: str, variables: dict | None = None) -> dict:
        """Run one document; returns ``data``. Waits out THROTTLED answers (bounded)."""
        waited = 0
        while True:
            raw = self._send(document, variables)
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise TransientShopifyError(
                    "Shopify answered with a body that is not JSON", code="shopify_malformed"
                ) from exc
            if not isinstance(body, dict):
                raise TransientShopifyError("Shopify answered with an unexpected body")
            self.last_cost = (body.get("extensions") or {}).get("cost")
            errors = body.get("errors")
            if not errors:
                data = body.get("data")
                if not isinstance(data, dict):
                    raise TransientShopifyError("Shopify answered without data")
                return data
            if isinstance(errors, list) and any(_code(e) == "THROTTLED" for e in errors):
                wait = self._throttle_wait(self.last_cost)
                if waited >= self.max_throttle_retries or wait > self.max_wait:
                    raise Throttled(
                        f"throttled by Shopify ({_throttle_text(self.last_cost)})",
                        retry_after=wait,
                    )
                waited += 1
                logger.info(
                    "shopify throttled: waiting %.2f s (%s)", wait, _throttle_text(self.last_cost)
                )
                self._sleep(wait)
                continue
            raise _graphql_error(errors)

    @staticmethod
    def _throttle_wait(cost: dict | None) -> float:
        """Seconds until the bucket holds the requested cost: (requested - available) / rate."""
        cost = cost or {}
        status = cost.get("throttleStatus") or {}
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
        if rate <= 0:
            return float("inf")
        return max(0.0, (requested - available) / rate)

    # --- reads ---------------------------------------------------------------------------------

    def get_shop(self) -> ShopifyShop:
        shop = self.execute(documents.SHOP)["shop"]
        return ShopifyShop(
            name=shop["name"],
            domain=shop["myshopifyDomain"],
            currency=shop["currencyCode"],
            timezone=shop["ianaTimezone"],
        )

    def get_order(self, order_id: str) -> ShopifyOrder | None:
        data = self.execute(documents.ORDER, {"id": order_id})["order"]
        return parse_order(data) if data else None

    def find_order_by_source_identifier(
        self, source_identifier: str, *, summary: bool = False
    ) -> ShopifyOrder | None:
        """The order made from ``source_identifier``, or None. ``summary``: without its lines,
        fulfillments, refunds and transactions (a far cheaper query)."""
        query = f"source_identifier:{_search_value(source_identifier)}"
        document = documents.FIND_ORDER_SUMMARY if summary else documents.FIND_ORDER
        nodes = self.execute(document, {"query": query})["orders"]["nodes"]
        for node in nodes:  # the search is exact in the emulator; be strict anyway
            if node.get("sourceIdentifier") == source_identifier:
                return parse_order(node)
        return None

    def list_orders(
        self, updated_after: datetime | None = None, *, after: str | None = None, first: int = 50
    ) -> ShopifyOrdersPage:
        """One page of order summaries changed after ``updated_after``, oldest change first;
        pass ``end_cursor`` back as ``after`` for the next page."""
        query = f"updated_at:>{_timestamp(updated_after)}" if updated_after else None
        result = self.execute(documents.ORDERS, {"first": first, "after": after, "query": query})[
            "orders"
        ]
        return ShopifyOrdersPage(
            orders=tuple(parse_order(node) for node in result["nodes"]),
            end_cursor=result["pageInfo"]["endCursor"],
            has_next_page=bool(result["pageInfo"]["hasNextPage"]),
        )

    # --- writes --------------------------------------------------------------------------------

    def create_order(self, order: NewOrder) -> str:
        """Create the order; returns its id. Never notifies the buyer (rule R4). Not
        idempotent by itself: look it up with ``find_order_by_source_identifier`` first."""
        return self.create_order_named(order)[0]

    def create_order_named(self, order: NewOrder) -> tuple[str, str]:
        """``create_order``, returning the order's id and its name ("#1001")."""
        currency = order.currency
        paid = order.total if order.paid_amount is None else order.paid_amount
        tags = list(dict.fromkeys(("amazon", *order.tags)))
        data: dict[str, Any] = {
            "currency": currency,
            "sourceName": order.source_name,
            "sourceIdentifier": order.source_identifier,
            "tags": tags,
            "lineItems": [
                {
                    "sku": line.sku,
                    "title": line.title or line.sku,
                    "quantity": line.quantity,
                    "priceSet": _money_input(line.unit_price, currency),
                    "requiresShipping": True,
                }
                for line in order.lines
            ],
        }
        if paid > 0:  # nothing charged yet (e.g. unverified payment): no transaction
            data["transactions"] = [
                {
                    "kind": "SALE",
                    "status": "SUCCESS",
                    "gateway": order.payment_gateway,
                    "amountSet": _money_input(paid, currency),
                }
            ]
        if order.shipping_amount:
            data["shippingLines"] = [
                {
                    "title": order.shipping_title,
                    "priceSet": _money_input(order.shipping_amount, currency),
                }
            ]
        if order.email:
            data["email"] = order.email
        if order.note:
            data["note"] = order.note
        if order.processed_at:
            data["processedAt"] = _timestamp(order.processed_at)
            for transaction in data.get("transactions", ()):
                transaction["processedAt"] = data["processedAt"]
        if order.shipping_address:
            data["shippingAddress"] = _address_input(order.shipping_address)
        if order.billing_address:
            data["billingAddress"] = _address_input(order.billing_address)
        options = {
            "inventoryBehaviour": order.inventory_behaviour,
            "sendReceipt": False,
            "sendFulfillmentReceipt": False,
        }
        payload = self.execute(documents.ORDER_CREATE, {"order": data, "options": options})[
            "orderCreate"
        ]
        _raise_user_errors(payload.get("userErrors"), "orderCreate")
        return payload["order"]["id"], payload["order"].get("name") or ""

    def create_fulfillment(
        self,
        order_id: str,
        lines: Iterable[LineQuantity] | None,
        tracking: TrackingInfo | None = None,
        *,
        message: str = "",
    ) -> str:
        """Fulfil ``lines`` (by SKU; None: everything that remains) of the order; returns the
        fulfillment's id. The buyer is not notified (R4)."""
        order = self._order_or_error(order_id)
        groups = _fulfillment_groups(order, lines)
        fulfillment: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": groups,
            "notifyCustomer": False,
        }
        if tracking and (tracking.company or tracking.number or tracking.url):
            fulfillment["trackingInfo"] = {
                k: v
                for k, v in (
                    ("company", tracking.company),
                    ("number", tracking.number),
                    ("url", tracking.url),
                )
                if v
            }
        payload = self.execute(
            documents.FULFILLMENT_CREATE, {"fulfillment": fulfillment, "message": message or None}
        )["fulfillmentCreate"]
        _raise_user_errors(payload.get("userErrors"), "fulfillmentCreate")
        return payload["fulfillment"]["id"]

    def create_refund(self, order_id: str, refund: RefundRequest) -> str:
        """Refund lines (by SKU), shipping and an amount of money; returns the refund's id.
        The buyer is not notified (R4)."""
        order = self._order_or_error(order_id)
        by_sku = {li.sku: li for li in order.line_items or () if li.sku}
        refund_lines = []
        for line in refund.lines:
            item = by_sku.get(line.sku)
            if item is None:
                raise ShopifyUserErrors(
                    [UserError(("refundLineItems", line.sku), f"no line with SKU {line.sku}")],
                    operation="refundCreate",
                )
            refund_lines.append(
                {"lineItemId": item.id, "quantity": line.quantity, "restockType": line.restock_type}
            )
        data: dict[str, Any] = {
            "orderId": order.id,
            "notify": False,
            "refundLineItems": refund_lines,
        }
        if refund.note:
            data["note"] = refund.note
        if refund.shipping_amount:
            data["shipping"] = {"amount": str(refund.shipping_amount)}
        if refund.amount:
            sale = next(
                (
                    t
                    for t in order.transactions or ()
                    if t.kind in ("SALE", "CAPTURE") and t.status == "SUCCESS"
                ),
                None,
            )
            transaction = {
                "amount": str(refund.amount),
                "gateway": sale.gateway if sale else "manual",
                "kind": "REFUND",
                "orderId": order.id,
            }
            if sale is not None:
                transaction["parentId"] = sale.id
            data["transactions"] = [transaction]
        payload = self.execute(documents.REFUND_CREATE, {"input": data})["refundCreate"]
        _raise_user_errors(payload.get("userErrors"), "refundCreate")
        return payload["refund"]["id"]

    def cancel_order(
        self,
        order_id: str,
        *,
        reason: str = "OTHER",
        refund: bool = True,
        restock: bool = True,
        staff_note: str = "",
    ) -> None:
        """Cancel the order (``notifyCustomer`` false, R4); ``refund`` gives back what
        remains paid, ``restock`` puts the items back."""
        payload = self.execute(
            documents.ORDER_CANCEL,
            {
                "orderId": order_id,
                "reason": reason,
                "refund": refund,
                "restock": restock,
                "staffNote": staff_note or None,
            },
        )["orderCancel"]
        _raise_user_errors(payload.get("orderCancelUserErrors"), "orderCancel")

    def webhook_subscriptions(self) -> list[ShopifyWebhookSubscription]:
        out: list[ShopifyWebhookSubscription] = []
        after = None
        while True:
            result = self.execute(documents.WEBHOOK_SUBSCRIPTIONS, {"first": 50, "after": after})
            result = result["webhookSubscriptions"]
            out.extend(_subscription(node) for node in result["nodes"])
            if not result["pageInfo"]["hasNextPage"]:
                return out
            after = result["pageInfo"]["endCursor"]

    def ensure_webhook_subscriptions(
        self, callback_url: str, topics: Iterable[str] = WEBHOOK_TOPICS
    ) -> list[ShopifyWebhookSubscription]:
        """Subscribe ``callback_url`` to each topic it is not yet subscribed to (idempotent:
        lists first). Returns the subscriptions for ``callback_url``, existing and new."""
        existing = [s for s in self.webhook_subscriptions() if s.callback_url == callback_url]
        have = {s.topic for s in existing}
        for topic in dict.fromkeys(topics):
            if topic in have:
                continue
            payload = self.execute(
                documents.WEBHOOK_SUBSCRIPTION_CREATE,
                {
                    "topic": topic,
                    "webhookSubscription": {"callbackUrl": callback_url, "format": "JSON"},
                },
            )["webhookSubscriptionCreate"]
            _raise_user_errors(payload.get("userErrors"), "webhookSubscriptionCreate")
            existing.append(_subscription(payload["webhookSubscription"]))
            have.add(topic)
        return existing

    def _order_or_error(self, order_id: str) -> ShopifyOrder:
        order = self.get_order(order_id)
        if order is None:
            raise PermanentShopifyError(
                f"no order {order_id} in the store", code="shopify_no_order"
            )
        return order


# --- helpers ---------------------------------------------------------------------------------


def _fulfillment_groups(order: ShopifyOrder, lines: Iterable[LineQuantity] | None) -> list[dict]:
    """Map quantities by SKU onto the order's open fulfillment orders' line items."""
    open_orders = [
        fo for fo in order.fulfillment_orders or () if fo.status in ("OPEN", "IN_PROGRESS")
    ]
    if lines is None:
        return [
            {"fulfillmentOrderId": fo.id}
            for fo in open_orders
            if any(line.remaining_quantity for line in fo.lines)
        ] or _nothing_to_fulfil(order)
    chosen: dict[str, dict[str, int]] = {}
    for wanted in lines:
        left = wanted.quantity
        for fo in open_orders:
            for line in fo.lines:
                if line.sku != wanted.sku or left <= 0 or line.remaining_quantity <= 0:
                    continue
                already = chosen.get(fo.id, {}).get(line.id, 0)
                take = min(left, line.remaining_quantity - already)
                if take > 0:
                    chosen.setdefault(fo.id, {})[line.id] = already + take
                    left -= take
        if left > 0:
            raise ShopifyUserErrors(
                [
                    UserError(
                        ("lines", wanted.sku),
                        f"{wanted.quantity} x {wanted.sku} requested, "
                        f"{wanted.quantity - left} remain to fulfil",
                    )
                ],
                operation="fulfillmentCreate",
            )
    return [
        {
            "fulfillmentOrderId": fo_id,
            "fulfillmentOrderLineItems": [{"id": i, "quantity": q} for i, q in items.items()],
        }
        for fo_id, items in chosen.items()
    ]


def _nothing_to_fulfil(order: ShopifyOrder) -> list[dict]:
    raise ShopifyUserErrors(
        [UserError(None, f"order {order.name} has nothing left to fulfil")],
        operation="fulfillmentCreate",
    )


def _subscription(node: dict) -> ShopifyWebhookSubscription:
    endpoint = node.get("endpoint") or {}
    return ShopifyWebhookSubscription(
        id=node["id"], topic=node["topic"], callback_url=endpoint.get("callbackUrl") or ""
    )


def _raise_user_errors(errors: list[dict] | None, operation: str) -> None:
    if errors:
        raise ShopifyUserErrors(_user_errors(errors), operation=operation)


def _code(error: Any) -> str:
    return (
        ((error or {}).get("extensions") or {}).get("code") or "" if isinstance(error, dict) else ""
    )


def _throttle_text(cost: dict | None) -> str:
    cost = cost or {}
    status = cost.get("throttleStatus") or {}
    return (
        f"requested {cost.get('requestedQueryCost')}, available "
        f"{status.get('currentlyAvailable')}/{status.get('maximumAvailable')}, "
        f"restoring {status.get('restoreRate')}/s"
    )


def _graphql_error(errors: Any) -> Exception:
    if not isinstance(errors, list):
        return PermanentShopifyError(f"Shopify refused the request: {errors}")
    codes = {_code(e) for e in errors}
    text = "; ".join(str((e or {}).get("message")) for e in errors if isinstance(e, dict))
    if "ACCESS_DENIED" in codes:
        return AuthFailed(text, code="shopify_access_denied")
    if "INTERNAL_SERVER_ERROR" in codes:
        return TransientShopifyError(text, code="shopify_internal_error")
    if "MAX_COST_EXCEEDED" in codes:
        return PermanentShopifyError(text, code="shopify_max_cost_exceeded")
    return PermanentShopifyError(f"GraphQL errors: {text}", code="shopify_graphql_error")


def _http_error(exc: urllib.error.HTTPError):
    status = exc.code
    text = f"HTTP {status} from Shopify"
    if status in (401, 403):
        return AuthFailed(text, code="shopify_auth_failed", status=status)
    if status in (402, 404, 423):
        reason = {402: "shopify_payment_required", 404: "shopify_not_found", 423: "shopify_locked"}
        return StoreUnavailable(text, code=reason[status], status=status)
    if status == 429:
        retry_after = _retry_after(exc.headers)
        return Throttled(text, retry_after=retry_after, status=status)
    if status >= 500:
        return TransientShopifyError(text, code="shopify_server_error", status=status)
    return PermanentShopifyError(text, code="shopify_http_error", status=status)


def _retry_after(headers) -> float:
    try:
        return max(0.0, float((headers or {}).get("Retry-After") or 1.0))
    except (TypeError, ValueError):
        return 1.0
