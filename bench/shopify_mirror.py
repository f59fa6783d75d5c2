"""Benchmark of the Shopify mirror (issue 12; R1, R4): how many Amazon orders per second Keelson
creates in a merchant's Shopify store through the outbox, against the Shopify emulator with its
cost-based throttling on, beside the emulator's own throughput for the same requests made in a
bare loop, in one run.

    .venv/bin/python bench/shopify_mirror.py                   # 300 orders x 3, then 100 x 3
    .venv/bin/python bench/shopify_mirror.py --orders 100 --runs 1 --unthrottled 30   # a look
    .venv/bin/python bench/shopify_mirror.py --orders 1000 --runs 1 --unthrottled 0   # sustained

Goal: Keelson's throughput ≥ 0.8 × the bare loop's (the bucket, not our code, is the limit).

It works in a database of its own, ``keelson_bench_shopify`` (``--database``), on the same
PostgreSQL server as the dev database (``DATABASE_URL``, else the embedded server): created,
migrated and dropped at the end. The emulator runs as its own process
(``manage.py run_shopify_sandbox``, on that database), over real HTTP on loopback; each side
gets a fresh store of its own on the standard plan (a bucket of 2,000 points restoring 100 per
second, full at the start). No webhooks are subscribed, so the emulator sends none.

Measured, ``--runs`` rounds (medians reported; the sides' order rotates from round to round):

1. **bare loop**: the look-up by source identifier and ``orderCreate`` for ``--orders`` orders
   (the gateway's own documents, the variables it would send for the same orders, so the same
   cost), one after the other with ``urllib``, nothing else: before each request, if the last
   ``throttleStatus`` (plus what restored since) is short of the document's requested cost, it
   sleeps exactly for the missing points, as Shopify documents; a THROTTLED answer anyway is
   waited out the same way and sent again.
2. **Keelson, 1 worker**: the same Amazon orders of a merchant, upserted as the sync does
   (``upsert_amazon_orders`` + ``after_amazon_upsert`` in pages of 100: the announcement's
   mirror subscriber enqueues one ``shopify.create_order`` message per order; not timed), then
   delivered by the outbox's real delivery (``deliver_due`` under the merchant's scope, what the
   django-q2 tasks run) until every order is mirrored: per message the store and order are read,
   the gateway (the real ShopifyAPI client) looks the order up by source identifier and creates
   it with ``orderCreate``, waiting out THROTTLED answers from ``throttleStatus``; the ack
   records the Shopify id on the order and writes its timeline event.
3. **Keelson, 2 workers**: the same for another merchant, two threads claiming concurrently.
4. With ``--unthrottled N`` (default 100), all three again for N orders on stores with
   throttling off (the emulator's per-store setting): our own cost per order, uncapped.

Printed per side: orders per second, THROTTLED answers and the seconds slept for points, and
this process's CPU per order. Afterwards each store's orders are counted by source identifier
through the emulator's control API (exactly one per order: none lost, none duplicated), and
Keelson's stores are compared with the bare loop's field by field (it sent what the gateway
sends). See docs/benchmarks.md, "Shopify mirror".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.shopify.records import NewOrder
    from sandbox.shopify.control import ShopifySandboxClient
    from tenants.models import Agency, AmazonAccount, Merchant, ShopifyStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, child_env, drop_database, prepare_database

PAGE = 100  # orders per upsert transaction: one sync page
LOG_DIR = ROOT / ".data" / "bench-logs"


# --- the emulator ------------------------------------------------------------------------------


def start_emulator() -> tuple[subprocess.Popen, dict]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_shopify_sandbox", "--port", "0"],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=open(LOG_DIR / "shopify_mirror-emulator.log", "wb"),
        text=True,
        start_new_session=True,
    )
    first = proc.stdout.readline()
    if not first:
        raise SystemExit(f"the emulator did not start (see {LOG_DIR}/shopify_mirror-emulator.log)")
    # Keep draining its stdout so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, json.loads(first)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- Keelson's side ----------------------------------------------------------------------------


def amazon_records(count: int, prefix: int) -> list:
    """``count`` verified (Unshipped, MFN) Amazon orders as the gateway parses them: one line,
    every third order two, with tax and shipping, and a shipping address."""
    from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money

    now = datetime.now(UTC)
    records = []
    for n in range(count):
        order_id = f"{prefix:03d}-{n:07d}-{(n * 7919) % 10_000_000:07d}"
        items = [
            AmazonOrderItem(
                order_item_id=f"{prefix:03d}{n:08d}{i:02d}",
                sku=f"BENCH-SKU-{i}",
                asin=f"B0BENCH{i:03d}",
                title=f"Bench item {i}",
                quantity_ordered=2 - i,
                quantity_shipped=0,
                item_price=Money(Decimal("40.00") / (i + 1), "USD"),
                item_tax=Money(Decimal("3.20"), "USD"),
                shipping_price=Money(Decimal("5.00"), "USD"),
                shipping_tax=Money(Decimal("0.00"), "USD"),
            )
            for i in range(2 if n % 3 == 0 else 1)
        ]
        total = sum(
            (it.item_price.amount + it.item_tax.amount + it.shipping_price.amount for it in items),
            Decimal("0"),
        )
        records.append(
            AmazonOrder(
                amazon_order_id=order_id,
                marketplace_id="ATVPDKIKX0DER",
                status="Unshipped",
                fulfillment_channel="MFN",
                purchase_date=now - timedelta(hours=2),
                last_update_date=now - timedelta(hours=1),
                sales_channel="Amazon.com",
                order_type="StandardOrder",
                ship_service_level="Std US D2D Dom",
                earliest_ship_date=now,
                latest_ship_date=now + timedelta(days=2),
                order_total=Money(total, "USD"),
                shipping_address={
                    "Name": "Jane Bench",
                    "AddressLine1": "1 Harbor Way",
                    "City": "Seattle",
                    "StateOrRegion": "WA",
                    "PostalCode": "98101",
                    "CountryCode": "US",
                },
                items=tuple(items),
            )
        )
    return records


def set_up_merchant(
    agency: Agency, slug: str, emulator: dict, shop: dict
) -> tuple[Merchant, AmazonAccount, ShopifyStore]:
    """A merchant with an Amazon account and the emulated store connected (the row the connect
    use case saves; its webhook subscriptions are left out so the emulator sends none)."""
    from tenants.models import AmazonAccount, Merchant, ShopifyStore
    from tenants.scope import tenant_context

    merchant = Merchant.objects.create(agency=agency, name=f"Bench {slug}", slug=slug)
    with tenant_context(merchant):
        account = AmazonAccount.objects.create(
            merchant=merchant,
            selling_partner_id=f"ABENCH{slug.upper()}"[:64],
            marketplace_ids=["ATVPDKIKX0DER"],
            lwa_refresh_token="Atzr|bench",  # noqa: S106 (unused: no Amazon calls)
        )
        store = ShopifyStore.objects.create(
            merchant=merchant,
            shop_domain=shop["domain"],
            access_token=shop["access_token"],
            api_version=shop["api_version"],
            endpoint_override=emulator["base_url"],
            webhook_secret=shop["client_secret"],
        )
    return merchant, account, store


def import_orders(
    merchant: Merchant, account: AmazonAccount, records: list
) -> tuple[float, list[int]]:
    """Upsert the orders as the sync does, page by page; the mirror's announcement subscriber
    enqueues their messages in each page's transaction. Returns the seconds and order ids."""
    from django.db import transaction

    from integrations.outbox.models import OutboxMessage
    from orders.models import Order, ShopifyState
    from orders.services import after_amazon_upsert, upsert_amazon_orders
    from orders.shopify_mirror import CREATE_ORDER_KIND
    from tenants.scope import tenant_context

    started = time.perf_counter()
    with tenant_context(merchant):
        for i in range(0, len(records), PAGE):
            with transaction.atomic():
                result = upsert_amazon_orders(account=account, records=records[i : i + PAGE])
                after_amazon_upsert(merchant, result)
        elapsed = time.perf_counter() - started
        ids = list(
            Order.objects.filter(external_id__in=[r.amazon_order_id for r in records])
            .order_by("id")
            .values_list("id", flat=True)
        )
        kinds = Counter(
            OutboxMessage.objects.filter(status="pending").values_list("kind", flat=True)
        )
        pending = Order.objects.filter(pk__in=ids, shopify_state=ShopifyState.PENDING).count()
    assert len(ids) == len(records), f"{len(ids)} of {len(records)} orders imported"
    assert kinds == {CREATE_ORDER_KIND: len(records)}, f"outbox holds {dict(kinds)}"
    assert pending == len(records), f"{pending} of {len(records)} orders pending the mirror"
    return elapsed, ids


class ThrottleLog(logging.Handler):
    """Counts the gateway's THROTTLED waits (it logs one line per THROTTLED answer, with the
    seconds it sleeps): the only place they are visible without changing our code."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("shopify throttled"):
            self.count += 1
            self.seconds += float(record.args[0])


@dataclass
class Run:
    seconds: float
    orders: int
    throttled: int = 0  # THROTTLED answers
    waited: float = 0.0  # seconds slept for points (after THROTTLED, or paced)
    paced: int = 0  # bare loop: sleeps before a request
    retried: int = 0  # Keelson: messages that needed a second outbox attempt
    cpu: float = 0.0  # this process's CPU seconds (not the emulator's, not PostgreSQL's)
    extra: dict = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds


def drain(merchant: Merchant, expected: int, workers: int = 1, timeout: float = 900) -> Run:
    """Deliver the merchant's outbox with the real delivery until no mirror message is pending,
    with ``workers`` threads claiming concurrently (as the cluster's workers do). A message the
    gateway gave up on (Throttled beyond its waits) backs off; it is waited for and sent when
    due, as the outbox's sweep would."""
    from django.db import connections
    from django.db.models import Max, Min

    from integrations.outbox.models import OutboxMessage, OutboxStatus
    from integrations.outbox.services import deliver_due
    from orders.models import Order, ShopifyState
    from tenants.scope import tenant_context

    # One worker claims as deliver_merchant does (50 at a time); two claim 10 at a time, so
    # that neither ends up alone with a long batch at the end.
    limit = 50 if workers == 1 else 10
    gateway_log = logging.getLogger("integrations.shopify.gateway")
    counter = ThrottleLog()
    old_level, old_propagate = gateway_log.level, gateway_log.propagate
    gateway_log.addHandler(counter)
    gateway_log.setLevel(logging.INFO)
    gateway_log.propagate = False  # counted, not printed
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with tenant_context(merchant):
                deliver_due(limit=limit)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    backoff_wait = 0.0
    try:
        with tenant_context(merchant):
            started, cpu = time.perf_counter(), time.process_time()
            while True:
                threads = [threading.Thread(target=work) for _ in range(workers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                if errors:
                    raise errors[0]
                pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
                due = pending.aggregate(at=Min("next_attempt_at"))["at"]
                if due is None:
                    break
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"{pending.count()} messages still pending after {timeout}s")
                pause = max(0.05, (due - datetime.now(UTC)).total_seconds())
                backoff_wait += pause
                time.sleep(pause)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            sent = OutboxMessage.objects.filter(status=OutboxStatus.SENT).count()
            failed = OutboxMessage.objects.filter(status=OutboxStatus.FAILED).count()
            attempts = OutboxMessage.objects.aggregate(most=Max("attempts"))["most"]
            retried = OutboxMessage.objects.filter(attempts__gt=1).count()
            synced = Order.objects.filter(shopify_state=ShopifyState.SYNCED).count()
    finally:
        gateway_log.removeHandler(counter)
        gateway_log.setLevel(old_level)
        gateway_log.propagate = old_propagate
    assert (sent, failed, synced) == (expected, 0, expected), (
        f"sent {sent}, failed {failed}, orders synced {synced} of {expected}"
    )
    return Run(
        elapsed,
        expected,
        throttled=counter.count,
        waited=counter.seconds + backoff_wait,
        retried=retried,
        cpu=cpu,
        extra={"max_attempts": attempts},
    )


# --- the bare loop -----------------------------------------------------------------------------


def order_create_variables(order: NewOrder) -> dict:
    """The variables ``ShopifyGateway.create_order_named`` sends for a ``NewOrder`` (the same
    fields, in the same shape; ``compare_stores`` checks the emulator stored the same)."""

    def money(amount: Decimal) -> dict:
        return {"shopMoney": {"amount": str(amount), "currencyCode": order.currency}}

    paid = order.total if order.paid_amount is None else order.paid_amount
    data: dict[str, Any] = {
        "currency": order.currency,
        "sourceName": order.source_name,
        "sourceIdentifier": order.source_identifier,
        "tags": list(dict.fromkeys(("amazon", *order.tags))),
        "lineItems": [
            {
                "sku": line.sku,
                "title": line.title or line.sku,
                "quantity": line.quantity,
                "priceSet": money(line.unit_price),
                "requiresShipping": True,
            }
            for line in order.lines
        ],
    }
    if paid > 0:
        data["transactions"] = [
            {
                "kind": "SALE",
                "status": "SUCCESS",
                "gateway": order.payment_gateway,
                "amountSet": money(paid),
            }
        ]
    if order.shipping_amount:
        data["shippingLines"] = [
            {"title": order.shipping_title, "priceSet": money(order.shipping_amount)}
        ]
    if order.email:
        data["email"] = order.email
    if order.note:
        data["note"] = order.note
    if order.processed_at:
        data["processedAt"] = order.processed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for transaction in data.get("transactions", ()):
            transaction["processedAt"] = data["processedAt"]
    for key, address in (
        ("shippingAddress", order.shipping_address),
        ("billingAddress", order.billing_address),
    ):
        if address:
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
            data[key] = {k: v for k, v in fields.items() if v}
    options = {
        "inventoryBehaviour": order.inventory_behaviour,
        "sendReceipt": False,
        "sendFulfillmentReceipt": False,
    }
    return {"order": data, "options": options}


def bare_requests(
    merchant: Merchant, store: ShopifyStore, order_ids: list[int]
) -> list[tuple[bytes, bytes]]:
    """Per order, the look-up and orderCreate bodies the gateway would send (JSON, ready)."""
    from integrations.shopify import documents
    from orders.models import Order
    from orders.shopify_mirror import new_order
    from tenants.scope import tenant_context

    out = []
    with tenant_context(merchant):
        for order in Order.objects.filter(pk__in=order_ids).order_by("id"):
            wanted = new_order(order, store)  # our mapping: not what is measured
            value = wanted.source_identifier.replace("\\", "\\\\").replace("'", "\\'")
            find = {
                "query": documents.FIND_ORDER_SUMMARY,
                "variables": {"query": f"source_identifier:'{value}'"},
            }
            create = {"query": documents.ORDER_CREATE, "variables": order_create_variables(wanted)}
            out.append((json.dumps(find).encode(), json.dumps(create).encode()))
    return out


class Pacer:
    """Client-side view of the store's bucket from the last ``throttleStatus``: the points it
    held then plus what restored since."""

    def __init__(self) -> None:
        self.available: float | None = None
        self.maximum = 0.0
        self.rate = 0.0
        self.at = 0.0
        self.cost: dict[str, float] = {}  # requestedQueryCost per document, once seen
        self.actual: Counter[str] = Counter()  # actualQueryCost spent per document

    def wait_needed(self, name: str) -> float:
        cost = self.cost.get(name)
        if cost is None or self.available is None or self.rate <= 0:
            return 0.0
        now = min(self.maximum, self.available + (time.monotonic() - self.at) * self.rate)
        return max(0.0, (cost - now) / self.rate)

    def update(self, name: str, extensions: dict | None) -> None:
        cost = (extensions or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if "requestedQueryCost" in cost:
            self.cost[name] = float(cost["requestedQueryCost"])
        self.actual[name] += cost.get("actualQueryCost") or 0
        if status:
            self.available = float(status["currentlyAvailable"])
            self.maximum = float(status["maximumAvailable"])
            self.rate = float(status["restoreRate"])
            self.at = time.monotonic()


def bare_loop(shop: dict, bodies: list[tuple[bytes, bytes]]) -> Run:
    """The look-up and orderCreate for every order, one after the other, with urllib."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Shopify-Access-Token": shop["access_token"],
    }
    url = shop["graphql_url"]
    pacer = Pacer()
    run = Run(0.0, len(bodies))

    def send(name: str, body: bytes) -> dict:
        while True:
            wait = pacer.wait_needed(name)
            if wait > 0:
                run.paced += 1
                run.waited += wait
                time.sleep(wait)
            # The emulator's own http:// URL (from its ready line), never user input.
            request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                answer = json.loads(response.read())
            pacer.update(name, answer.get("extensions"))
            errors = answer.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                run.throttled += 1  # the pacer now knows the level: the next turn waits
                continue
            if errors:
                raise RuntimeError(f"{name}: {errors}")
            return answer["data"]

    started, cpu = time.perf_counter(), time.process_time()
    for find, create in bodies:
        if send("find", find)["orders"]["nodes"]:
            continue  # not for a fresh store, but the mirror would skip it too
        payload = send("create", create)["orderCreate"]
        if payload["userErrors"]:
            raise RuntimeError(f"orderCreate: {payload['userErrors']}")
    run.seconds, run.cpu = time.perf_counter() - started, time.process_time() - cpu
    run.extra = {"requested_cost": pacer.cost, "actual_points": dict(pacer.actual)}
    return run


# --- checks ------------------------------------------------------------------------------------


@dataclass
class Census:
    orders: int
    distinct: int
    missing: int
    duplicated: int
    unexpected: int
    content: dict[str, tuple]

    def ok(self, expected: int) -> bool:
        return (self.orders, self.missing, self.duplicated, self.unexpected) == (
            expected,
            0,
            0,
            0,
        )


def census(control: ShopifySandboxClient, domain: str, expected: list[str]) -> Census:
    """The store's orders counted by source identifier (the emulator's control API)."""
    orders = control.orders(domain)
    counts = Counter(o["source_identifier"] for o in orders)
    wanted = set(expected)
    content = {
        o["source_identifier"]: (
            o["total_price"],
            o["subtotal_price"],
            o["financial_status"],
            o["source_name"],
            o["tags"],
            o["email"],
            json.dumps(o["shipping_lines"], sort_keys=True),
            json.dumps(o["shipping_address"], sort_keys=True),
            tuple(
                (li.get("sku"), li.get("title"), li.get("quantity"), li.get("price"))
                for li in o["line_items"]
            ),
        )
        for o in orders
    }
    return Census(
        orders=len(orders),
        distinct=len(counts),
        missing=len(wanted - counts.keys()),
        duplicated=sum(c - 1 for c in counts.values() if c > 1),
        unexpected=len(counts.keys() - wanted),
        content=content,
    )


def compare_stores(keelson: Census, bare: Census) -> int:
    """How many orders differ between the two stores (0: the bare loop sent the same)."""
    return sum(1 for sid, row in keelson.content.items() if bare.content.get(sid) != row)


# --- one measurement ---------------------------------------------------------------------------

SIDES = ("bare", "keelson-1", "keelson-2")


@dataclass
class Side:
    """One side of one run: its own store (fresh, full bucket) and, for Keelson, its merchant."""

    name: str
    shop: dict
    merchant: Merchant | None = None
    run: Run | None = None
    census: Census | None = None


def measure(
    label: str,
    *,
    agency: Agency,
    emulator: dict,
    control: ShopifySandboxClient,
    count: int,
    runs: int,
    throttle: bool,
    prefix: int,
) -> dict:
    """``runs`` rounds of the bare loop and Keelson with one and two workers, ``count`` orders
    each, every side on a fresh store of its own; the sides' order rotates from round to round
    so that a drift of the shared machine's load does not favour one of them."""
    records = amazon_records(count, prefix)
    expected = [r.amazon_order_id for r in records]
    rounds: list[dict[str, Side]] = []
    for n in range(runs):
        sides = {}
        for name in SIDES:
            shop = control.create_store(domain=f"bench-{label}-{n}-{name}.myshopify.com")
            if not throttle:
                shop = control.set_throttle(shop["domain"], enabled=False)
            sides[name] = Side(name, shop)
        # The same Amazon orders for both Keelson merchants (each its own store); the bare
        # loop sends what the gateway would send for them to a third store.
        bodies = []
        for name in SIDES[1:]:
            merchant, account, store = set_up_merchant(
                agency, f"{label}-{n}-{name}", emulator, sides[name].shop
            )
            seconds, order_ids = import_orders(merchant, account, records)
            sides[name].merchant = merchant
            if not bodies:
                bodies = bare_requests(merchant, store, order_ids)
        if n == 0:
            plan = sides["bare"].shop["throttle"]
            bucket = (
                f"throttling on: bucket {plan['maximumAvailable']:.0f} points, "
                f"{plan['restoreRate']:.0f}/s"
                if plan["enabled"]
                else "throttling off"
            )
            print(
                f"[{label}] {count} orders x {runs} runs ({bucket}); "
                f"imported and enqueued in {seconds:.2f} s",
                flush=True,
            )
        order = SIDES[n % len(SIDES) :] + SIDES[: n % len(SIDES)]
        for name in order:
            side = sides[name]
            control.set_throttle(side.shop["domain"], reset=True)  # full, as after a quiet spell
            if name == "bare":
                side.run = bare_loop(side.shop, bodies)
                how = f"THROTTLED {side.run.throttled}, paced {side.run.paced} times"
            else:
                side.run = drain(side.merchant, count, workers=int(name[-1]))
                how = f"THROTTLED {side.run.throttled}, retried {side.run.retried}"
            print(
                f"[{label}] run {n + 1} {name:<10}{side.run.per_second:7.2f} orders/s "
                f"({side.run.seconds:6.2f} s; {how}, slept {side.run.waited:.2f} s; "
                f"client CPU {1000 * side.run.cpu / count:.1f} ms/order)",
                flush=True,
            )
        for side in sides.values():
            side.census = census(control, side.shop["domain"], expected)
        rounds.append(sides)

    def rates(name: str) -> list[float]:
        return [r[name].run.per_second for r in rounds]

    bare = statistics.median(rates("bare"))
    summary: dict[str, Any] = {
        "orders": count,
        "runs": runs,
        "throttling": throttle,
        "bucket": rounds[0]["bare"].shop["throttle"]["maximumAvailable"],
        "restore_rate": rounds[0]["bare"].shop["throttle"]["restoreRate"],
        "requested_cost": rounds[0]["bare"].run.extra["requested_cost"],
        "actual_points_per_order": {
            k: v / count for k, v in rounds[0]["bare"].run.extra["actual_points"].items()
        },
        "bare_per_second": round(bare, 2),
    }
    if throttle:
        # From a full bucket, N orders need N x points - maximum restored points first: no
        # client, however fast, finishes sooner.
        points = sum(summary["actual_points_per_order"].values())
        floor = max(0.0, (points * count - summary["bucket"]) / summary["restore_rate"])
        summary["bucket_floor_seconds"] = round(floor, 2)
        if floor:
            limit = f"need {floor:.1f} s from a full bucket (at most {count / floor:.2f} orders/s)"
        else:
            limit = f"fit in a full bucket ({summary['bucket']:.0f} points): no wait needed"
        print(
            f"[{label}] the bucket alone: {count} orders x {points:.0f} points {limit}",
            flush=True,
        )
    print(f"[{label}] median of {runs}:", flush=True)

    def cpu_ms(name: str) -> float:
        return statistics.median(1000 * r[name].run.cpu / count for r in rounds)

    summary["bare_cpu_ms_per_order"] = round(cpu_ms("bare"), 1)
    print(
        f"[{label}]   {'bare loop':<18}{bare:7.2f} orders/s "
        f"(client CPU {cpu_ms('bare'):.1f} ms/order)",
        flush=True,
    )
    ok = True
    for name in SIDES[1:]:
        per_run = [r[name].run.per_second / r["bare"].run.per_second for r in rounds]
        rate = statistics.median(rates(name))
        key = name.replace("-", "_")
        summary[f"{key}_per_second"] = round(rate, 2)
        summary[f"{key}_ratio"] = round(rate / bare, 2)
        summary[f"{key}_ratio_per_run"] = [round(x, 2) for x in per_run]
        summary[f"{key}_cpu_ms_per_order"] = round(cpu_ms(name), 1)
        summary[f"{key}_throttled"] = [r[name].run.throttled for r in rounds]
        summary[f"{key}_slept_seconds"] = [round(r[name].run.waited, 2) for r in rounds]
        summary[f"{key}_messages_retried"] = sum(r[name].run.retried for r in rounds)
        title = "Keelson, 1 worker" if name.endswith("1") else "Keelson, 2 workers"
        print(
            f"[{label}]   {title:<18}"
            f"{rate:7.2f} orders/s = {rate / bare:.2f}x the bare loop "
            f"(per run: {', '.join(f'{x:.2f}' for x in per_run)}; "
            f"client CPU {cpu_ms(name):.1f} ms/order)",
            flush=True,
        )
    summary["bare_throttled"] = [r["bare"].run.throttled for r in rounds]
    summary["bare_paced"] = [r["bare"].run.paced for r in rounds]
    summary["bare_slept_seconds"] = [round(r["bare"].run.waited, 2) for r in rounds]
    for name in SIDES:
        seen = [r[name].census for r in rounds]
        key = name.replace("-", "_")
        summary[f"{key}_store_orders"] = [c.orders for c in seen]
        summary[f"{key}_lost"] = sum(c.missing for c in seen)
        summary[f"{key}_duplicated"] = sum(c.duplicated for c in seen)
        good = all(c.ok(count) for c in seen)
        ok &= good
        print(
            f"[{label}]   {name + ' stores':<18}{'/'.join(str(c.orders) for c in seen)} orders, "
            f"{'/'.join(str(c.distinct) for c in seen)} source ids: "
            f"{sum(c.missing for c in seen)} lost, {sum(c.duplicated for c in seen)} duplicated, "
            f"{sum(c.unexpected for c in seen)} unexpected  {'OK' if good else 'WRONG'}",
            flush=True,
        )
    differ = sum(
        compare_stores(r[name].census, r["bare"].census) for r in rounds for name in SIDES[1:]
    )
    ok &= differ == 0
    summary["orders_differing_from_bare"] = differ
    summary["ok"] = ok
    points = summary["actual_points_per_order"]
    print(
        f"[{label}]   points per order (actual): "
        + ", ".join(f"{k} {v:.1f}" for k, v in points.items())
        + f"; orders differing from the bare loop's store: {differ}",
        flush=True,
    )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="orders per side, throttling on")
    parser.add_argument(
        "--unthrottled", type=int, default=100, help="orders per side, throttling off (0: skip)"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument("--database", default="keelson_bench_shopify")
    parser.add_argument("--keep", action="store_true", help="do not drop the bench database")
    args = parser.parse_args()

    # No qcluster runs here: the after-commit delivery tasks that enqueue() puts in the ORM
    # broker are never read; the drain is the delivery, and it is what is measured.
    server = prepare_database(args.database)
    emulator = None
    load_before = os.getloadavg()
    try:
        emulator, default_shop = start_emulator()
        from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
        from sandbox.shopify.control import ShopifySandboxClient
        from tenants.models import Agency

        control = ShopifySandboxClient(default_shop["base_url"])
        # Warm both processes up (the emulator's schema, the client library) on a store that
        # is not measured.
        ShopifyGateway(
            ShopifyCredentials(
                shop_domain=default_shop["domain"],
                access_token=default_shop["access_token"],
                endpoint=default_shop["base_url"],
            )
        ).get_shop()
        agency = Agency.objects.create(name="Bench agency", slug="bench-agency")
        common = {"agency": agency, "emulator": default_shop, "control": control}
        figures = {
            "throttled": measure(
                "throttled", count=args.orders, runs=args.runs, throttle=True, prefix=901, **common
            )
        }
        if args.unthrottled:
            figures["unthrottled"] = measure(
                "unthrottled",
                count=args.unthrottled,
                runs=args.runs,
                throttle=False,
                prefix=902,
                **common,
            )
        ratio = figures["throttled"]["keelson_1_ratio"]
        line = (
            f"\nKeelson (1 worker) / bare loop, throttling on: {ratio:.2f}x "
            f"(goal >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'}); "
            f"2 workers: {figures['throttled']['keelson_2_ratio']:.2f}x"
        )
        if "unthrottled" in figures:
            off = figures["unthrottled"]
            line += (
                f". Throttling off: {off['keelson_1_ratio']:.2f}x, "
                f"2 workers {off['keelson_2_ratio']:.2f}x"
            )
        load_after = os.getloadavg()
        print(line, flush=True)
        print(
            f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
            f"(1 min; {os.cpu_count()} cores)",
            flush=True,
        )
        load = {"before": round(load_before[0], 2), "after": round(load_after[0], 2)}
        print(json.dumps({**figures, "goal": ">= 0.8", "load_average": load}))
        return 0 if all(f["ok"] for f in figures.values()) else 1
    finally:
        if emulator is not None:
            stop(emulator)
        if not args.keep:
            drop_database(server, args.database)


if __name__ == "__main__":
    raise SystemExit(main())
