"""Benchmark of the partner API at scale: does `GET /api/v1/orders/` (with its common filters and
deep cursor pages) and the order detail stay as fast with 1,000,000 orders as with 10,000?

    .venv/bin/python bench/api.py              # 10k then 1M orders over 1,000 merchants (~10 min)
    .venv/bin/python bench/api.py --quick      # a smoke run: 2k then 20k orders, 50 merchants
    .venv/bin/python bench/api.py --small 10000 --large 1000000 --merchants 1000 --requests 200

It works in a database of its own, ``keelson_bench_api`` (``--database``), on the server of the dev
database (``DATABASE_URL``, else the embedded one): created, migrated, filled and dropped at the
end (``--keep`` keeps it). The dev and test databases are never touched. Rows are generated
server-side (``INSERT ... SELECT ... FROM generate_series``, the data never crosses the wire), with
the tables' secondary indexes dropped during a load and rebuilt after it, then ``VACUUM
ANALYZE``.

Data: ``--merchants`` merchants in agencies of 100; an order's merchant is skewed (the merchant
at rank r gets a share ~ 1/sqrt(r)): the largest holds about 3 % of all orders. Statuses as a
seller's history has them: 80 % Shipped, 7 % Canceled, 8 % Unshipped and 2 % PartiallyShipped
(bought in the last 28 days, with their deadlines: those past the A9 warning are at risk and
warned, as the sweep leaves them, those past the ship-by date late), 3 % Pending (verify-by
set). 1 to 3 lines and 2 timeline events per order. Purchase dates over two years; open orders
changed in the last two days.

Measured through the real stack, in process: the project's WSGI application (``portal.wsgi``:
every middleware, DRF, API-key authentication, the tenant scope as ``app.merchant_ids`` and
row-level security on the application role's connection, the JSON renderer) called with a WSGI
environ, as gunicorn would call it, without the network. Persistent database connections
(``CONN_MAX_AGE=600``) as a deployment runs; ``DEBUG`` off for the timing (no query log).
``--requests`` requests per case after a warm-up, the cases interleaved (one request of each in
turn: the shared machine's load drifts), p50/p95/p99 in milliseconds of wall time, and the
median CPU time of this process per request (the Python side's work, which a loaded machine
stretches less than wall time; the database server's time is not in it):

- bare: a trivial DRF endpoint (``/api/v1/_bench/ping/``, same authentication and scope
  check, body ``{"ok": true}``), the floor of any API call;
- list: newest first; status=Unshipped; at_risk=true; updated_after (the merchant's last 100
  changes); deep pages (follow `next` ``--pages`` pages from the start, every full page a
  sample); an agency key's list (100 merchants);
- detail: ``/api/v1/orders/{id}/`` of random orders of the merchant.

The merchant key is the largest merchant's. First at ``--small`` orders, then the table grows
to ``--large`` orders (the same distribution) and the same cases run again. Goals: p95 at
large <= 1.5 x p95 at small, and <= 3 x the bare endpoint's p95. See docs/benchmarks.md, "API".

The two sizes are measured minutes apart, and a shared machine's load moves in between: the
bare endpoint, which reads no order, is the control. Each case's p95 is taken as a multiple of
the bare endpoint's p95 in the same rounds, and the growth from small to large is judged on
those multiples (``1M/10k vs bare``); the raw ratio of wall times is printed beside it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import drop_database, percentile, prepare_database

AGENCY_SIZE = 100
PAGE = 50

# --- the bare endpoint, on the same URL conf as the API ------------------------------------------

urlpatterns: list = []


def _install_urls() -> None:
    """This module becomes the URL conf: the project's, plus the bare endpoint under /api/v1/."""
    from django.conf import settings
    from django.urls import clear_url_caches, include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from tenants.api_auth import ANY_SCOPE, HasScope

    class Ping(APIView):
        permission_classes = [HasScope]
        required_scope = ANY_SCOPE

        def get(self, request):
            return Response({"ok": True})

    urlpatterns[:] = [
        path("api/v1/_bench/ping/", Ping.as_view()),
        path("", include(settings.ROOT_URLCONF)),
    ]
    settings.ROOT_URLCONF = __name__
    clear_url_caches()


# --- loading -------------------------------------------------------------------------------


def owner_sql(sql: str, params: list | None = None) -> int:
    from django.db import connections

    with connections["owner"].cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def seed_tenants(merchants: int) -> list[int]:
    from tenants.models import Agency, Merchant

    agencies = Agency.objects.using("owner").bulk_create(
        Agency(name=f"Bench agency {a}", slug=f"bench-agency-{a}")
        for a in range((merchants + AGENCY_SIZE - 1) // AGENCY_SIZE)
    )
    rows = Merchant.objects.using("owner").bulk_create(
        Merchant(
            agency=agencies[i // AGENCY_SIZE], name=f"Bench merchant {i:04d}", slug=f"bench-{i}"
        )
        for i in range(merchants)
    )
    return [m.pk for m in rows]


def _order_columns(merchant_ids: list[int]) -> tuple[list[str], list[str], list]:
    """Column names and SQL expressions of an order numbered g (a row of generate_series), with
    r, s, t, u uniform in [0, 1) drawn per row (the subquery in ``insert_orders``)."""
    from django.db import connections

    from orders.models import Order

    merchants = "ARRAY[" + ",".join(str(i) for i in merchant_ids) + "]::bigint[]"
    now = "statement_timestamp()"
    # s picks the status; open orders were bought in the last 28 days, the others in two years.
    status = (
        "(CASE WHEN s < 0.80 THEN 'Shipped' WHEN s < 0.87 THEN 'Canceled' "
        "WHEN s < 0.95 THEN 'Unshipped' WHEN s < 0.97 THEN 'PartiallyShipped' ELSE 'Pending' END)"
    )
    open_ = "(s >= 0.87 AND s < 0.97)"
    mfn_open = f"({open_} AND mod(g, 10) <> 0)"  # AFN orders (one in ten) have no deadlines
    purchase = (
        f"(CASE WHEN s >= 0.87 THEN {now} - t * interval '28 days' "
        f"ELSE {now} - interval '28 days' - t * interval '700 days' END)"
    )
    overrides = {
        # Skewed: rank floor(M * r^2), so the share of the merchant at rank k falls as 1/sqrt(k).
        "merchant_id": f"({merchants})[1 + floor({len(merchant_ids)} * r * r)::int]",
        "external_id": "'B' || g || '-' || lpad((floor(t * 1e7))::text, 7, '0')",
        "marketplace_id": "'ATVPDKIKX0DER'",
        "sales_channel": "'Amazon.com'",
        "status": status,
        "fulfillment_channel": "(CASE WHEN mod(g, 10) = 0 THEN 'AFN' ELSE 'MFN' END)",
        "fulfillment_status": "(CASE WHEN s < 0.80 THEN 'fulfilled' ELSE 'unfulfilled' END)",
        "financial_status": "(CASE WHEN s < 0.87 OR s >= 0.97 THEN 'paid' ELSE 'pending' END)",
        "is_prime": "(mod(g, 3) = 0)",
        "purchase_date": purchase,
        "source_updated_at": f"(CASE WHEN {open_} THEN {now} - u * interval '2 days' "
        f"ELSE {purchase} + interval '3 days' END)",
        "latest_ship_date": f"{purchase} + interval '2 days'",
        "ship_by": f"(CASE WHEN {mfn_open} THEN {purchase} + interval '2 days' END)",
        "confirm_by": f"(CASE WHEN {mfn_open} THEN {purchase} + interval '30 days' END)",
        "warn_at": f"(CASE WHEN {mfn_open} THEN {purchase} + interval '23 days' END)",
        # The sweep (every minute) has warned those past their warning time (A9).
        "warned_at": f"(CASE WHEN {mfn_open} AND {purchase} + interval '23 days' <= {now} "
        f"THEN {purchase} + interval '23 days' END)",
        "verify_by": f"(CASE WHEN s >= 0.97 THEN {purchase} + interval '21 days' END)",
        "is_late": f"({mfn_open} AND {purchase} + interval '2 days' < {now})",
        "currency": "'USD'",
        "total_amount": "round((5 + t * 200)::numeric, 2)",
        "buyer_name": "'Buyer ' || g",
        "buyer_email": "'buyer' || g || '@marketplace.amazon.example'",
        "shipping_address": "'{}'::jsonb",
        "created_at": purchase,
        "updated_at": f"(CASE WHEN {open_} THEN {now} - u * interval '2 days' "
        f"ELSE {purchase} + interval '3 days' END)",
    }
    columns, values, params = [], [], []
    for field in Order._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(f'"{field.column}"')
        if field.column in overrides:
            values.append(overrides[field.column])
        elif field.null and not field.has_default():
            values.append("NULL")
        else:
            values.append("%s")
            params.append(
                field.get_db_prep_save(field.get_default(), connection=connections["owner"])
            )
    return columns, values, params


def _secondary_indexes(tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, definition) of the tables' indexes that back no constraint."""
    from django.db import connections

    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND c.oid IS NULL",
            [list(tables)],
        )
        return cursor.fetchall()


def insert_orders(merchant_ids: list[int], first: int, last: int) -> float:
    """Orders numbered first..last, their lines and their timeline events. Returns seconds."""
    from django.db import connections

    started = time.perf_counter()
    tables = ("orders_order", "orders_orderline", "orders_orderevent")
    indexes = _secondary_indexes(tables)
    columns, values, params = _order_columns(merchant_ids)
    connection = connections["owner"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM orders_order")
        before = cursor.fetchone()[0]
        # A bulk load as an operator does one: no foreign-key or append-only triggers per row
        # (the rows are made consistent here), secondary indexes built once at the end.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute("SET synchronous_commit = off")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(
            f"INSERT INTO orders_order ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM "
            "(SELECT g, random() AS r, random() AS s, random() AS t, random() AS u "
            " FROM generate_series(%s::int, %s::int) AS g) AS x",
            [*params, first, last],
        )
        cursor.execute(
            "INSERT INTO orders_orderline (merchant_id, order_id, external_id, sku, asin, title, "
            "quantity_ordered, quantity_shipped, item_price, item_tax, shipping_price, "
            "shipping_tax, promotion_discount, buyer_cancel_requested, buyer_cancel_reason) "
            "SELECT o.merchant_id, o.id, o.id || '-' || n, 'SKU-' || mod(o.id * 7 + n, 5000), "
            "'B0' || lpad(mod(o.id + n, 99999)::text, 8, '0'), 'Bench item ' || n, 1 + mod(n, 2), "
            "CASE WHEN o.fulfillment_status = 'fulfilled' THEN 1 + mod(n, 2) ELSE 0 END, "
            "o.total_amount, 0, 0, 0, 0, false, '' "
            "FROM orders_order o, generate_series(1, 1 + mod(o.id, 3)::int) AS n WHERE o.id > %s",
            [before],
        )
        cursor.execute(
            "INSERT INTO orders_orderevent (merchant_id, order_id, kind, message, actor_type, "
            "actor, data, message_i18n, created_at) "
            "SELECT o.merchant_id, o.id, e.kind, e.message, 'amazon', '', '{}'::jsonb, "
            "jsonb_build_object('template', e.message, 'params', '{}'::jsonb), "
            "o.purchase_date + e.later "
            "FROM orders_order o, (VALUES ('imported', 'Imported from Amazon', interval '0'), "
            "('status_changed', 'Status changed', interval '1 hour')) AS e(kind, message, later) "
            "WHERE o.id > %s",
            [before],
        )
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET session_replication_role")
    vacuum(tables)
    return time.perf_counter() - started


def vacuum(tables: tuple[str, ...]) -> None:
    from django.db import connections

    connection = connections["owner"]
    connection.ensure_connection()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


# --- measuring -----------------------------------------------------------------------------


class WsgiClient:
    """Calls the project's WSGI application as a WSGI server would (no network)."""

    def __init__(self, key: str):
        from portal.wsgi import application

        self.app = application
        self.key = key

    def get(self, url: str) -> tuple[tuple[float, float], dict]:
        """((wall seconds, this process's CPU seconds), the JSON body)."""
        parts = urlsplit(url)
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": f"Bearer {self.key}",
            "HTTP_ACCEPT": "application/json",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status: list[str] = []
        started, cpu = time.perf_counter(), time.process_time()
        response = self.app(environ, lambda s, h, exc_info=None: status.append(s))
        try:
            body = b"".join(response)
        finally:
            response.close()  # request_finished: what a server does after sending
        elapsed = (time.perf_counter() - started, time.process_time() - cpu)
        if not status or not status[0].startswith("200"):
            raise RuntimeError(f"GET {url}: {status} {body[:300]!r}")
        return elapsed, json.loads(body)


def _list(path: str, **params) -> str:
    params.setdefault("limit", PAGE)
    return f"{path}?{urlencode(params)}"


# The updated_after case asks for the merchant's last CHANGES changes (a partner's poll): the
# same number of rows at both sizes, where a fixed hour would hold a few of a small table's
# orders and pages of a large one's.
CHANGES = 2 * PAGE


def _changes_since(order_ids: list[int], changes: int) -> str:
    """The time after which the given orders hold ``changes`` changes (updated_at)."""
    from django.db import connections

    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT updated_at FROM orders_order WHERE id = ANY(%s) "
            "ORDER BY updated_at DESC OFFSET %s LIMIT 1",
            [order_ids, changes],
        )
        row = cursor.fetchone()
    return row[0].isoformat() if row else "2000-01-01T00:00:00+00:00"


def cases(merchant_key: str, agency_key: str, order_ids: list[int], args) -> dict:
    """name -> (key, callable returning one latency sample or several)."""
    since = _changes_since(order_ids, CHANGES)
    rng = random.Random(7)

    def one(url):
        return lambda client: [client.get(url)[0]]

    def deep(client):
        # Full pages only: at the small size the merchant's list ends before --pages pages,
        # and a short last page would be a lighter sample than any page at the large size.
        samples, url = [], _list("/api/v1/orders/")
        for _ in range(args.pages):
            elapsed, body = client.get(url)
            if len(body["results"]) == PAGE:
                samples.append(elapsed)
            if not body["next"]:
                break
            url = body["next"]
        return samples

    def detail(client):
        return [client.get(f"/api/v1/orders/{rng.choice(order_ids)}/")[0]]

    return {
        "bare endpoint": (merchant_key, one("/api/v1/_bench/ping/")),
        "list": (merchant_key, one(_list("/api/v1/orders/"))),
        "list status=Unshipped": (merchant_key, one(_list("/api/v1/orders/", status="Unshipped"))),
        "list at_risk=true": (merchant_key, one(_list("/api/v1/orders/", at_risk="true"))),
        f"list updated_after (last {CHANGES})": (
            merchant_key,
            one(_list("/api/v1/orders/", updated_after=since)),
        ),
        f"list, {args.pages} pages deep": (merchant_key, deep),
        "list, agency key": (agency_key, one(_list("/api/v1/orders/"))),
        "detail": (merchant_key, detail),
    }


def measure(merchant_key: str, agency_key: str, order_ids: list[int], args) -> dict:
    """Every case in turn, round after round, until each has ``--requests`` samples: the shared
    machine's load drifts, and this way every case sees the same drift."""
    clients: dict[str, WsgiClient] = {}
    runs = {
        name: (clients.setdefault(key, WsgiClient(key)), run)
        for name, (key, run) in cases(merchant_key, agency_key, order_ids, args).items()
    }
    for _ in range(args.warmup):
        for client, run in runs.values():
            run(client)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    while any(len(s) < args.requests for s in samples.values()):
        for name, (client, run) in runs.items():
            if len(samples[name]) < args.requests:
                samples[name].extend(run(client))
    results = {}
    for name, values in samples.items():
        wall = [w * 1000 for w, _ in values[: args.requests]]
        cpu = [c * 1000 for _, c in values[: args.requests]]
        results[name] = {p: percentile(wall, p) for p in (50, 95, 99)}
        results[name]["cpu"] = percentile(cpu, 50)
        print(
            f"  {name:28} p50 {results[name][50]:7.2f}  p95 {results[name][95]:7.2f}  "
            f"p99 {results[name][99]:7.2f} ms  (CPU p50 {results[name]['cpu']:6.2f} ms)",
            flush=True,
        )
    return results


def profile(name: str, merchant_key: str, agency_key: str, order_ids: list[int], args) -> None:
    import cProfile
    import pstats

    key, run = cases(merchant_key, agency_key, order_ids, args)[name]
    client = WsgiClient(key)
    run(client)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        run(client)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if args.profile_out:
        stats.dump_stats(args.profile_out)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)


def explain(merchant_id: int, agency_merchant_ids: list[int], pages: int) -> None:
    """EXPLAIN ANALYZE of the list queries as the application role runs them (RLS on), built
    by the view's own queryset and filters."""
    from django.db import connections

    from foundation import clock
    from orders import selectors
    from orders.api import OrderList
    from tenants.scope import tenant_context

    def plan(name: str, qs) -> None:
        sql, params = qs[: PAGE + 1].query.sql_with_params()
        with connections["default"].cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            lines = "\n".join("    " + row[0] for row in cursor.fetchall())
        print(f"  EXPLAIN ANALYZE {name}:\n{lines}")

    def page() -> object:
        return OrderList().get_queryset()

    with tenant_context(merchant_id):
        plan("list", page())
        plan("status", page().filter(status="Unshipped"))
        plan("at_risk", page().filter(selectors.at_risk_filter(clock.now())))
        plan("updated_after", page().filter(updated_at__gt=clock.now() - timedelta(hours=1)))
        deep = page().values_list("id", flat=True)[PAGE * pages : PAGE * pages + 1]
        position = next(iter(deep), None)
        if position is not None:
            plan(f"page {pages + 1}", page().filter(id__lt=position))
    with tenant_context(agency_merchant_ids):
        plan("agency list", page())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="samples per case")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--pages", type=int, default=20, help="pages followed in the deep case")
    parser.add_argument("--database", default="keelson_bench_api")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--explain", action="store_true", help="print the list queries' plans")
    parser.add_argument(
        "--profile", metavar="CASE", help="cProfile this case (at the large size) and print it"
    )
    parser.add_argument(
        "--profile-out", metavar="PATH", help="with --profile: also save the stats (pstats) here"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large, args.merchants = 2_000, 20_000, 50
        args.requests, args.warmup, args.pages = 20, 2, 5

    os.environ["CONN_MAX_AGE"] = "600"
    # One key asks as fast as the stack answers: the bench measures the API, not its rate limit.
    os.environ.setdefault("KEELSON_API_READS_PER_MINUTE", "100000000")
    server = prepare_database(args.database)
    try:
        return run(args)
    finally:
        if not args.keep:
            drop_database(server, args.database)


def run(args) -> int:
    from django.conf import settings
    from django.db import connections

    from tenants.models import Agency, Merchant
    from tenants.services import create_api_key

    settings.DEBUG = False  # no query log in the timed requests
    _install_urls()
    started = time.perf_counter()
    merchant_ids = seed_tenants(args.merchants)
    largest = Merchant.objects.using("owner").get(pk=merchant_ids[0])
    merchant_key = create_api_key(name="bench", scopes=["orders:read"], merchant=largest).raw_key
    agency = Agency.objects.using("owner").get(pk=largest.agency_id)
    agency_key = create_api_key(name="bench", scopes=["orders:read"], agency=agency).raw_key
    agency_merchant_ids = list(
        Merchant.objects.using("owner").filter(agency=agency).values_list("id", flat=True)
    )
    print(f"{args.merchants} merchants in {time.perf_counter() - started:.1f} s", flush=True)

    def order_ids() -> list[int]:
        with connections["owner"].cursor() as cursor:
            cursor.execute("SELECT id FROM orders_order WHERE merchant_id = %s", [largest.pk])
            return [row[0] for row in cursor.fetchall()]

    figures = {}
    loaded = 0
    for size in (args.small, args.large):
        seconds = insert_orders(merchant_ids, loaded + 1, size)
        loaded = size
        ids = order_ids()
        print(
            f"\n{size:,} orders loaded in {seconds:.1f} s (lines, events, indexes, VACUUM "
            f"ANALYZE); the merchant's: {len(ids):,}",
            flush=True,
        )
        if args.explain:
            explain(largest.pk, agency_merchant_ids, args.pages)
        figures[size] = measure(merchant_key, agency_key, ids, args)
        connections.close_all()
    if args.profile:
        profile(args.profile, merchant_key, agency_key, ids, args)

    small, large = figures[args.small], figures[args.large]
    bare, bare_cpu = large["bare endpoint"][95], large["bare endpoint"]["cpu"]
    small_bare = small["bare endpoint"][95]
    print(
        f"\nms; {args.requests} requests per case; in-process WSGI (portal.wsgi), API key, RLS as "
        f"the application role; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"{'case':28} {f'p95 {args.small:,}':>11} {f'p95 {args.large:,}':>13} "
        f"{'large/small':>11} {'small/bare':>10} {'large/bare':>10} {'growth vs bare':>14} "
        f"{'CPU p50 large':>13} {'CPU vs bare':>11}"
    )
    met = True
    for name in large:
        ratio = large[name][95] / small[name][95]
        vs_bare = large[name][95] / bare
        small_vs_bare = small[name][95] / small_bare
        growth = vs_bare / small_vs_bare
        ok = name == "bare endpoint" or (growth <= 1.5 and vs_bare <= 3)
        met &= ok
        print(
            f"{name:28} {small[name][95]:11.2f} {large[name][95]:13.2f} {ratio:11.2f} "
            f"{small_vs_bare:10.2f} {vs_bare:10.2f} {growth:14.2f} "
            f"{large[name]['cpu']:13.2f} {large[name]['cpu'] / bare_cpu:11.2f}"
            f"  {'' if ok else 'MISSED'}"
        )
    print(
        f"the bare endpoint (no order read) went from {small_bare:.2f} to {bare:.2f} ms p95 "
        f"between the sizes: x {bare / small_bare:.2f}, the machine's drift"
    )
    print(
        "goals (p95 large <= 1.5 x small, judged as growth against the bare endpoint; "
        "<= 3 x the bare endpoint): " + ("met" if met else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
