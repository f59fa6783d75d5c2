"""State changes of the emulator. Every write locks the seller's row first, so one seller's
changes (API calls, scheduled events, feeds, control calls) are serialised; different sellers
proceed in parallel."""

from __future__ import annotations

import secrets
import string
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core import signing
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q, QuerySet, Sum

from sandbox.amazon import (
    feeds,  # feeds use this module's actions
    generator,
    lifecycle,
    marketplaces,
)
from sandbox.amazon.clock import parse_iso
from sandbox.amazon.errors import ApiError, ControlError, access_denied, invalid_input, not_found
from sandbox.amazon.models import (
    AmazonAdjustment,
    AmazonFeed,
    AmazonOrder,
    AmazonOrderItem,
    AmazonPackage,
    AmazonSeller,
)

DEFAULT_SELLER_ID = "A2KEELSONSANDBOX"
DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.keelsonsandbox00000000000000000"
# Public, emulator-only credentials of the default seller (never valid on Amazon).
DEFAULT_CLIENT_SECRET = "amzn1.oa2-cs.v1.keelson-sandbox-client-secret-not-a-real-one"  # noqa: S105
DEFAULT_REFRESH_TOKEN = "Atzr|keelson-sandbox-default-seller-refresh-token"  # noqa: S105

TOKEN_SALT = "sandbox.amazon.token"  # noqa: S105 (a signing salt)
ACCESS_PREFIX = "Atza|"
GRANTLESS_PREFIX = "Atc|"
GRANTLESS_SCOPES = ("sellingpartnerapi::notifications",)
RDT_PREFIX = "Atz.sprdt|"


# --- sellers and tokens ----------------------------------------------------------------------


def _random_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def create_seller(
    *,
    selling_partner_id: str | None = None,
    name: str = "",
    marketplace_ids: list[str] | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    token_ttl_seconds: int = 3600,
    auto_cancel_days: int = 30,
    rate_limit_overrides: dict | None = None,
    tax_detail_omitted_share: float = 0.0,
) -> AmazonSeller:
    marketplace_ids = list(marketplace_ids or marketplaces.DEFAULT_MARKETPLACE_IDS)
    unknown = [m for m in marketplace_ids if m not in marketplaces.MARKETPLACES]
    if unknown:
        raise ControlError(400, "unknown_marketplace", f"unknown marketplace ids: {unknown}")
    if token_ttl_seconds < 1 or auto_cancel_days < 1:
        raise ControlError(400, "invalid", "token_ttl_seconds and auto_cancel_days must be > 0")
    _check_share(tax_detail_omitted_share)
    try:
        with transaction.atomic():
            return AmazonSeller.objects.create(
                selling_partner_id=selling_partner_id or _random_id("A", 13),
                name=name,
                client_id=client_id or DEFAULT_CLIENT_ID,
                client_secret=client_secret or DEFAULT_CLIENT_SECRET,
                refresh_token=refresh_token or "Atzr|" + secrets.token_urlsafe(48),
                marketplace_ids=marketplace_ids,
                token_ttl_seconds=token_ttl_seconds,
                auto_cancel_days=auto_cancel_days,
                rate_limit_overrides=rate_limit_overrides or {},
                tax_detail_omitted_share=tax_detail_omitted_share,
            )
    except IntegrityError as exc:
        raise ControlError(
            409, "seller_exists", "a seller with this id or refresh token exists"
        ) from exc


def _check_share(value: float) -> None:
    if not 0 <= value <= 1:
        raise ControlError(400, "invalid", "tax_detail_omitted_share must be between 0 and 1")


def update_seller(seller: AmazonSeller, data: dict) -> AmazonSeller:
    """Change a seller's emulation settings (``tax_detail_omitted_share``)."""
    fields = []
    if "tax_detail_omitted_share" in data:
        try:
            share = float(data["tax_detail_omitted_share"])
        except (TypeError, ValueError) as exc:
            raise ControlError(400, "invalid", "tax_detail_omitted_share is a number") from exc
        _check_share(share)
        seller.tax_detail_omitted_share = share
        fields.append("tax_detail_omitted_share")
    if fields:
        seller.save(update_fields=fields)
    return seller


def ensure_default_seller() -> AmazonSeller:
    seller = AmazonSeller.objects.filter(selling_partner_id=DEFAULT_SELLER_ID).first()
    if seller:
        return seller
    try:
        return create_seller(
            selling_partner_id=DEFAULT_SELLER_ID,
            name="Keelson sandbox seller",
            refresh_token=DEFAULT_REFRESH_TOKEN,
        )
    except ControlError:
        return AmazonSeller.objects.get(selling_partner_id=DEFAULT_SELLER_ID)


def revoke_tokens(seller: AmazonSeller) -> None:
    AmazonSeller.objects.filter(pk=seller.pk).update(token_generation=seller.token_generation + 1)
    seller.token_generation += 1


def _sign(payload: dict) -> str:
    return signing.Signer(salt=TOKEN_SALT).sign_object(payload, compress=True)


def issue_access_token(seller: AmazonSeller, client_id: str = "") -> tuple[str, int]:
    """A seller's access token. ``client_id``: the application the seller authorized, when
    the token comes from an authorization (``authorization.py``); else the seller's own client.
    Either way it carries the seller's token generation, so ``revoke_tokens`` ends it."""
    ttl = seller.token_ttl_seconds
    payload = {
        "s": seller.selling_partner_id,
        "g": seller.token_generation,
        "e": int(time.time()) + ttl,
    }
    if client_id and client_id != seller.client_id:
        payload["c"] = client_id
    return ACCESS_PREFIX + _sign(payload), ttl


def issue_restricted_data_token(
    seller: AmazonSeller, resources: list[dict], client_id: str = ""
) -> tuple[str, int]:
    ttl = min(3600, seller.token_ttl_seconds)
    payload = {
        "s": seller.selling_partner_id,
        "g": seller.token_generation,
        "e": int(time.time()) + ttl,
        "r": resources,
    }
    if client_id and client_id != seller.client_id:
        payload["c"] = client_id
    return RDT_PREFIX + _sign(payload), ttl


def issue_grantless_token(client_id: str, scope: str, ttl: int = 3600) -> tuple[str, int]:
    """An application's token for grantless operations (no seller behind it)."""
    payload = {"c": client_id, "sc": scope, "e": int(time.time()) + ttl}
    return GRANTLESS_PREFIX + _sign(payload), ttl


@dataclass
class Caller:
    seller: AmazonSeller | None  # None for an application's grantless token
    restricted_resources: list[dict] | None = None  # set when the token is an RDT
    client_id: str = ""  # the application: the seller's LWA client, or the grantless caller

    @property
    def key(self) -> str:
        """Whose rate limits and faults apply: the seller's, or the application's."""
        return self.seller.selling_partner_id if self.seller else self.client_id


def authenticate(token: str | None) -> Caller:
    """The seller behind an ``x-amz-access-token``; 403 in Amazon's words otherwise."""
    if not token:
        raise access_denied("No access token was provided in the request.")
    if token.startswith(GRANTLESS_PREFIX):
        try:
            grant = signing.Signer(salt=TOKEN_SALT).unsign_object(token[len(GRANTLESS_PREFIX) :])
        except signing.BadSignature as exc:
            raise access_denied(
                "The access token you provided is revoked, malformed or invalid."
            ) from exc
        if grant.get("e", 0) < time.time():
            raise access_denied("The access token you provided has expired.")
        return Caller(None, client_id=grant["c"])
    if token.startswith(ACCESS_PREFIX):
        raw, restricted = token[len(ACCESS_PREFIX) :], False
    elif token.startswith(RDT_PREFIX):
        raw, restricted = token[len(RDT_PREFIX) :], True
    else:
        raise access_denied("The access token you provided is revoked, malformed or invalid.")
    try:
        payload = signing.Signer(salt=TOKEN_SALT).unsign_object(raw)
    except signing.BadSignature as exc:
        raise access_denied(
            "The access token you provided is revoked, malformed or invalid."
        ) from exc
    if payload.get("e", 0) < time.time():
        raise access_denied("The access token you provided has expired.")
    # Keyed by selling partner id, so a seller re-created with the same id and refresh token
    # (a restarted demo, a fresh test database) accepts the tokens clients have cached.
    seller = AmazonSeller.objects.filter(selling_partner_id=payload.get("s")).first()
    if seller is None or seller.token_generation != payload.get("g"):
        raise access_denied("The access token you provided is revoked, malformed or invalid.")
    return Caller(
        seller,
        payload.get("r") if restricted else None,
        client_id=payload.get("c") or seller.client_id,
    )


def exchange_refresh_token(form: dict[str, str]) -> tuple[int, dict]:
    """``POST /auth/o2/token`` (Login with Amazon): status and body."""
    grant_type = form.get("grant_type", "")
    if not grant_type:
        return 400, {
            "error": "invalid_request",
            "error_description": "The request is missing a required parameter : grant_type",
        }
    if grant_type == "client_credentials":
        return _client_credentials(form)
    if grant_type != "refresh_token":
        return 400, {
            "error": "unsupported_grant_type",
            "error_description": f"The authorization grant type is not supported: {grant_type}",
        }
    for name in ("client_id", "client_secret", "refresh_token"):
        if not form.get(name):
            return 400, {
                "error": "invalid_request",
                "error_description": f"The request is missing a required parameter : {name}",
            }
    client = AmazonSeller.objects.filter(
        client_id=form["client_id"], client_secret=form["client_secret"]
    ).exists()
    if not client:
        return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
    seller = AmazonSeller.objects.filter(
        refresh_token=form["refresh_token"], client_id=form["client_id"]
    ).first()
    if seller is None:
        return 400, {
            "error": "invalid_grant",
            "error_description": "The request has an invalid grant parameter : refresh_token",
        }
    token, ttl = issue_access_token(seller)
    return 200, {
        "access_token": token,
        "refresh_token": seller.refresh_token,
        "token_type": "bearer",
        "expires_in": ttl,
    }


def _client_credentials(form: dict[str, str]) -> tuple[int, dict]:
    """The grantless flow: an application's own token, for one scope."""
    for name in ("client_id", "client_secret", "scope"):
        if not form.get(name):
            return 400, {
                "error": "invalid_request",
                "error_description": f"The request is missing a required parameter : {name}",
            }
    if form["scope"] not in GRANTLESS_SCOPES:
        return 400, {
            "error": "invalid_scope",
            "error_description": "The request has an invalid parameter : scope",
        }
    client = AmazonSeller.objects.filter(
        client_id=form["client_id"], client_secret=form["client_secret"]
    ).exists()
    if not client:
        return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
    token, ttl = issue_grantless_token(form["client_id"], form["scope"])
    return 200, {
        "access_token": token,
        "scope": form["scope"],
        "token_type": "bearer",
        "expires_in": ttl,
    }


# --- reading ---------------------------------------------------------------------------------


def visible_orders(seller: AmazonSeller, now: datetime) -> QuerySet[AmazonOrder]:
    """Orders placed by ``now``: an order generated with a future purchase date appears when
    the clock reaches it."""
    return AmazonOrder.objects.filter(seller=seller, purchase_date__lte=now)


def get_order(seller: AmazonSeller, amazon_order_id: str, now: datetime) -> AmazonOrder:
    order = visible_orders(seller, now).filter(amazon_order_id=amazon_order_id).first()
    if order is None:
        raise not_found(f"Order {amazon_order_id} was not found.")
    return order


# --- catching up with scheduled events -------------------------------------------------------


def anything_due(seller_id: int, now: datetime) -> bool:
    if AmazonOrder.objects.filter(seller_id=seller_id, next_event_at__lte=now).exists():
        return True
    return (
        AmazonFeed.objects.filter(seller_id=seller_id)
        .filter(Q(status="IN_QUEUE", start_at__lte=now) | Q(status="IN_PROGRESS", end_at__lte=now))
        .exists()
    )


def catch_up(seller_id: int, now: datetime) -> None:
    """Play everything scheduled up to ``now`` for one seller (orders' scripts, feeds)."""
    if not anything_due(seller_id, now):
        return
    with transaction.atomic():
        seller = AmazonSeller.objects.select_for_update().get(pk=seller_id)
        catch_up_locked(seller, now)


def catch_up_locked(seller: AmazonSeller, now: datetime) -> None:

    due_feeds = list(
        AmazonFeed.objects.filter(seller=seller, status__in=("IN_QUEUE", "IN_PROGRESS"))
        .filter(Q(start_at__lte=now) | Q(end_at__lte=now))
        .order_by("end_at", "id")
    )
    for feed in due_feeds:
        if feed.end_at <= now:
            play_order_events(seller, feed.end_at)
            feeds.complete(feed)
        elif feed.status == "IN_QUEUE":
            feed.status = "IN_PROGRESS"
            feed.processing_start_time = feed.start_at
            feed.save(update_fields=["status", "processing_start_time"])
    play_order_events(seller, now)


def play_order_events(seller: AmazonSeller, until: datetime, batch_size: int = 1000) -> int:
    played = 0
    while True:
        batch = list(
            AmazonOrder.objects.filter(seller=seller, next_event_at__lte=until)
            .order_by("next_event_at", "id")
            .prefetch_related("items")[:batch_size]
        )
        if not batch:
            return played
        outcome = lifecycle.Outcome()
        items = []
        for order in batch:
            order._items = list(order.items.all())  # type: ignore[attr-defined]
            lifecycle.apply_due(order, until, outcome)
            items.extend(order._items)  # type: ignore[attr-defined]
        fast_update(AmazonOrder, batch, lifecycle.ORDER_FIELDS_CHANGED_BY_EVENTS)
        fast_update(AmazonOrderItem, items, lifecycle.ITEM_FIELDS_CHANGED_BY_EVENTS)
        AmazonPackage.objects.bulk_create(outcome.packages)
        played += len(batch)


def fast_update(model, objs: list, fields: list[str], batch_size: int = 1000) -> None:
    """``UPDATE ... FROM (VALUES ...)``: Django's ``bulk_update`` builds a CASE expression per
    row and field, which is far too slow for thousands of orders."""
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in [pk, *columns]) + ")"
    names = ", ".join(f'"{f.column}"' for f in [pk, *columns])
    assignments = ", ".join(f'"{f.column}" = v."{f.column}"' for f in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params: list[Any] = []
            for obj in chunk:
                params.append(obj.pk)
                params.extend(
                    f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns
                )
            cursor.execute(
                f'UPDATE "{meta.db_table}" AS t SET {assignments} '
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v({names}) "
                f'WHERE t."{pk.column}" = v."{pk.column}"',
                params,
            )


def catch_up_all(now: datetime) -> None:
    """After the clock moves: bring every seller up to date."""
    seller_ids = set(
        AmazonOrder.objects.filter(next_event_at__lte=now).values_list("seller_id", flat=True)
    )
    seller_ids |= set(
        AmazonFeed.objects.filter(status__in=("IN_QUEUE", "IN_PROGRESS"), start_at__lte=now)
        .values_list("seller_id", flat=True)
        .distinct()
    )
    for seller_id in sorted(seller_ids):
        catch_up(seller_id, now)


# --- creating orders -------------------------------------------------------------------------

ORDER_SPEC_FIELDS = {
    f.name
    for f in AmazonOrder._meta.get_fields()
    if f.concrete and f.name not in ("id", "seller", "status", "last_update_date")
}
ITEM_SPEC_FIELDS = {
    f.name for f in AmazonOrderItem._meta.get_fields() if f.concrete and f.name not in ("id",)
}


def create_orders(
    seller: AmazonSeller, specs: list[dict[str, Any]], now: datetime
) -> list[AmazonOrder]:
    """Insert orders from specs (``generator`` output or ``order_spec_from_request``)."""
    with transaction.atomic():
        seller = AmazonSeller.objects.select_for_update().get(pk=seller.pk)
        catch_up_locked(seller, now)
        ids = [s["amazon_order_id"] for s in specs]
        if len(set(ids)) != len(ids):
            raise ControlError(409, "duplicate_order", "duplicate AmazonOrderId in the batch")
        existing = list(
            AmazonOrder.objects.filter(seller=seller, amazon_order_id__in=ids).values_list(
                "amazon_order_id", flat=True
            )[:5]
        )
        if existing:
            raise ControlError(
                409, "order_exists", f"orders already exist for this seller: {existing}"
            )
        orders, items_by_order = [], []
        for spec in specs:
            order = AmazonOrder(
                seller=seller,
                status="Pending",
                last_update_date=spec["purchase_date"],
                **{k: v for k, v in spec.items() if k in ORDER_SPEC_FIELDS},
            )
            lifecycle.refresh_next_event(order)
            orders.append(order)
            items_by_order.append(spec["items"])
        AmazonOrder.objects.bulk_create(orders, batch_size=500)
        items = [
            AmazonOrderItem(order=order, **{k: v for k, v in item.items() if k in ITEM_SPEC_FIELDS})
            for order, order_items in zip(orders, items_by_order, strict=True)
            for item in order_items
        ]
        AmazonOrderItem.objects.bulk_create(items, batch_size=1000)
        catch_up_locked(seller, now)
    return orders


def _decimal(value: Any, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ControlError(400, "invalid", f"{what}: not a number: {value!r}") from exc
    if amount < 0:
        raise ControlError(400, "invalid", f"{what} must not be negative")
    return amount


def order_spec_from_request(
    seller: AmazonSeller, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A spec for one order placed through the control API (explicit items and options)."""
    import random

    marketplace_id = data.get("marketplace_id") or seller.marketplace_ids[0]
    if marketplace_id not in seller.marketplace_ids:
        raise ControlError(400, "invalid", f"seller does not sell on {marketplace_id}")
    market = marketplaces.MARKETPLACES[marketplace_id]
    currency = data.get("currency") or market.currency
    rng = random.Random(data.get("seed") or secrets.token_hex(8))
    purchase = now
    if data.get("purchase_date"):
        purchase = parse_iso(data["purchase_date"]).replace(microsecond=0)
    channel = data.get("fulfillment_channel", "MFN")
    if channel not in ("MFN", "AFN"):
        raise ControlError(400, "invalid", "fulfillment_channel is MFN or AFN")
    raw_items = data.get("items") or [{"quantity": 1}]
    items = []
    for position, raw in enumerate(raw_items):
        product = generator.PRODUCTS[rng.randrange(len(generator.PRODUCTS))]
        quantity = int(raw.get("quantity", 1))
        if quantity < 1:
            raise ControlError(400, "invalid", "quantity must be at least 1")
        if "unit_price" in raw:
            unit = _decimal(raw["unit_price"], "unit_price")
        else:
            unit = generator.local_price(Decimal(product[3]), market)
        if not marketplaces.amount_has_valid_precision(unit, currency):
            raise ControlError(400, "invalid", f"{unit} has too many decimals for {currency}")
        price = unit * quantity
        shipping = _decimal(raw.get("shipping_price", 0), "shipping_price")
        items.append(
            {
                "order_item_id": raw.get("order_item_id") or generator.digits(rng, 14),
                "position": position,
                "asin": raw.get("asin") or product[0],
                "seller_sku": raw.get("seller_sku") or raw.get("sku") or product[1],
                "title": raw.get("title") or product[2],
                "quantity_ordered": quantity,
                "item_price": price,
                "item_tax": _decimal(raw["item_tax"], "item_tax")
                if "item_tax" in raw
                else generator.tax_for(price, market),
                "shipping_price": shipping,
                "shipping_tax": _decimal(raw["shipping_tax"], "shipping_tax")
                if "shipping_tax" in raw
                else generator.tax_for(shipping, market),
                "promotion_discount": _decimal(raw.get("promotion_discount", 0), "discount"),
                "is_gift": bool(raw.get("is_gift", False)),
            }
        )
    pending_minutes = data.get("pending_minutes", 30)
    pending_until = purchase + timedelta(minutes=float(pending_minutes))
    outcome = data.get("pending_outcome", "Unshipped")
    if outcome not in ("Unshipped", "Canceled"):
        raise ControlError(400, "invalid", "pending_outcome is Unshipped or Canceled")
    buyer_cancel_at = None
    if data.get("buyer_cancel_after_minutes") is not None:
        buyer_cancel_at = pending_until + timedelta(
            minutes=float(data["buyer_cancel_after_minutes"])
        )
    afn_ship_at = None
    if channel == "AFN":
        afn_ship_at = pending_until + timedelta(
            minutes=float(data.get("afn_ship_after_minutes", 240))
        )
    prime = bool(data.get("is_prime", channel == "AFN"))
    business = bool(data.get("is_business_order", False))
    who = generator.buyer(rng, market, business)
    if data.get("shipping_address"):
        who["shipping_address"] = {**who["shipping_address"], **data["shipping_address"]}
    if data.get("buyer_name"):
        who["buyer_name"] = data["buyer_name"]
    latest_ship = purchase + timedelta(days=int(data.get("handling_days", 2)))
    spec = {
        "amazon_order_id": data.get("amazon_order_id") or generator.amazon_order_id(rng, market),
        "seller_order_id": data.get("seller_order_id", ""),
        "marketplace_id": marketplace_id,
        "currency": currency,
        "fulfillment_channel": channel,
        "purchase_date": purchase,
        "ship_service_level": data.get(
            "ship_service_level", f"{'Exp' if prime else 'Std'} {market.country} D2D Dom"
        ),
        "shipment_service_level_category": "Expedited" if prime else "Standard",
        "payment_method": data.get("payment_method", "Other"),
        "payment_method_details": ["Standard"],
        "is_business_order": business,
        "is_prime": prime,
        "is_premium_order": bool(data.get("is_premium_order", False)),
        "earliest_ship_date": purchase,
        "latest_ship_date": latest_ship,
        "earliest_delivery_date": latest_ship + timedelta(days=1),
        "latest_delivery_date": latest_ship + timedelta(days=4),
        "pending_until": pending_until,
        "pending_outcome": outcome,
        "buyer_cancel_at": buyer_cancel_at,
        "buyer_cancel_reason": data.get("buyer_cancel_reason", "No longer needed."),
        "afn_ship_at": afn_ship_at,
        "auto_cancel_at": None
        if channel == "AFN"
        else purchase + timedelta(days=seller.auto_cancel_days),
        "items": items,
        **who,
    }
    return spec


# --- seller actions --------------------------------------------------------------------------


def _locked(seller: AmazonSeller, now: datetime) -> AmazonSeller:
    """Lock the seller (inside a transaction) and play what is due first."""
    locked = AmazonSeller.objects.select_for_update().get(pk=seller.pk)
    catch_up_locked(locked, now)
    return locked


def _load_order(seller: AmazonSeller, amazon_order_id: str, now: datetime) -> AmazonOrder:
    order = get_order(seller, amazon_order_id, now)
    order._items = list(order.items.all())  # type: ignore[attr-defined]
    return order


def _save(order: AmazonOrder) -> None:
    order.save()
    for item in lifecycle.order_items(order):
        item.save()


def confirm_shipment(seller: AmazonSeller, amazon_order_id: str, body: Any, now: datetime) -> None:
    """confirmShipment: validate, record the package, mark its items shipped (A6, A7)."""

    if not isinstance(body, dict):
        raise invalid_input("The request body must be a JSON object.")
    package = body.get("packageDetail")
    if not body.get("marketplaceId") or not isinstance(package, dict):
        raise invalid_input("Missing required fields: marketplaceId, packageDetail.")
    missing = [
        k
        for k in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
        if package.get(k) in (None, "", [])
    ]
    if missing:
        raise invalid_input(f"Missing required packageDetail fields: {', '.join(missing)}.")
    try:
        ship_date = parse_iso(str(package["shipDate"])).replace(microsecond=0)
    except ValueError as exc:
        raise invalid_input(
            "Invalid Input", f"shipDate is not an ISO 8601 date-time: {package['shipDate']}"
        ) from exc
    wanted: dict[str, int] = defaultdict(int)
    if not isinstance(package["orderItems"], list):
        raise invalid_input("packageDetail.orderItems must be a list.")
    for line in package["orderItems"]:
        if not isinstance(line, dict) or not line.get("orderItemId"):
            raise invalid_input("Each order item needs an orderItemId.")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid_input(f"Invalid quantity for order item {line['orderItemId']}.")
        wanted[str(line["orderItemId"])] += quantity
    reference = str(package["packageReferenceId"])
    with transaction.atomic():
        _locked(seller, now)
        order = _load_order(seller, amazon_order_id, now)
        if body["marketplaceId"] != order.marketplace_id:
            raise invalid_input(
                f"Order {amazon_order_id} does not belong to marketplace {body['marketplaceId']}."
            )
        if order.fulfillment_channel == "AFN":
            raise invalid_input("Orders fulfilled by Amazon (AFN) cannot be confirmed.")
        items = {i.order_item_id: i for i in lifecycle.order_items(order)}
        unknown = sorted(set(wanted) - set(items))
        if unknown:
            raise invalid_input(f"Order items not found in order {amazon_order_id}: {unknown}.")
        if ship_date < order.purchase_date:
            raise invalid_input("shipDate is before the order's PurchaseDate.")
        if ship_date > now + timedelta(days=1):
            raise invalid_input("shipDate is in the future.")
        items_json = [{"orderItemId": k, "quantity": v} for k, v in sorted(wanted.items())]
        existing = order.packages.filter(package_reference_id=reference).first()
        if existing is not None:
            if sorted(existing.items, key=lambda x: x["orderItemId"]) != items_json:
                raise invalid_input(
                    f"Package {reference} was already confirmed with different items."
                )
            changed = False
            for attr, value in (
                ("carrier_code", package["carrierCode"]),
                ("carrier_name", package.get("carrierName") or ""),
                ("shipping_method", package.get("shippingMethod") or ""),
                ("tracking_number", package["trackingNumber"]),
                ("ship_date", ship_date),
            ):
                if getattr(existing, attr) != value:
                    setattr(existing, attr, value)
                    changed = True
            if changed:
                existing.save()
                lifecycle.touch(order, now)
                order.save(update_fields=["last_update_date"])
            return
        status = lifecycle.derive_status(order, items.values())
        if status == "Pending":
            raise invalid_input(f"Order {amazon_order_id} is Pending and cannot be shipped yet.")
        if status == "Canceled":
            raise invalid_input(f"Order {amazon_order_id} is Canceled.")
        for item_id, quantity in wanted.items():
            if quantity > items[item_id].quantity_open:
                raise invalid_input(
                    f"Quantity {quantity} for order item {item_id} exceeds the unshipped "
                    f"quantity {items[item_id].quantity_open}."
                )
        for item_id, quantity in wanted.items():
            items[item_id].quantity_shipped += quantity
        AmazonPackage.objects.create(
            order=order,
            package_reference_id=reference,
            carrier_code=str(package["carrierCode"]),
            carrier_name=str(package.get("carrierName") or ""),
            shipping_method=str(package.get("shippingMethod") or ""),
            tracking_number=str(package["trackingNumber"]),
            ship_date=ship_date,
            items=items_json,
            shipped_by="SELLER",
            created_at=now,
        )
        order.status = lifecycle.derive_status(order, items.values())
        lifecycle.touch(order, now)
        _save(order)


def ship_in_seller_central(
    seller: AmazonSeller, amazon_order_id: str, data: dict[str, Any], now: datetime
) -> None:
    """The seller confirms the shipment of every open item on Amazon itself (Seller Central's
    "Confirm shipment", outside our product): the same checks and effects as confirmShipment.
    ``data``: ``carrier``, ``tracking_number``, ``ship_date`` (default now; not ahead of it):
    the shipment is recorded as made then."""
    order = get_order(seller, amazon_order_id, now)
    open_items = [i for i in lifecycle.order_items(order) if i.quantity_open > 0]
    if not open_items:
        raise ControlError(409, "nothing_to_ship", "no open item left to ship")
    tracking = str(data.get("tracking_number") or f"SC{_random_id('', 10)}")
    try:
        ship_date = parse_iso(str(data["ship_date"])) if data.get("ship_date") else now
    except ValueError as exc:
        raise ControlError(
            400, "invalid", f"ship_date is not ISO 8601: {data['ship_date']}"
        ) from exc
    if ship_date > now:
        raise ControlError(400, "invalid", "ship_date is in the future")
    body = {
        "marketplaceId": order.marketplace_id,
        "packageDetail": {
            "packageReferenceId": f"seller-central-{tracking}",
            "carrierCode": str(data.get("carrier") or "Other"),
            "trackingNumber": tracking,
            "shipDate": ship_date.isoformat(),
            "orderItems": [
                {"orderItemId": i.order_item_id, "quantity": i.quantity_open} for i in open_items
            ],
        },
    }
    try:
        # It happened on the ship date: the order's LastUpdateDate is then, as on Amazon.
        confirm_shipment(seller, amazon_order_id, body, ship_date)
    except ApiError as exc:
        raise ControlError(409, "not_shippable", exc.message) from exc


def ship_older_in_seller_central(
    seller: AmazonSeller, data: dict[str, Any], now: datetime
) -> list[str]:
    """A seller's history before Keelson: every seller-fulfilled order placed before
    ``placed_before`` that is still open and that no buyer asked to cancel was confirmed in
    Seller Central ``after_days`` (default 1) after it was placed, with ``carrier``. Returns the
    orders shipped, oldest first."""
    try:
        before = parse_iso(str(data["placed_before"]))
    except (KeyError, ValueError) as exc:
        raise ControlError(400, "invalid", "placed_before (ISO 8601) is required") from exc
    after = timedelta(days=float(data.get("after_days", 1)))
    candidates = list(
        AmazonOrder.objects.filter(
            seller=seller,
            fulfillment_channel="MFN",
            status__in=("Unshipped", "PartiallyShipped"),
            buyer_cancel_at__isnull=True,
            purchase_date__lt=before,
        )
        .exclude(items__buyer_cancel_requested=True)  # the buyer asked: not shipped
        .distinct()
        .order_by("purchase_date", "id")
        .values_list("amazon_order_id", "purchase_date")
    )
    shipped = []
    for amazon_order_id, placed in candidates:
        ship_in_seller_central(
            seller,
            amazon_order_id,
            {
                "carrier": data.get("carrier"),
                "tracking_number": f"SC{amazon_order_id.replace('-', '')[-10:]}",
                "ship_date": min(placed + after, now).isoformat(),
            },
            now,
        )
        shipped.append(amazon_order_id)
    return shipped


def request_buyer_cancel(
    seller: AmazonSeller,
    amazon_order_id: str,
    reason: str,
    now: datetime,
    item_ids: list[str] | None = None,
) -> AmazonOrder:
    with transaction.atomic():
        _locked(seller, now)
        order = _load_order(seller, amazon_order_id, now)
        status = lifecycle.derive_status(order, lifecycle.order_items(order))
        if status in ("Shipped", "Canceled"):
            raise ControlError(409, "not_cancellable", f"order is {status}")
        if not lifecycle.request_buyer_cancellation(order, reason, now, item_ids):
            raise ControlError(409, "nothing_to_cancel", "no open item left to flag")
        _save(order)
        return order


def cancel_by_seller(
    order: AmazonOrder, reasons: dict[str, str] | None, at: datetime, reason: str = ""
) -> bool:
    """A seller's cancellation (order-acknowledgement feed): the listed items' open quantity, or
    the whole order. The caller has locked the seller and validated."""
    items = lifecycle.order_items(order)
    chosen = [i for i in items if reasons is None or i.order_item_id in reasons]
    why = reason or (next(iter(reasons.values()), "") if reasons else "")
    changed = lifecycle.cancel_open_quantities(order, chosen, by="MERCHANT", reason=why, at=at)
    if changed:
        _save(order)
    return changed


# --- refunds ---------------------------------------------------------------------------------

REFUND_COMPONENTS = ("Principal", "Shipping", "Tax", "ShippingTax", "Goodwill", "Other")


class RefundRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RefundLine:
    order_item_id: str
    components: dict[str, Decimal]
    quantity: int | None = None
    merchant_adjustment_item_id: str = ""
    currency: str | None = None
    reason: str = ""


@dataclass
class RefundResult:
    adjustment_id: str
    duplicate: bool = False
    lines: list[AmazonAdjustment] = field(default_factory=list)


def refunded_by_component(item: AmazonOrderItem) -> dict[str, Decimal]:
    rows = item.adjustments.values("component").annotate(total=Sum("amount"))
    return {r["component"]: r["total"] for r in rows}


def refund(
    order: AmazonOrder,
    lines: list[RefundLine],
    *,
    source: str,
    at: datetime,
    reason: str = "",
    feed: AmazonFeed | None = None,
) -> RefundResult:
    """Refund components of shipped items, never more than was charged (the caller has locked
    the seller). Raises ``RefundRejected`` with a reason code; nothing is written then."""
    items = {i.order_item_id: i for i in lifecycle.order_items(order)}
    status = lifecycle.derive_status(order, items.values())
    if status == "Pending":
        raise RefundRejected("order_pending", f"Order {order.amazon_order_id} is Pending.")
    if not lines:
        raise RefundRejected("no_items", "The refund names no item.")
    market = marketplaces.get(order.marketplace_id)
    tax_included = market.tax_included if market else False
    # Idempotency: a MerchantAdjustmentItemID seen before with the same amounts is a duplicate.
    keyed = [line for line in lines if line.merchant_adjustment_item_id]
    if keyed and len(keyed) == len(lines):
        seen = list(
            AmazonAdjustment.objects.filter(
                order=order,
                merchant_adjustment_item_id__in=[x.merchant_adjustment_item_id for x in keyed],
            )
        )
        if seen:
            before = {
                (a.merchant_adjustment_item_id, a.item.order_item_id, a.component, a.amount)
                for a in seen
            }
            now_asked = {
                (x.merchant_adjustment_item_id, x.order_item_id, c, a)
                for x in lines
                for c, a in x.components.items()
            }
            if before == now_asked:
                return RefundResult(seen[0].adjustment_id, duplicate=True)
            raise RefundRejected(
                "duplicate_adjustment_id",
                "MerchantAdjustmentItemID was already used for a different adjustment.",
            )
    asked_by_item: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        item = items.get(line.order_item_id)
        if item is None:
            raise RefundRejected(
                "item_not_found",
                f"Order item {line.order_item_id} is not in order {order.amazon_order_id}.",
            )
        if line.currency and line.currency != order.currency:
            raise RefundRejected(
                "currency_mismatch",
                f"Currency {line.currency} does not match the order's currency {order.currency}.",
            )
        if not line.components:
            raise RefundRejected("no_amount", f"No amount given for item {line.order_item_id}.")
        for component, amount in line.components.items():
            if component not in REFUND_COMPONENTS:
                raise RefundRejected("invalid_component", f"Unknown component {component}.")
            if amount <= 0:
                raise RefundRejected("invalid_amount", f"{component} amount must be above 0.")
            if not marketplaces.amount_has_valid_precision(amount, order.currency):
                raise RefundRejected(
                    "invalid_amount",
                    f"{component} amount {amount} has too many decimals for {order.currency}.",
                )
            asked_by_item[line.order_item_id][component] += amount
    for item_id, asked in asked_by_item.items():
        item = items[item_id]
        if item.quantity_shipped <= 0:
            raise RefundRejected(
                "not_shipped",
                f"Order item {item_id} has not shipped: nothing was charged (cancel it instead).",
            )
        charged = lifecycle.item_charge_components(item, item.quantity_shipped, order.currency)
        done = refunded_by_component(item)
        for component, amount in asked.items():
            if component in charged:
                remaining = charged[component] - done.get(component, Decimal(0))
                if amount > remaining:
                    raise RefundRejected(
                        "exceeds_paid_amount",
                        f"Refund of {amount} {order.currency} {component} for item {item_id} "
                        f"exceeds the {remaining} {order.currency} paid and not yet refunded.",
                    )
        # The item's total cap. Where prices include tax, the tax components are part of the
        # principal and shipping already, so they count only against their own caps.
        counted = (lambda k: k not in ("Tax", "ShippingTax")) if tax_included else (lambda k: True)
        total_charged = lifecycle.charge_total(charged, tax_included)
        total_done = sum((v for k, v in done.items() if counted(k)), Decimal(0))
        total_asked = sum((v for k, v in asked.items() if counted(k)), Decimal(0))
        if total_asked > total_charged - total_done:
            raise RefundRejected(
                "exceeds_paid_amount",
                f"Refund of {total_asked} {order.currency} for item {item_id} exceeds the "
                f"{total_charged - total_done} {order.currency} paid and not yet refunded.",
            )
    adjustment_id = "amzn1.adj." + secrets.token_hex(10)
    rows = []
    for line in lines:
        for component, amount in line.components.items():
            rows.append(
                AmazonAdjustment(
                    order=order,
                    item=items[line.order_item_id],
                    adjustment_id=adjustment_id,
                    merchant_adjustment_item_id=line.merchant_adjustment_item_id,
                    source=source,
                    reason=line.reason or reason,
                    component=component,
                    amount=amount,
                    quantity=line.quantity,
                    posted_date=at,
                    feed=feed,
                )
            )
    AmazonAdjustment.objects.bulk_create(rows)
    lifecycle.touch(order, at)
    order.save(update_fields=["last_update_date"])
    return RefundResult(adjustment_id, lines=rows)


def refund_in_seller_central(
    seller: AmazonSeller,
    amazon_order_id: str,
    data: dict[str, Any],
    now: datetime,
) -> RefundResult:
    """A refund the seller made on Amazon (Seller Central), outside our product (rule R6).
    ``data["posted_date"]``: when it was made (default now; not ahead of it)."""
    reason = data.get("reason", "CustomerReturn")
    at = now
    if data.get("posted_date"):
        try:
            at = parse_iso(str(data["posted_date"]))
        except ValueError as exc:
            raise ControlError(400, "invalid", "posted_date is not ISO 8601") from exc
        if at > now:
            raise ControlError(400, "invalid", "posted_date is in the future")
    with transaction.atomic():
        _locked(seller, now)
        order = _load_order(seller, amazon_order_id, now)
        lines: list[RefundLine] = []
        if data.get("full") or not data.get("items"):
            for item in lifecycle.order_items(order):
                if item.quantity_shipped <= 0:
                    continue
                charged = lifecycle.item_charge_components(
                    item, item.quantity_shipped, order.currency
                )
                done = refunded_by_component(item)
                components = {
                    c: a - done.get(c, Decimal(0))
                    for c, a in charged.items()
                    if a - done.get(c, Decimal(0)) > 0
                }
                if components:
                    lines.append(RefundLine(item.order_item_id, components))
            if not lines:
                raise ControlError(409, "nothing_to_refund", "nothing charged is left to refund")
        else:
            for raw in data["items"]:
                components = {
                    str(c): _decimal(a, c) for c, a in (raw.get("components") or {}).items()
                }
                lines.append(
                    RefundLine(
                        str(raw.get("order_item_id", "")),
                        components,
                        quantity=raw.get("quantity"),
                    )
                )
        try:
            return refund(order, lines, source="seller_central", at=at, reason=reason)
        except RefundRejected as exc:
            raise ControlError(409, exc.code, exc.message) from exc
