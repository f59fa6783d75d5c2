"""Handlers of the SP-API operations (see ``operations``). Each takes a ``Context`` and returns
``(status, body)``; errors are raised as ``ApiError`` and rendered in Amazon's shape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.db.models import Q

from sandbox.amazon import feeds, notifications, render, services
from sandbox.amazon.clock import isoformat, parse_iso
from sandbox.amazon.errors import ApiError, access_denied, invalid_input, not_found
from sandbox.amazon.models import (
    AmazonAdjustment,
    AmazonFeed,
    AmazonFeedDocument,
    AmazonOrder,
    AmazonPackage,
    AmazonSeller,
    SandboxState,
)

ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")
PAGE_SALT = "sandbox.amazon.page"
V0_STATUSES = (
    "PendingAvailability",
    "Pending",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
)
INCLUDED_DATA = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
)
FEED_STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")
RESTRICTED_ELEMENTS = ("buyerInfo", "shippingAddress", "buyerTaxInformation")
RDT_OPERATIONS = frozenset(
    {
        "getOrders",
        "getOrder",
        "getOrderItems",
        "getOrderAddress",
        "getOrderBuyerInfo",
        "getOrderItemsBuyerInfo",
    }
)
RESTRICTED_PATHS = (
    "/orders/v0/orders",
    "/orders/v0/orders/{orderId}",
    "/orders/v0/orders/{orderId}/orderItems",
    "/orders/v0/orders/{orderId}/address",
    "/orders/v0/orders/{orderId}/buyerInfo",
    "/orders/v0/orders/{orderId}/orderItems/buyerInfo",
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def list_param(self, name: str) -> list[str] | None:
        """Amazon's array parameters: comma-separated and/or repeated."""
        if name not in self.query:
            return None
        out: list[str] = []
        for raw in self.query[name]:
            out.extend(part.strip() for part in raw.split(",") if part.strip())
        return out

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise invalid_input("The request body is not valid JSON.") from exc


@dataclass
class Context:
    request: Request
    seller: AmazonSeller | None  # None for grantless operations
    now: datetime
    base_url: str
    state: SandboxState
    path_params: dict[str, str] = field(default_factory=dict)
    restricted_resources: list[dict] | None = None
    pii: frozenset[str] = frozenset()
    client_id: str = ""  # the calling application (for grantless operations)


Handler = Callable[[Context], tuple[int, Any]]


# --- helpers ---------------------------------------------------------------------------------


def _date(ctx: Context, name: str) -> datetime | None:
    raw = ctx.request.param(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_iso(raw)
    except ValueError as exc:
        raise invalid_input(f"Invalid {name}: '{raw}' is not an ISO 8601 date-time.") from exc


def _page_size(ctx: Context, name: str, default: int = 100) -> int:
    raw = ctx.request.param(name)
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise invalid_input(f"{name} must be an integer between 1 and 100.") from exc
    if not 1 <= size <= 100:
        raise invalid_input(f"{name} must be between 1 and 100.")
    return size


def _dump_token(kind: str, spec: dict) -> str:
    return signing.dumps({"k": kind, **spec}, salt=PAGE_SALT, compress=True)


def _load_token(kind: str, token: str, name: str) -> dict:
    try:
        spec = signing.loads(token, salt=PAGE_SALT)
    except signing.BadSignature as exc:
        raise invalid_input(f"Invalid {name}.") from exc
    if spec.get("k") != kind:
        raise invalid_input(f"Invalid {name}.")
    return spec


def _window(
    ctx: Context, created_names: tuple[str, str], updated_names: tuple[str, str]
) -> tuple[str, datetime, datetime]:
    """Amazon's date rules for getOrders/searchOrders: exactly one of CreatedAfter and
    LastUpdatedAfter; no mixing; the end (default: two minutes ago) not after two minutes
    ago and not before the start."""
    created_after, created_before = (_date(ctx, n) for n in created_names)
    updated_after, updated_before = (_date(ctx, n) for n in updated_names)
    latest = ctx.now - timedelta(minutes=2)
    if created_after and (updated_after or updated_before):
        raise invalid_input(
            f"{updated_names[0]} and {updated_names[1]} cannot be set when "
            f"{created_names[0]} is set."
        )
    if updated_after and created_before:
        raise invalid_input(f"{created_names[1]} cannot be set when {updated_names[0]} is set.")
    if created_after:
        mode, start, end, end_name = "created", created_after, created_before, created_names[1]
    elif updated_after:
        mode, start, end, end_name = "updated", updated_after, updated_before, updated_names[1]
    else:
        raise invalid_input(
            f"Either {created_names[0]} or {updated_names[0]} must be specified; "
            "both cannot be empty."
        )
    if start > ctx.now:
        raise invalid_input(
            f"{created_names[0] if mode == 'created' else updated_names[0]} is in the future."
        )
    if end is None:
        # A window starting in the last two minutes is empty (not an error).
        return mode, start, latest
    if end > latest:
        raise invalid_input(f"{end_name} must be at least two minutes before the current time.")
    if end < start:
        raise invalid_input(f"{end_name} must be equal to or after the start of the window.")
    return mode, start, end


def _marketplaces(ctx: Context, ids: list[str] | None, required: bool) -> list[str]:
    if not ids:
        if required:
            raise invalid_input("Missing required parameter: MarketplaceIds.")
        return list(ctx.seller.marketplace_ids)
    if len(ids) > 50:
        raise invalid_input("At most 50 MarketplaceIds may be given.")
    foreign = [m for m in ids if m not in ctx.seller.marketplace_ids]
    if foreign:
        raise invalid_input(
            f"Invalid MarketplaceIds: the seller does not sell on {', '.join(foreign)}."
        )
    return ids


def _orders_matching(ctx: Context, spec: dict):
    """The seller's visible orders matching a getOrders/searchOrders query (``spec``)."""
    qs = services.visible_orders(ctx.seller, ctx.now).filter(
        marketplace_id__in=spec["marketplaces"]
    )
    date_field = "purchase_date" if spec["mode"] == "created" else "last_update_date"
    qs = qs.filter(
        **{
            f"{date_field}__gte": parse_iso(spec["start"]),
            f"{date_field}__lte": parse_iso(spec["end"]),
        }
    )
    for key, lookup in (
        ("statuses", "status__in"),
        ("channels", "fulfillment_channel__in"),
        ("payments", "payment_method__in"),
        ("email", "buyer_email__iexact"),
        ("seller_order_id", "seller_order_id"),
        ("ids", "amazon_order_id__in"),
    ):
        if spec.get(key):
            qs = qs.filter(**{lookup: spec[key]})
    return qs


def _page(qs, mode: str, cursor: list | None, size: int) -> tuple[list[AmazonOrder], list | None]:
    field_name = "purchase_date" if mode == "created" else "last_update_date"
    if cursor:
        moment, pk = parse_iso(cursor[0]), cursor[1]
        qs = qs.filter(Q(**{f"{field_name}__gt": moment}) | Q(**{field_name: moment, "id__gt": pk}))
    rows = list(qs.order_by(field_name, "id").prefetch_related("items")[: size + 1])
    if len(rows) > size:
        last = rows[size - 1]
        return rows[:size], [isoformat(getattr(last, field_name)), last.pk]
    return rows, None


def _order_or_404(ctx: Context) -> AmazonOrder:
    order_id = ctx.path_params["orderId"]
    if not ORDER_ID.match(order_id):
        raise invalid_input(f"Invalid order ID: {order_id} (expected the 3-7-7 format).")
    return services.get_order(ctx.seller, order_id, ctx.now)


def _grants(ctx: Context) -> None:
    """Restricted data tokens: only the resources they name; their data elements unlock PII."""
    if ctx.restricted_resources is None:
        return
    elements: set[str] = set()
    granted = False
    for resource in ctx.restricted_resources:
        path = resource.get("path", "")
        if resource.get("method", "GET").upper() != ctx.request.method:
            continue
        if not _path_matches(path, ctx.request.path):
            continue
        granted = True
        elements.update(resource.get("dataElements") or [])
        if path.endswith(("/address", "/buyerInfo")):
            # These resources are restricted as a whole.
            elements.update({render.BUYER_INFO, render.SHIPPING_ADDRESS})
    if not granted:
        raise access_denied("The restricted data token does not grant access to this resource.")
    ctx.pii = frozenset(elements)


def _path_matches(template: str, path: str) -> bool:
    """``/orders/v0/orders/{orderId}`` matches any order's path; a concrete path itself."""
    want, have = template.rstrip("/").split("/"), path.rstrip("/").split("/")
    if len(want) != len(have):
        return False
    return all(
        w == h or (w.startswith("{") and w.endswith("}")) for w, h in zip(want, have, strict=True)
    )


# --- Orders v0 -------------------------------------------------------------------------------


def get_orders(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    r = ctx.request
    token = r.param("NextToken")
    if token:
        spec = _load_token("getOrders", token, "NextToken")
        size = _page_size(ctx, "MaxResultsPerPage", spec["size"])
    else:
        marketplace_ids = _marketplaces(ctx, r.list_param("MarketplaceIds"), required=True)
        mode, start, end = _window(
            ctx, ("CreatedAfter", "CreatedBefore"), ("LastUpdatedAfter", "LastUpdatedBefore")
        )
        statuses = r.list_param("OrderStatuses") or []
        bad = [s for s in statuses if s not in V0_STATUSES]
        if bad:
            raise invalid_input(f"Invalid OrderStatuses: {', '.join(bad)}.")
        channels = r.list_param("FulfillmentChannels") or []
        if any(c not in ("MFN", "AFN") for c in channels):
            raise invalid_input("FulfillmentChannels are AFN or MFN.")
        payments = r.list_param("PaymentMethods") or []
        if any(p not in ("COD", "CVS", "Other") for p in payments):
            raise invalid_input("PaymentMethods are COD, CVS or Other.")
        seller_order_id = r.param("SellerOrderId")
        if seller_order_id and (
            channels or statuses or payments or r.param("BuyerEmail") or mode == "updated"
        ):
            raise invalid_input(
                "If SellerOrderId is specified, FulfillmentChannels, OrderStatuses, "
                "PaymentMethod, LastUpdatedAfter, LastUpdatedBefore and BuyerEmail cannot be "
                "specified."
            )
        order_ids = r.list_param("AmazonOrderIds") or []
        if len(order_ids) > 50:
            raise invalid_input("At most 50 AmazonOrderIds may be given.")
        size = _page_size(ctx, "MaxResultsPerPage")
        spec = {
            "mode": mode,
            "start": isoformat(start),
            "end": isoformat(end),
            "marketplaces": marketplace_ids,
            "statuses": statuses,
            "channels": channels,
            "payments": payments,
            "email": r.param("BuyerEmail") or "",
            "seller_order_id": seller_order_id or "",
            "ids": order_ids,
            "size": size,
            "cursor": None,
        }
    qs = _orders_matching(ctx, spec)
    rows, cursor = _page(qs, spec["mode"], spec["cursor"], size)
    payload: dict[str, Any] = {
        "Orders": [render.v0_order(o, o.items.all(), ctx.pii) for o in rows],
    }
    if cursor:
        payload["NextToken"] = _dump_token("getOrders", {**spec, "cursor": cursor, "size": size})
    payload["CreatedBefore" if spec["mode"] == "created" else "LastUpdatedBefore"] = spec["end"]
    return 200, {"payload": payload}


def get_order(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    order = _order_or_404(ctx)
    return 200, {"payload": render.v0_order(order, order.items.all(), ctx.pii)}


def get_order_items(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    order = _order_or_404(ctx)
    items = list(order.items.all())
    token = ctx.request.param("NextToken")
    start = 0
    if token:
        start = _load_token("getOrderItems", token, "NextToken").get("start", 0)
    page = items[start : start + 100]
    payload: dict[str, Any] = {
        "OrderItems": [render.v0_item(order, item) for item in page],
        "AmazonOrderId": order.amazon_order_id,
    }
    if start + 100 < len(items):
        payload["NextToken"] = _dump_token("getOrderItems", {"start": start + 100})
    return 200, {"payload": payload}


def get_order_address(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    order = _order_or_404(ctx)
    full = render.SHIPPING_ADDRESS in ctx.pii
    payload: dict[str, Any] = {
        "AmazonOrderId": order.amazon_order_id,
        "ShippingAddress": render.v0_address(order, full),
    }
    if full and order.buyer_company_name:
        payload["BuyerCompanyName"] = order.buyer_company_name
    return 200, {"payload": payload}


def get_order_buyer_info(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    order = _order_or_404(ctx)
    info = render.v0_buyer_info(order, render.BUYER_INFO in ctx.pii) or {}
    return 200, {"payload": {"AmazonOrderId": order.amazon_order_id, **info}}


def get_order_items_buyer_info(ctx: Context) -> tuple[int, Any]:
    _grants(ctx)
    order = _order_or_404(ctx)
    items = [{"OrderItemId": i.order_item_id} for i in order.items.all()]
    return 200, {"payload": {"AmazonOrderId": order.amazon_order_id, "OrderItems": items}}


def confirm_shipment(ctx: Context) -> tuple[int, Any]:
    order_id = ctx.path_params["orderId"]
    if not ORDER_ID.match(order_id):
        raise invalid_input(f"Invalid order ID: {order_id} (expected the 3-7-7 format).")
    services.confirm_shipment(ctx.seller, order_id, ctx.request.json(), ctx.now)
    return 204, None


# --- Orders 2026-01-01 -----------------------------------------------------------------------


def _included(ctx: Context) -> frozenset[str]:
    values = ctx.request.list_param("includedData") or []
    bad = [v for v in values if v not in INCLUDED_DATA]
    if bad:
        raise invalid_input(f"Invalid includedData: {', '.join(bad)}.")
    return frozenset(values)


def _render_2026(ctx: Context, orders: list[AmazonOrder], included: frozenset[str]) -> list[dict]:
    packages: dict[int, list[AmazonPackage]] = {}
    if "PACKAGES" in included and orders:
        for p in AmazonPackage.objects.filter(order__in=orders):
            packages.setdefault(p.order_id, []).append(p)
    share = ctx.seller.tax_detail_omitted_share
    return [
        render.order_2026(
            o,
            o.items.all(),
            packages.get(o.pk, []),
            included,
            tax_detail=not render.tax_detail_omitted(o, share),
        )
        for o in orders
    ]


def search_orders(ctx: Context) -> tuple[int, Any]:
    r = ctx.request
    token = r.param("paginationToken")
    included = _included(ctx)
    if token:
        spec = _load_token("searchOrders", token, "paginationToken")
        size = _page_size(ctx, "maxResultsPerPage", spec["size"])
    else:
        marketplace_ids = _marketplaces(ctx, r.list_param("marketplaceIds"), required=False)
        mode, start, end = _window(
            ctx, ("createdAfter", "createdBefore"), ("lastUpdatedAfter", "lastUpdatedBefore")
        )
        statuses = r.list_param("fulfillmentStatuses") or []
        bad = [s for s in statuses if s not in render.STATUS_FROM_FULFILLMENT]
        if bad:
            raise invalid_input(f"Invalid fulfillmentStatuses: {', '.join(bad)}.")
        fulfilled_by = r.list_param("fulfilledBy") or []
        if any(f not in ("MERCHANT", "AMAZON") for f in fulfilled_by):
            raise invalid_input("fulfilledBy values are MERCHANT or AMAZON.")
        size = _page_size(ctx, "maxResultsPerPage")
        spec = {
            "mode": mode,
            "start": isoformat(start),
            "end": isoformat(end),
            "marketplaces": marketplace_ids,
            "statuses": [render.STATUS_FROM_FULFILLMENT[s] for s in statuses],
            "channels": ["AFN" if f == "AMAZON" else "MFN" for f in fulfilled_by],
            "size": size,
            "cursor": None,
        }
    qs = _orders_matching(ctx, spec)
    rows, cursor = _page(qs, spec["mode"], spec["cursor"], size)
    body: dict[str, Any] = {"orders": _render_2026(ctx, rows, included)}
    if cursor:
        body["pagination"] = {
            "nextToken": _dump_token("searchOrders", {**spec, "cursor": cursor, "size": size})
        }
    body["createdBefore" if spec["mode"] == "created" else "lastUpdatedBefore"] = spec["end"]
    return 200, body


def get_order_2026(ctx: Context) -> tuple[int, Any]:
    included = _included(ctx)
    order = services.get_order(ctx.seller, ctx.path_params["orderId"], ctx.now)
    return 200, {"order": _render_2026(ctx, [order], included)[0]}


# --- Feeds 2021-06-30 ------------------------------------------------------------------------


def _feed_json(feed: AmazonFeed) -> dict[str, Any]:
    data: dict[str, Any] = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": isoformat(feed.created_time),
        "processingStatus": feed.status,
    }
    if feed.processing_start_time:
        data["processingStartTime"] = isoformat(feed.processing_start_time)
    if feed.processing_end_time:
        data["processingEndTime"] = isoformat(feed.processing_end_time)
    if feed.result_document_id:
        data["resultFeedDocumentId"] = feed.result_document.document_id
    return data


def _feeds_error(message: str, details: str = "") -> ApiError:
    return ApiError(400, "InvalidInput", message, details)


def create_feed_document(ctx: Context) -> tuple[int, Any]:
    body = ctx.request.json()
    if not isinstance(body, dict) or not body.get("contentType"):
        raise _feeds_error("Invalid input", "contentType is required.")
    document = feeds.create_document(ctx.seller, str(body["contentType"]), ctx.now)
    return 201, {
        "feedDocumentId": document.document_id,
        "url": document_url(ctx.base_url, document.document_id),
    }


def create_feed(ctx: Context) -> tuple[int, Any]:
    body = ctx.request.json()
    if not isinstance(body, dict):
        raise _feeds_error("Invalid input", "The body must be a CreateFeedSpecification.")
    feed_type = body.get("feedType")
    document_id = body.get("inputFeedDocumentId")
    marketplace_ids = body.get("marketplaceIds")
    if not feed_type or not document_id or not marketplace_ids:
        raise _feeds_error(
            "Invalid input", "feedType, marketplaceIds and inputFeedDocumentId are required."
        )
    if not isinstance(marketplace_ids, list) or not 1 <= len(marketplace_ids) <= 25:
        raise _feeds_error("Invalid input", "marketplaceIds must list 1 to 25 marketplaces.")
    _marketplaces(ctx, [str(m) for m in marketplace_ids], required=True)
    if feed_type not in feeds.SUPPORTED_FEED_TYPES:
        raise _feeds_error(
            "Invalid input",
            f"Feed type {feed_type} is not supported by the emulator (supported: "
            f"{', '.join(sorted(feeds.SUPPORTED_FEED_TYPES))}).",
        )
    document = AmazonFeedDocument.objects.filter(
        seller=ctx.seller, document_id=document_id, is_result=False
    ).first()
    if document is None:
        raise _feeds_error("Invalid input", f"Unknown inputFeedDocumentId {document_id}.")
    feed = feeds.create_feed(
        ctx.seller,
        feed_type=feed_type,
        marketplace_ids=[str(m) for m in marketplace_ids],
        document=document,
        feed_options=body.get("feedOptions"),
        now=ctx.now,
        state=ctx.state,
    )
    return 202, {"feedId": feed.feed_id}


def _feed_or_404(ctx: Context) -> AmazonFeed:
    feed = (
        AmazonFeed.objects.filter(seller=ctx.seller, feed_id=ctx.path_params["feedId"])
        .select_related("result_document")
        .first()
    )
    if feed is None:
        raise not_found(f"Feed {ctx.path_params['feedId']} was not found.")
    return feed


def get_feed(ctx: Context) -> tuple[int, Any]:
    return 200, _feed_json(_feed_or_404(ctx))


def cancel_feed(ctx: Context) -> tuple[int, Any]:
    feed = _feed_or_404(ctx)
    updated = AmazonFeed.objects.filter(pk=feed.pk, status="IN_QUEUE").update(
        status="CANCELLED", processing_end_time=ctx.now
    )
    if not updated:
        raise _feeds_error(
            "Invalid input",
            f"Feed {feed.feed_id} is {feed.status}; only IN_QUEUE can be cancelled.",
        )
    return 200, None


def get_feeds(ctx: Context) -> tuple[int, Any]:
    r = ctx.request
    token = r.param("nextToken")
    if token:
        spec = _load_token("getFeeds", token, "nextToken")
    else:
        feed_types = r.list_param("feedTypes")
        if not feed_types:
            raise _feeds_error("Invalid input", "Either feedTypes or nextToken is required.")
        statuses = r.list_param("processingStatuses") or []
        if any(s not in FEED_STATUSES for s in statuses):
            raise _feeds_error("Invalid input", "Invalid processingStatuses.")
        since = _date(ctx, "createdSince") or ctx.now - timedelta(days=90)
        until = _date(ctx, "createdUntil") or ctx.now
        spec = {
            "types": feed_types,
            "statuses": statuses,
            "marketplaces": r.list_param("marketplaceIds") or [],
            "since": isoformat(since),
            "until": isoformat(until),
            "size": _page_size(ctx, "pageSize", 10),
            "offset": 0,
        }
    qs = AmazonFeed.objects.filter(
        seller=ctx.seller,
        feed_type__in=spec["types"],
        created_time__gte=parse_iso(spec["since"]),
        created_time__lte=parse_iso(spec["until"]),
    ).select_related("result_document")
    if spec["statuses"]:
        qs = qs.filter(status__in=spec["statuses"])
    rows = list(
        qs.order_by("-created_time", "-id")[spec["offset"] : spec["offset"] + spec["size"] + 1]
    )
    if spec["marketplaces"]:
        rows = [f for f in rows if set(f.marketplace_ids) & set(spec["marketplaces"])]
    body: dict[str, Any] = {"feeds": [_feed_json(f) for f in rows[: spec["size"]]]}
    if len(rows) > spec["size"]:
        body["nextToken"] = _dump_token(
            "getFeeds", {**spec, "offset": spec["offset"] + spec["size"]}
        )
    return 200, body


def get_feed_document(ctx: Context) -> tuple[int, Any]:
    document = AmazonFeedDocument.objects.filter(
        seller=ctx.seller, document_id=ctx.path_params["feedDocumentId"]
    ).first()
    if document is None:
        raise not_found(f"Feed document {ctx.path_params['feedDocumentId']} was not found.")
    return 200, {
        "feedDocumentId": document.document_id,
        "url": document_url(ctx.base_url, document.document_id),
    }


DOCUMENT_SALT = "sandbox.amazon.document"
DOCUMENT_URL_SECONDS = 300


def document_url(base_url: str, document_id: str) -> str:
    """A "presigned" URL on the emulator itself, valid for five minutes (real time)."""
    signature = signing.TimestampSigner(salt=DOCUMENT_SALT).sign(document_id).split(":", 1)[1]
    return f"{base_url}/_sandbox/documents/{document_id}?sig={signature}"


def check_document_signature(document_id: str, signature: str) -> bool:
    try:
        signing.TimestampSigner(salt=DOCUMENT_SALT).unsign(
            f"{document_id}:{signature}", max_age=DOCUMENT_URL_SECONDS
        )
    except signing.BadSignature:
        return False
    return True


# --- Finances v0 -----------------------------------------------------------------------------


def _events_for(orders: list[AmazonOrder], start=None, end=None) -> dict[str, list]:
    shipments, refunds = [], []
    for order in orders:
        items = {i.order_item_id: i for i in order.items.all()}
        for package in order.packages.all():
            if (start and package.created_at < start) or (end and package.created_at > end):
                continue
            shipments.append((package.created_at, render.shipment_event(order, package, items)))
        adjustments = [
            a
            for a in AmazonAdjustment.objects.filter(order=order).select_related("item")
            if not ((start and a.posted_date < start) or (end and a.posted_date > end))
        ]
        for event in render.refund_events(order, adjustments):
            refunds.append((event["PostedDate"], event))
    shipments.sort(key=lambda e: str(e[0]))
    refunds.sort(key=lambda e: str(e[0]))
    return {
        "ShipmentEventList": [e for _, e in shipments],
        "RefundEventList": [e for _, e in refunds],
        "GuaranteeClaimEventList": [],
        "ChargebackEventList": [],
        "ServiceFeeEventList": [],
        "AdjustmentEventList": [],
    }


def list_financial_events_by_order_id(ctx: Context) -> tuple[int, Any]:
    order_id = ctx.path_params["orderId"]
    if not ORDER_ID.match(order_id):
        raise invalid_input("Bad order ID provided.")
    _page_size(ctx, "MaxResultsPerPage")
    orders = list(
        services.visible_orders(ctx.seller, ctx.now)
        .filter(amazon_order_id=order_id)
        .prefetch_related("items", "packages")
    )
    return 200, {"payload": {"FinancialEvents": _events_for(orders)}}


def list_financial_events(ctx: Context) -> tuple[int, Any]:
    r = ctx.request
    token = r.param("NextToken")
    if token:
        spec = _load_token("listFinancialEvents", token, "NextToken")
    else:
        start = _date(ctx, "PostedAfter")
        if start is None:
            raise invalid_input("PostedAfter is required.")
        end = _date(ctx, "PostedBefore") or ctx.now - timedelta(minutes=2)
        if end > ctx.now - timedelta(minutes=2):
            raise invalid_input("PostedBefore must be at least two minutes before now.")
        if end < start:
            raise invalid_input("PostedBefore must be after PostedAfter.")
        spec = {
            "start": isoformat(start),
            "end": isoformat(end),
            "size": _page_size(ctx, "MaxResultsPerPage"),
            "offset": 0,
        }
    start, end = parse_iso(spec["start"]), parse_iso(spec["end"])
    order_ids = set(
        AmazonPackage.objects.filter(
            order__seller=ctx.seller, created_at__gte=start, created_at__lte=end
        ).values_list("order_id", flat=True)
    ) | set(
        AmazonAdjustment.objects.filter(
            order__seller=ctx.seller, posted_date__gte=start, posted_date__lte=end
        ).values_list("order_id", flat=True)
    )
    ids = sorted(order_ids)[spec["offset"] : spec["offset"] + spec["size"] + 1]
    orders = list(
        AmazonOrder.objects.filter(pk__in=ids[: spec["size"]]).prefetch_related("items", "packages")
    )
    payload: dict[str, Any] = {"FinancialEvents": _events_for(orders, start, end)}
    if len(ids) > spec["size"]:
        payload["NextToken"] = _dump_token(
            "listFinancialEvents", {**spec, "offset": spec["offset"] + spec["size"]}
        )
    return 200, {"payload": payload}


# --- Tokens 2021-03-01 -----------------------------------------------------------------------


def create_restricted_data_token(ctx: Context) -> tuple[int, Any]:
    if ctx.restricted_resources is not None:
        raise access_denied("A restricted data token cannot create another one.")
    body = ctx.request.json()
    resources = body.get("restrictedResources") if isinstance(body, dict) else None
    if not isinstance(resources, list) or not resources:
        raise invalid_input("restrictedResources is required.")
    clean = []
    for resource in resources:
        if not isinstance(resource, dict):
            raise invalid_input("Each restricted resource is an object.")
        method = str(resource.get("method", "")).upper()
        path = str(resource.get("path", ""))
        if method != "GET":
            raise invalid_input(f"Unsupported method for a restricted resource: {method}.")
        if not any(_path_matches(t, path) for t in RESTRICTED_PATHS):
            raise invalid_input(f"{path} is not a restricted resource.")
        elements = resource.get("dataElements") or []
        if any(e not in RESTRICTED_ELEMENTS for e in elements):
            raise invalid_input(f"Invalid dataElements: {elements}.")
        clean.append({"method": method, "path": path, "dataElements": list(elements)})
    token, ttl = services.issue_restricted_data_token(ctx.seller, clean, ctx.client_id)
    return 200, {"restrictedDataToken": token, "expiresIn": ttl}


# --- Notifications v1 ------------------------------------------------------------------------


def get_subscription(ctx: Context) -> tuple[int, Any]:
    subscription = notifications.get_subscription(ctx.seller, ctx.path_params["notificationType"])
    return 200, {"payload": notifications.subscription_json(subscription)}


def create_subscription(ctx: Context) -> tuple[int, Any]:
    subscription = notifications.create_subscription(
        ctx.seller,
        ctx.path_params["notificationType"],
        ctx.request.json(),
        ctx.now,
        client_id=ctx.client_id,
    )
    return 200, {"payload": notifications.subscription_json(subscription)}


def get_subscription_by_id(ctx: Context) -> tuple[int, Any]:
    subscription = notifications.subscription_by_id(
        ctx.seller, ctx.path_params["notificationType"], ctx.path_params["subscriptionId"]
    )
    return 200, {"payload": notifications.subscription_json(subscription)}


def delete_subscription_by_id(ctx: Context) -> tuple[int, Any]:
    notifications.delete_subscription(
        ctx.seller,
        ctx.client_id,
        ctx.path_params["notificationType"],
        ctx.path_params["subscriptionId"],
    )
    return 200, {}


def get_destinations(ctx: Context) -> tuple[int, Any]:
    found = notifications.destinations(ctx.client_id)
    return 200, {"payload": [notifications.destination_json(d) for d in found]}


def create_destination(ctx: Context) -> tuple[int, Any]:
    destination = notifications.create_destination(ctx.client_id, ctx.request.json())
    return 200, {"payload": notifications.destination_json(destination)}


def get_destination(ctx: Context) -> tuple[int, Any]:
    destination = notifications.get_destination(ctx.client_id, ctx.path_params["destinationId"])
    return 200, {"payload": notifications.destination_json(destination)}


def delete_destination(ctx: Context) -> tuple[int, Any]:
    destination = notifications.get_destination(ctx.client_id, ctx.path_params["destinationId"])
    destination.delete()
    return 200, {}


HANDLERS: dict[str, Handler] = {
    "getOrders": get_orders,
    "getOrder": get_order,
    "getOrderItems": get_order_items,
    "getOrderAddress": get_order_address,
    "getOrderBuyerInfo": get_order_buyer_info,
    "getOrderItemsBuyerInfo": get_order_items_buyer_info,
    "confirmShipment": confirm_shipment,
    "searchOrders": search_orders,
    "getOrder2026": get_order_2026,
    "createFeedDocument": create_feed_document,
    "createFeed": create_feed,
    "getFeed": get_feed,
    "getFeeds": get_feeds,
    "cancelFeed": cancel_feed,
    "getFeedDocument": get_feed_document,
    "listFinancialEventsByOrderId": list_financial_events_by_order_id,
    "listFinancialEvents": list_financial_events,
    "createRestrictedDataToken": create_restricted_data_token,
    "getSubscription": get_subscription,
    "createSubscription": create_subscription,
    "getSubscriptionById": get_subscription_by_id,
    "deleteSubscriptionById": delete_subscription_by_id,
    "getDestinations": get_destinations,
    "createDestination": create_destination,
    "getDestination": get_destination,
    "deleteDestination": delete_destination,
}
