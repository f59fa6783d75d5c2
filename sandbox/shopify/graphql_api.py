"""The Admin GraphQL API: the schema (``schema.graphql``), the root resolvers, and the
``orders(query:)`` search syntax the emulator understands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from django.db.models import Q
from graphql import GraphQLError, GraphQLSchema, build_schema

from sandbox.amazon.clock import parse_iso
from sandbox.shopify import render, services
from sandbox.shopify.models import ShopifyOrder, ShopifyStore, ShopifyWebhookSubscription
from sandbox.shopify.services import parse_gid

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


@cache
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


# --- orders(query:) ---------------------------------------------------------------------------

_TERM = re.compile(r"""(\w+):(>=|<=|>|<)?("[^"]*"|'[^']*'|\S+)""")
_FIELDS = {"source_identifier", "updated_at", "created_at", "tag", "name"}


def order_filter(query: str | None) -> tuple[Q, list[str]]:
    """Shopify's search syntax, the part the emulator supports: ``source_identifier:X``,
    ``updated_at:>2025-07-01T00:00:00Z`` (also ``>=``, ``<``, ``<=``), ``created_at:...``,
    ``tag:X`` and ``name:#1001``, joined by spaces or ``AND``. Returns the filter and the terms
    it ignored (Shopify ignores unknown fields too, with a search warning)."""
    condition, ignored = Q(), []
    if not query:
        return condition, ignored
    rest = _TERM.sub(" ", query)
    for key, op, raw in _TERM.findall(query):
        value = raw[1:-1] if raw[:1] in "\"'" else raw
        if key not in _FIELDS:
            ignored.append(f"{key}:{op}{raw}")
            continue
        if key == "source_identifier":
            condition &= Q(source_identifier=value)
        elif key == "tag":
            condition &= Q(tags__contains=[value])
        elif key == "name":
            number = value.lstrip("#")
            condition &= Q(number=int(number)) if number.isdigit() else Q(pk__in=[])
        else:
            moment = _parse_search_time(value)
            lookup = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "": "date"}[op or ""]
            if lookup == "date":
                condition &= Q(**{f"{key}__date": moment.date()})
            else:
                condition &= Q(**{f"{key}__{lookup}": moment})
    for word in rest.split():
        if word.upper() != "AND":
            ignored.append(word)
    return condition, ignored


def _parse_search_time(value: str) -> datetime:

    try:
        return parse_iso(value)
    except ValueError as exc:
        raise GraphQLError(f"Invalid date in search query: {value}") from exc


# --- resolvers --------------------------------------------------------------------------------


@dataclass
class Context:
    store: ShopifyStore
    now: datetime
    search_warnings: list[str]


def _orders(
    info, first=None, after=None, last=None, before=None, query=None, sortKey="ID", reverse=False
):
    ctx: Context = info.context
    if last is not None or before is not None:
        raise GraphQLError("The emulator pages orders forward only (first/after).")
    size = render.page_size(first, last)
    condition, ignored = order_filter(query)
    ctx.search_warnings.extend(ignored)
    rows = ShopifyOrder.objects.filter(condition, store=ctx.store)
    sort_field = {"ID": None, "CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}[sortKey]
    if after:
        cursor = render.decode_cursor(after)
        last_id = int(cursor.get("last_id", 0))
        if sort_field is None:
            rows = rows.filter(pk__lt=last_id) if reverse else rows.filter(pk__gt=last_id)
        else:
            last_value = services._parse_time(cursor.get("last_value"))
            op = "lt" if reverse else "gt"
            rows = rows.filter(
                Q(**{f"{sort_field}__{op}": last_value})
                | Q(**{sort_field: last_value, f"pk__{op}": last_id})
            )
    order_by = ["pk"] if sort_field is None else [sort_field, "pk"]
    if reverse:
        order_by = [f"-{f}" for f in order_by]
    chosen = list(rows.order_by(*order_by)[: size + 1])
    has_next = len(chosen) > size
    chosen = chosen[:size]

    def cursor_for(order: ShopifyOrder) -> str:
        data: dict[str, Any] = {"last_id": order.pk}
        if sort_field is not None:
            data["last_value"] = render.iso(getattr(order, sort_field))
        return render.encode_cursor(data)

    edges = [{"cursor": cursor_for(o), "node": render.order_view(o)} for o in chosen]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": bool(after),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _order(info, id):
    ctx: Context = info.context
    pk = parse_gid(id, "Order")
    order = ShopifyOrder.objects.filter(store=ctx.store, pk=pk).first() if pk else None
    return render.order_view(order) if order else None


def _webhook_subscriptions(info, first=None, after=None, topics=None, callbackUrl=None):
    ctx: Context = info.context
    rows = ShopifyWebhookSubscription.objects.filter(store=ctx.store)
    if topics:
        rows = rows.filter(topic__in=topics)
    if callbackUrl:
        rows = rows.filter(callback_url=callbackUrl)
    return render.connection(list(rows), render.webhook_subscription_view, first, after)


def _order_create(info, order, options=None):
    ctx: Context = info.context
    result = services.create_order(ctx.store, order, options, ctx.now)
    return {
        "order": render.order_view(result.order) if result.order else None,
        "userErrors": result.errors,
    }


def _fulfillment_create(info, fulfillment, message=None):
    ctx: Context = info.context
    created, errors = services.create_fulfillment(ctx.store, fulfillment, ctx.now, message=message)
    if created is None:
        return {"fulfillment": None, "userErrors": errors}
    items = {li.pk: li for li in created.order.line_items.all()}
    return {
        "fulfillment": render.fulfillment_view(created, items, created.order.currency),
        "userErrors": [],
    }


def _refund_create(info, input):
    ctx: Context = info.context
    refund, errors = services.create_refund(ctx.store, input, ctx.now)
    if refund is None:
        return {"order": None, "refund": None, "userErrors": errors}
    order = ShopifyOrder.objects.get(pk=refund.order_id)
    items = {li.pk: li for li in order.line_items.all()}
    transactions = list(order.transactions.select_related("parent"))
    return {
        "order": render.order_view(order),
        "refund": render.refund_view(refund, items, transactions, order.currency),
        "userErrors": [],
    }


def _order_cancel(
    info,
    orderId,
    reason,
    restock,
    refund=None,
    refundMethod=None,
    notifyCustomer=False,
    staffNote=None,
):
    ctx: Context = info.context
    do_refund = bool(refund)
    if refundMethod is not None:
        do_refund = bool(refundMethod.get("originalPaymentMethodsRefund"))
    if refund is not None and refundMethod is not None:
        errors = [
            services.user_error(
                ["refundMethod"], "Use either refund or refundMethod, not both.", "INVALID"
            )
        ]
    else:
        errors = services.cancel_order(
            ctx.store,
            orderId,
            reason=reason,
            refund=do_refund,
            restock=restock,
            notify_customer=bool(notifyCustomer),
            staff_note=staffNote or "",
            now=ctx.now,
        )
    plain = [{"field": e["field"], "message": e["message"]} for e in errors]
    job = (
        None
        if errors
        else {"id": f"gid://shopify/Job/{services.secrets.token_hex(8)}", "done": True}
    )
    return {"job": job, "orderCancelUserErrors": errors, "userErrors": plain}


def _webhook_subscription_create(info, topic, webhookSubscription):
    ctx: Context = info.context
    created, errors = services.subscribe(ctx.store, topic, webhookSubscription, ctx.now)
    return {
        "webhookSubscription": render.webhook_subscription_view(created) if created else None,
        "userErrors": errors,
    }


def root_value(store: ShopifyStore) -> dict[str, Any]:
    return {
        "shop": render.shop_view(store),
        "order": _order,
        "orders": _orders,
        "webhookSubscriptions": _webhook_subscriptions,
        "orderCreate": _order_create,
        "fulfillmentCreate": _fulfillment_create,
        "refundCreate": _refund_create,
        "orderCancel": _order_cancel,
        "webhookSubscriptionCreate": _webhook_subscription_create,
    }
