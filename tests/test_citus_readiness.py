"""The tenant tables can be distributed by merchant_id (Citus; docs/scaling.md), read from the
live schema (pg_catalog), not from the models: every table with a merchant_id column has it in
its primary key and in every unique index, and every foreign key between two such tables joins on
merchant_id on both sides; or the table or key is an exception below, with its reason. An
exception that is no longer needed fails the test too, so the list stays true."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import IntegrityError, connections, transaction

pytestmark = pytest.mark.django_db

# Tables with a merchant_id that are not distributed: on Citus they are reference tables
# (copied to every node; a distributed table may point at them), like agencies, merchants and
# users. Their merchant_id may be null and they are read before the tenant is known.
REFERENCE_TABLES = {
    "tenants_membership": (
        "a membership gives a user an agency (merchant_id null) or one merchant; it is read on "
        "every request to find the scope, before a merchant is known"
    ),
    "tenants_apikey": (
        "a key belongs to an agency, a merchant (merchant_id null otherwise) or a fulfillment "
        "service, and is found by its prefix and hash (unique across all tenants) before its "
        "tenant is known"
    ),
    "fulfillment_fulfillmentservice": (
        "a service serves an agency's merchants (merchant_id null) or one merchant, and is found "
        "by its API key (unique across tenants)"
    ),
    "portal_savedlistview": (
        "a saved view belongs to a user; merchant_id is the merchant chosen when it was saved, "
        "null for 'All my merchants'; unique per user and name"
    ),
}

# Foreign keys between tenant tables that point at a reference table (allowed on Citus: a
# distributed table may reference a reference table), by (table, column).
FOREIGN_KEYS_TO_REFERENCE_TABLES = {
    ("fulfillment_fulfillmentorder", "service_id"): "the service is a reference table",
    ("fulfillment_fulfillment", "service_id"): "the service is a reference table",
    ("fulfillment_fulfillmentlocation", "service_id"): "the service is a reference table",
    ("refunds_refund", "created_by_api_key_id"): "the API key is a reference table",
}


@dataclass
class Table:
    name: str
    primary_key: list[str]
    unique_indexes: dict[str, list[str]]  # name -> key columns ("<expr>" for an expression)
    merchant_id_nullable: bool
    id_is_identity: bool
    id_indexed: bool


@dataclass
class ForeignKey:
    name: str
    table: str
    columns: list[str]
    target: str
    target_columns: list[str]


def _columns(cursor, table_oid: int, attnums: list[int]) -> list[str]:
    names = []
    for attnum in attnums:
        if attnum == 0:
            names.append("<expr>")
            continue
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum = %s",
            [table_oid, attnum],
        )
        names.append(cursor.fetchone()[0])
    return names


def read_schema() -> tuple[dict[str, Table], list[ForeignKey]]:
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.oid, c.relname, a.attnotnull
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'merchant_id'
                AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p')
            """
        )
        rows = cursor.fetchall()
        tables: dict[str, Table] = {}
        oids: dict[int, str] = {}
        for oid, name, notnull in rows:
            oids[oid] = name
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, i.indisprimary,
                       (i.indkey::int2[])[0:i.indnkeyatts - 1]
                FROM pg_index i WHERE i.indrelid = %s AND i.indisunique
                """,
                [oid],
            )
            pk: list[str] = []
            uniques: dict[str, list[str]] = {}
            for index_name, primary, attnums in cursor.fetchall():
                cols = _columns(cursor, oid, list(attnums))
                uniques[index_name] = cols
                if primary:
                    pk = cols
            cursor.execute(
                "SELECT attidentity FROM pg_attribute WHERE attrelid = %s AND attname = 'id'",
                [oid],
            )
            identity = cursor.fetchone()
            cursor.execute(
                """
                SELECT count(*) FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                WHERE i.indrelid = %s AND a.attname = 'id'
                """,
                [oid],
            )
            tables[name] = Table(
                name=name,
                primary_key=pk,
                unique_indexes=uniques,
                merchant_id_nullable=not notnull,
                id_is_identity=bool(identity and identity[0] in ("a", "d")),
                id_indexed=cursor.fetchone()[0] > 0,
            )
        cursor.execute(
            """
            SELECT conname, conrelid, conkey::int2[], confrelid, confkey::int2[]
            FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s) AND confrelid = ANY(%s)
            """,
            [list(oids), list(oids)],
        )
        fks = [
            ForeignKey(
                name=name,
                table=oids[table],
                columns=_columns(cursor, table, list(cols)),
                target=oids[target],
                target_columns=_columns(cursor, target, list(target_cols)),
            )
            for name, table, cols, target, target_cols in cursor.fetchall()
        ]
    return tables, fks


def joins_on_merchant(fk: ForeignKey) -> bool:
    return ("merchant_id", "merchant_id") in zip(fk.columns, fk.target_columns, strict=True)


def table_problems(table: Table) -> list[str]:
    problems = []
    if table.merchant_id_nullable:
        problems.append(f"{table.name}: merchant_id may be null (it would be the distribution key)")
    if "merchant_id" not in table.primary_key:
        problems.append(f"{table.name}: primary key {table.primary_key} lacks merchant_id")
    for index, cols in sorted(table.unique_indexes.items()):
        if "merchant_id" not in cols:
            problems.append(f"{table.name}: unique index {index} {cols} lacks merchant_id")
    return problems


def fk_problems(fk: ForeignKey) -> list[str]:
    if joins_on_merchant(fk):
        return []
    return [f"{fk.table}: foreign key {fk.columns} -> {fk.target}{fk.target_columns}"]


def test_every_tenant_table_is_keyed_and_joined_by_merchant_or_a_documented_exception():
    tables, fks = read_schema()
    assert {"orders_order", "integrations_outboxmessage", "refunds_refund"} <= set(tables)

    problems: list[str] = []
    distributed = {name: t for name, t in tables.items() if name not in REFERENCE_TABLES}
    for table in distributed.values():
        problems += table_problems(table)
    for fk in fks:
        if fk.table in REFERENCE_TABLES:
            continue  # a reference table's own keys (see its reason)
        if (fk.table, fk.columns[-1]) in FOREIGN_KEYS_TO_REFERENCE_TABLES:
            continue
        problems += fk_problems(fk)
    assert problems == [], "not distributable by merchant_id:\n" + "\n".join(problems)

    # `id` (Django's primary key) stays unique by its identity sequence, and indexed for
    # lookups by id alone, where it is no longer a key of its own.
    for table in distributed.values():
        assert table.id_is_identity, f"{table.name}.id is not an identity column"
        assert table.id_indexed, f"{table.name}: no index on id"

    print(
        f"\n{len(distributed)} distributed tables, {len(REFERENCE_TABLES)} reference tables, "
        f"{sum(joins_on_merchant(fk) for fk in fks)} foreign keys on merchant_id, "
        f"{len(FOREIGN_KEYS_TO_REFERENCE_TABLES)} to reference tables"
    )


def test_every_exception_is_still_needed():
    tables, fks = read_schema()
    for name, reason in REFERENCE_TABLES.items():
        assert reason
        assert name in tables, f"{name} is no more (or has no merchant_id): drop its exception"
        table = tables[name]
        outgoing = [fk for fk in fks if fk.table == name]
        needed = table_problems(table) or any(fk_problems(fk) for fk in outgoing)
        assert needed, f"{name} could be distributed now: drop its exception"
    by_column = {(fk.table, fk.columns[-1]): fk for fk in fks}
    for (table, column), reason in FOREIGN_KEYS_TO_REFERENCE_TABLES.items():
        assert reason
        fk = by_column.get((table, column))
        assert fk is not None, f"no foreign key {table}.{column} any more: drop its exception"
        assert fk.target in REFERENCE_TABLES, f"{table}.{column} points at a distributed table"
        assert fk_problems(fk), f"{table}.{column} joins on merchant_id now: drop its exception"


def test_a_row_cannot_point_at_another_merchants_row(make_merchant, make_order):
    """What the composite keys add on any PostgreSQL: an order line of merchant B under an order
    of merchant A is refused by the database itself (at commit: the keys are deferred)."""
    from orders.models import OrderLine
    from tenants.scope import tenant_context

    a, b = make_merchant(), make_merchant()
    order = make_order(a)
    with tenant_context([a, b]):
        with pytest.raises(IntegrityError, match="tenant_fk"), transaction.atomic():
            OrderLine.objects.create(merchant=b, order=order, external_id="x", quantity_ordered=1)
            with connections["default"].cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        OrderLine.objects.create(merchant=a, order=order, external_id="y", quantity_ordered=1)
        with connections["default"].cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked now, and passes
        assert OrderLine.objects.filter(order=order, external_id="y").exists()
