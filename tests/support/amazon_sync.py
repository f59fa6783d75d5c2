"""Helpers for sync tests against the SP-API emulator: connect a merchant's account to it, run
the sync until it has caught up, and compare what we hold with the emulator's own state."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from integrations.amazon.gateway import parse_datetime
from orders import sync
from orders.models import Channel, EventKind, Order, OrderEvent
from sandbox.amazon import lifecycle
from sandbox.amazon.models import AmazonOrder as EmulatedOrder
from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def amazon_now(sandbox) -> datetime:
    return parse_datetime(sandbox.control.now())


def connect(merchant: Merchant, sandbox, seller: dict | None = None, **kw) -> AmazonAccount:
    seller = seller or sandbox.seller
    with tenant_context(merchant):
        return sync.connect_amazon_account(
            merchant,
            name="Emulated seller",
            selling_partner_id=seller["selling_partner_id"],
            marketplace_ids=seller["marketplace_ids"],
            refresh_token=seller["refresh_token"],
            lwa_client_id=seller["client_id"],
            lwa_client_secret=seller["client_secret"],
            endpoint_override=seller["endpoint"],
            lwa_endpoint_override=seller["lwa_token_url"],
            **kw,
        )


def run_sync(account: AmazonAccount, **kw) -> sync.RunReport:
    with tenant_context(account.merchant_id):
        return sync.sync_account(account.pk, **kw)


def sync_until_caught_up(account: AmazonAccount, max_runs: int = 40) -> list[sync.RunReport]:
    """Run the sync again and again (as the scheduler would, without its waits) until one run
    reports that both lanes are done."""
    reports = []
    for _ in range(max_runs):
        report = run_sync(account)
        reports.append(report)
        if report.outcome == "caught_up":
            return reports
    raise AssertionError(f"the sync did not catch up: {[r.outcome for r in reports]}")


def cursor_of(account: AmazonAccount) -> datetime:
    with tenant_context(account.merchant_id):
        return AmazonAccount.objects.get(pk=account.pk).sync_cursor


def emulated_orders(seller_id: str) -> dict[str, dict]:
    """The emulator's own state of every order of the seller: its tables, read in bulk, in the
    shape of its control API's order view (``sandbox.amazon.app.order_state``)."""
    out = {}
    orders = EmulatedOrder.objects.filter(seller__selling_partner_id=seller_id)
    for o in orders.prefetch_related("items"):
        items = list(o.items.all())
        out[o.amazon_order_id] = {
            "amazon_order_id": o.amazon_order_id,
            "marketplace_id": o.marketplace_id,
            "currency": o.currency,
            "status": o.status,
            "fulfillment_channel": o.fulfillment_channel,
            "purchase_date": o.purchase_date,
            "last_update_date": o.last_update_date,
            "payment_authorized": o.payment_authorized,
            "is_business_order": o.is_business_order,
            "is_prime": o.is_prime,
            "order_total": lifecycle.order_total(o, items),
            "items": [
                {
                    "order_item_id": i.order_item_id,
                    "seller_sku": i.seller_sku,
                    "asin": i.asin,
                    "quantity_ordered": i.quantity_ordered,
                    "quantity_shipped": i.quantity_shipped,
                    "item_price": i.item_price,
                    "item_tax": i.item_tax,
                    "shipping_price": i.shipping_price,
                    "shipping_tax": i.shipping_tax,
                    "buyer_cancel_requested": i.buyer_cancel_requested,
                    "buyer_cancel_reason": i.buyer_cancel_reason,
                }
                for i in items
            ],
        }
    return out


def expected_total(state: dict) -> Decimal:
    # Amazon shows no OrderTotal (nor item prices) before the payment is authorised.
    if state["payment_authorized"] and state["status"] != "Pending":
        return Decimal(state["order_total"])
    return Decimal(0)


def differences(account: AmazonAccount, emulated: dict[str, dict], *, taxes: bool = False):
    """What differs between our orders and the emulator's orders changed up to our cursor
    (later changes are the next window's). Returns (differences, orders compared, orders
    changed after the cursor)."""
    cursor = cursor_of(account)
    problems: list[str] = []
    with tenant_context(account.merchant_id):
        ours = {
            o.external_id: o
            for o in Order.objects.filter(channel=Channel.AMAZON).prefetch_related("lines")
        }
    later = 0
    for order_id, state in emulated.items():
        order = ours.get(order_id)
        if order is None:
            problems.append(f"{order_id}: missing")
            continue
        if state["last_update_date"] > cursor:
            later += 1
            continue
        paid = state["payment_authorized"] and state["status"] != "Pending"
        got = (
            order.status,
            order.fulfillment_channel,
            order.marketplace_id,
            order.purchase_date,
            order.source_updated_at,
            order.total_amount,
            order.currency,
            order.is_prime,
            order.is_business_order,
        )
        want = (
            state["status"],
            state["fulfillment_channel"],
            state["marketplace_id"],
            state["purchase_date"],
            state["last_update_date"],
            expected_total(state),
            state["currency"],
            state["is_prime"],
            state["is_business_order"],
        )
        if got != want:
            problems.append(f"{order_id}: {got} != {want}")
        lines = {line.external_id: line for line in order.lines.all()}
        items = {i["order_item_id"]: i for i in state["items"]}
        if set(lines) != set(items):
            problems.append(f"{order_id}: lines {sorted(lines)} != {sorted(items)}")
            continue
        for item_id, item in items.items():
            line = lines[item_id]
            got_line = [
                line.sku,
                line.asin,
                line.quantity_ordered,
                line.quantity_shipped,
                line.item_price,
                line.buyer_cancel_requested,
                line.buyer_cancel_reason,
            ]
            want_line = [
                item["seller_sku"],
                item["asin"],
                item["quantity_ordered"],
                item["quantity_shipped"],
                Decimal(item["item_price"]) if paid else Decimal(0),
                item["buyer_cancel_requested"],
                item["buyer_cancel_reason"],
            ]
            if taxes:
                got_line += [line.item_tax, line.shipping_price, line.shipping_tax]
                want_line += [
                    Decimal(item[k]) if paid else Decimal(0)
                    for k in ("item_tax", "shipping_price", "shipping_tax")
                ]
            if got_line != want_line:
                problems.append(f"{order_id}/{item_id}: {got_line} != {want_line}")
    extra = set(ours) - set(emulated)
    if extra:
        problems.append(f"orders Amazon does not have: {sorted(extra)[:5]}")
    return problems, len(emulated) - later, later


def imported_events_per_order(merchant: Merchant) -> dict[int, int]:
    with tenant_context(merchant):
        counts: dict[int, int] = {}
        for order_id in OrderEvent.objects.filter(kind=EventKind.IMPORTED).values_list(
            "order_id", flat=True
        ):
            counts[order_id] = counts.get(order_id, 0) + 1
        return counts


def window(now: datetime, *, days_ago: float, hours_ago: float) -> dict:
    return {
        "placed_from": iso(now - timedelta(days=days_ago)),
        "placed_to": iso(now - timedelta(hours=hours_ago)),
    }


def state_of(account: AmazonAccount):
    from orders.models import AmazonSyncState

    with tenant_context(account.merchant_id):
        return AmazonSyncState.objects.get(account_id=account.pk)


def fault_hits(sandbox) -> dict[str, int]:
    """Injections per kind so far, rules that lapsed included."""
    return sandbox.control.faults()["served"]
