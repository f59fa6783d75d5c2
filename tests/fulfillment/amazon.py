"""Helpers for tests against the Amazon SP-API emulator: a merchant's account connected to
it, orders placed there and imported here the way the sync does (our gateway, the upsert and
its after-upsert hook)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.db import transaction

from integrations.amazon.gateway import AmazonCredentials, AmazonGateway, parse_datetime
from integrations.amazon.ratelimit import RateLimiter
from orders.models import Order
from orders.services import after_amazon_upsert, upsert_amazon_orders
from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context


def connect(merchant: Merchant, sandbox) -> AmazonAccount:
    seller = sandbox.seller
    with tenant_context(merchant):
        return AmazonAccount.objects.create(
            merchant=merchant,
            name="Emulated seller",
            selling_partner_id=seller["selling_partner_id"],
            region="NA",
            marketplace_ids=seller["marketplace_ids"],
            lwa_refresh_token=seller["refresh_token"],
            lwa_client_id=seller["client_id"],
            lwa_client_secret=seller["client_secret"],
            endpoint_override=seller["endpoint"],
            lwa_endpoint_override=seller["lwa_token_url"],
        )


def place(sandbox, items: list[dict], **fields) -> str:
    """An order placed an hour ago (virtual time): Unshipped by now. Returns its id."""
    now = parse_datetime(sandbox.control.now())
    fields.setdefault("purchase_date", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    placed = sandbox.control.place_order(
        sandbox.seller["selling_partner_id"], items=items, **fields
    )
    return placed["amazon_order_id"]


def import_orders(account: AmazonAccount, *amazon_order_ids: str) -> list[Order]:
    """getOrder and getOrderItems through our gateway, then the upsert and its hook."""
    gateway = AmazonGateway(
        AmazonCredentials.from_account(account), limiter=RateLimiter(enabled=False)
    )
    records = []
    for amazon_order_id in amazon_order_ids:
        record = gateway.get_order(amazon_order_id)
        records.append(replace(record, items=gateway.get_order_items(amazon_order_id)))
    merchant = Merchant.objects.get(pk=account.merchant_id)
    with tenant_context(merchant), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=records)
        after_amazon_upsert(merchant, result)
    with tenant_context(merchant):
        by_id = {o.external_id: o for o in Order.objects.filter(external_id__in=amazon_order_ids)}
    return [by_id[i] for i in amazon_order_ids]


def emulated(sandbox, amazon_order_id: str) -> dict:
    return sandbox.control.order(sandbox.seller["selling_partner_id"], amazon_order_id)


def ship_dates(state: dict) -> list[datetime]:
    return sorted(parse_datetime(p["ship_date"]).astimezone(UTC) for p in state["packages"])
