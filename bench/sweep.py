"""Benchmark of the policy sweep (orders.tasks.sweep_deadlines): does its cost follow the due
orders, not the size of the orders table?

    .venv/bin/python bench/sweep.py                # 100k and 1M orders, 1,000 due in each
    .venv/bin/python bench/sweep.py --keep         # keep the bench database afterwards
    .venv/bin/python bench/sweep.py --small 20000 --large 200000   # a quicker look

It works in a database of its own, ``keelson_bench`` (``--database``), on the same PostgreSQL
server as the dev database (``DATABASE_URL``, else the embedded server): created, migrated, filled
through the owner connection with ``INSERT ... SELECT generate_series``, and dropped at the end.
Nothing touches the dev or test databases. See docs/benchmarks.md, "Policy sweep".

Measured, each as the median of ``--runs`` sweeps (the due orders are reset between runs):

1. ``small`` orders (100,000), ``due`` of them due (1,000: 1 %);
2. ``large`` orders (1,000,000), the same 1,000 due: the ratio large/small is the goal
   (≤ 1.3: the table grew tenfold, the work did not);
3. ``large`` orders, 1 % due (10,000): the cost per due order, to show it stays flat.

Due orders are late and past their warning time: each gets two timeline events and two
notifications; 20 % of the rest are open with deadlines ahead (in the partial indexes, not due),
the others shipped (no deadlines). Orders spread over 20 merchants of one agency, whose one user
receives the digest e-mails (Django's locmem backend).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MERCHANTS = 20
OPEN_EVERY = 5  # one order in five is open, with deadlines ahead


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def prepare_database(name: str) -> str:
    """Create the bench database (dropping a leftover one) and point Django at it."""
    import psycopg

    from portal.database import owner_url

    server = owner_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _with_database(server, name)
    os.environ.pop("DATABASE_APP_URL", None)
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    return server


def drop_database(server: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def owner_sql(sql: str, params: list | None = None) -> int:
    from django.db import connections

    with connections["owner"].cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def seed_tenants() -> list[int]:
    from tenants.models import Agency, Membership, Merchant, Role, User

    agency = Agency.objects.using("owner").create(name="Bench agency", slug="bench-agency")
    ids = [
        Merchant.objects.using("owner")
        .create(agency=agency, name=f"Bench merchant {i}", slug=f"bench-{i}")
        .pk
        for i in range(MERCHANTS)
    ]
    user = User(username="bench", email="bench@keelson.example")
    user.set_unusable_password()
    user.save(using="owner")
    Membership.objects.using("owner").create(user=user, agency=agency, role=Role.AGENCY_OWNER)
    return ids


def insert_orders(merchant_ids: list[int], first: int, last: int, due_until: int) -> None:
    """Orders numbered first..last; those with a number ≤ due_until divisible by 100 are due."""
    from django.db import connections

    from orders.models import Order

    merchants = "ARRAY[" + ",".join(str(i) for i in merchant_ids) + "]::bigint[]"
    kind = (
        f"(CASE WHEN g <= {int(due_until)} AND mod(g, 100) = 0 THEN 'due' "
        f"WHEN mod(g, {OPEN_EVERY}) = 1 THEN 'open' ELSE 'shipped' END)"
    )
    now = "statement_timestamp()"
    overrides = {
        # Blocks of 100 orders per merchant in turn, so the due ones spread over all merchants.
        "merchant_id": f"({merchants})[1 + mod(g / 100, {len(merchant_ids)})]",
        "external_id": "'B' || lpad(g::text, 9, '0')",
        "marketplace_id": "'ATVPDKIKX0DER'",
        "status": f"(CASE WHEN {kind} = 'shipped' THEN 'Shipped' ELSE 'Unshipped' END)",
        "fulfillment_status": f"(CASE WHEN {kind} = 'shipped' THEN 'fulfilled' "
        "ELSE 'unfulfilled' END)",
        "financial_status": "'paid'",
        "purchase_date": f"(CASE {kind} WHEN 'due' THEN {now} - interval '25 days' "
        f"WHEN 'open' THEN {now} - mod(g, 48) * interval '1 hour' "
        f"ELSE {now} - mod(g, 365) * interval '1 day' END)",
        "source_updated_at": now,
        "latest_ship_date": f"(CASE {kind} WHEN 'due' THEN {now} - interval '1 day' "
        f"ELSE {now} + interval '2 days' END)",
        "ship_by": f"(CASE {kind} WHEN 'due' THEN {now} - interval '1 day' "
        f"WHEN 'open' THEN {now} + interval '2 days' END)",
        "confirm_by": f"(CASE {kind} WHEN 'due' THEN {now} + interval '5 days' "
        f"WHEN 'open' THEN {now} + interval '29 days' END)",
        "warn_at": f"(CASE {kind} WHEN 'due' THEN {now} - interval '2 days' "
        f"WHEN 'open' THEN {now} + interval '22 days' END)",
        "currency": "'USD'",
        "total_amount": "25.00",
        "buyer_name": "'Buyer ' || g",
        "buyer_email": "'buyer' || g || '@marketplace.amazon.example'",
        "shipping_address": "'{}'::jsonb",
        "created_at": now,
        "updated_at": now,
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
    sql = (
        f"INSERT INTO orders_order ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(%s, %s) AS g"
    )
    owner_sql(sql, [*params, first, last])


def make_more_due(first: int, last: int) -> int:
    """Turn the open orders numbered first..last and divisible by 100 into due ones."""
    return owner_sql(
        "UPDATE orders_order SET purchase_date = statement_timestamp() - interval '25 days', "
        "latest_ship_date = statement_timestamp() - interval '1 day', "
        "ship_by = statement_timestamp() - interval '1 day', "
        "confirm_by = statement_timestamp() + interval '5 days', "
        "warn_at = statement_timestamp() - interval '2 days', "
        "status = 'Unshipped', fulfillment_status = 'unfulfilled' "
        "WHERE external_id BETWEEN %s AND %s AND right(external_id, 2) = '00'",
        [f"B{first:09d}", f"B{last:09d}"],
    )


def reset_sweep_results() -> None:
    """Undo what a sweep did, so the next run finds the same due orders."""
    owner_sql(
        "DELETE FROM orders_orderevent WHERE kind IN "
        "('deadline_warning', 'ship_by_passed', 'auto_cancel_expected', 'pending_too_long')"
    )
    owner_sql("DELETE FROM notifications_notificationrecipient")
    owner_sql("DELETE FROM notifications_notification")
    owner_sql(
        "UPDATE orders_order SET warned_at = NULL, is_late = false, auto_cancel_expected = false "
        "WHERE warned_at IS NOT NULL OR is_late OR auto_cancel_expected"
    )
    vacuum()


def vacuum() -> None:
    from django.db import connections

    connection = connections["owner"]
    connection.ensure_connection()
    autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    try:
        with connection.cursor() as cursor:
            for table in (
                "orders_order",
                "orders_orderevent",
                "notifications_notification",
                "notifications_notificationrecipient",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
    finally:
        connection.set_autocommit(autocommit)


def measure(label: str, orders: int, due: int, runs: int) -> dict:
    from django.core import mail
    from django.db import connections

    from orders.tasks import sweep_deadlines

    times = []
    for _ in range(runs):
        reset_sweep_results()
        mail.outbox = []
        connections.close_all()  # every run opens its connections, as a worker's task would
        started = time.perf_counter()
        result = sweep_deadlines()
        times.append(time.perf_counter() - started)
        assert result["deadline_warning"] == due, result
        assert result["ship_by_passed"] == due, result
        assert len(mail.outbox) == 1, "one digest for the bench user"
    median = statistics.median(times)
    row = {"label": label, "orders": orders, "due": due, "seconds": median, "runs": times}
    print(
        f"{label:<28} {orders:>10,} orders {due:>7,} due   sweep {median * 1000:9.1f} ms "
        f"({median / due * 1e6:7.1f} µs per due order; runs: "
        + ", ".join(f"{t * 1000:.0f}" for t in times)
        + " ms)",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=None, help="due orders (default: 1%% of small)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="keelson_bench")
    parser.add_argument("--keep", action="store_true", help="do not drop the bench database")
    args = parser.parse_args()
    due = args.due if args.due is not None else args.small // 100
    if args.small % 100 or args.large % 100 or due * 100 > args.small:
        parser.error("sizes must be multiples of 100, with due ≤ 1% of small")
    due_until = due * 100

    server = prepare_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command

    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        merchants = seed_tenants()
        print(f"bench database {args.database}: migrated in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        insert_orders(merchants, 1, args.small, due_until)
        vacuum()
        print(f"inserted {args.small:,} orders in {time.perf_counter() - started:.1f} s")
        small = measure("small table, 1% due", args.small, due, args.runs)

        started = time.perf_counter()
        insert_orders(merchants, args.small + 1, args.large, due_until)
        vacuum()
        print(f"inserted {args.large - args.small:,} more in {time.perf_counter() - started:.1f} s")
        large = measure("large table, same due", args.large, due, args.runs)

        extra = make_more_due(args.small + 1, args.large)
        large_due = measure("large table, 1% due", args.large, due + extra, args.runs)

        ratio = large["seconds"] / small["seconds"]
        per_small = small["seconds"] / small["due"]
        per_large = large_due["seconds"] / large_due["due"]
        print()
        print(
            f"ratio large/small at the same {due:,} due orders: {ratio:.2f} "
            f"(goal ≤ 1.3: {'met' if ratio <= 1.3 else 'NOT met'})"
        )
        print(
            f"per due order: {per_small * 1e6:.0f} µs at {small['orders']:,} orders, "
            f"{per_large * 1e6:.0f} µs with {large_due['due']:,} due of {args.large:,}"
        )
        return 0 if ratio <= 1.3 else 1
    finally:
        if args.keep:
            print(f"kept database {args.database}")
        else:
            drop_database(server, args.database)


if __name__ == "__main__":
    sys.exit(main())
