"""Fast bulk writes for the Amazon sync. Each column goes to PostgreSQL as one array value
(server-side binding) and ``unnest`` turns the arrays back into rows, so a page is one
statement: ``write_linked`` inserts a table's rows with their children's (``ON CONFLICT ... DO
UPDATE`` where asked), ``update`` is ``bulk_update`` as one ``UPDATE ... FROM``. The statements
are checked by row-level security like any other (the tenant scope is applied by the database
backend as always), with the tables' constraints and triggers.

Same result as ``bulk_create(update_conflicts=True)`` and ``bulk_update`` for the rows given
(``auto_now`` and ``auto_now_add`` fields set as ``save`` would), without Django's per-value
preparation and model instances, which dominated the sync's ingest time, nor ``bulk_update``'s
``CASE WHEN`` per row and field, which was most of the sync's hook; one round trip where the
``COPY`` into a staging table and the ``INSERT ... SELECT`` from it took three a table
(docs/benchmarks.md, "Sync: ingest").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from django.db import connections, models, router, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.utils import timezone
from psycopg.types.json import Jsonb


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def update(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """``bulk_update(objs, fields)`` as one ``UPDATE ... FROM unnest(...)``: the rows of
    ``objs`` (by primary key) get the objects' values of ``fields``, and nothing else changes
    (``auto_now`` is not applied, as with ``bulk_update``: set it in ``fields``). Returns the
    number of rows updated."""
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    staged = [opts.pk, *(opts.get_field(n) for n in fields)]
    params: dict[str, object] = {}
    arrays, aliases = [], []
    for i, f in enumerate(staged):
        name = f"u_{i}"
        values = [obj.__dict__[f.attname] for obj in objs]
        if isinstance(f, models.JSONField):
            values = [None if v is None else Jsonb(v) for v in values]
        params[name] = values
        arrays.append(f"%({name})b::{_array_type(f, connection)}")
        aliases.append(name)
    assignments = ", ".join(
        f"{_quote(f.column)} = s.{alias}" for f, alias in zip(staged[1:], aliases[1:], strict=True)
    )
    sql = (
        f"UPDATE {_quote(opts.db_table)} AS t SET {assignments} "
        f"FROM unnest({', '.join(arrays)}) AS s({', '.join(aliases)}) "
        f"WHERE t.{_quote(opts.pk.column)} = s.{aliases[0]}"
    )
    with transaction.atomic(using=connection.alias, savepoint=False), bound_cursor(model) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- several tables in one statement ---------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """Rows of one table for ``write_linked``: each row holds the values of the fields
    ``names`` (attnames: ``merchant_id``, not ``merchant``), in that order. Every other column
    gets its field's default, as a new instance would (``auto_now`` and ``auto_now_add``: now);
    the defaults must not depend on the row (no per-row callables but ``dict`` and ``list``). A
    row that conflicts with a stored one on ``unique_fields`` updates only ``update_fields`` of
    it (no ``unique_fields``: plain inserts)."""

    model: type[models.Model]
    names: Sequence[str]
    rows: Sequence[tuple]
    unique_fields: Sequence[str] = ()
    update_fields: Sequence[str] = ()


def write_linked(parent: Rows, key: str, children: Sequence[tuple[Rows, str]] = ()) -> dict:
    """Write ``parent``'s rows and their children's rows in one statement; returns the primary
    key of each parent row written (inserted or updated), by its value of ``key``.

    ``key`` is a field of the parent whose values are unique among its rows (the parents'
    primary keys are not known before the statement). Each child comes with ``link``, the
    attname of its foreign key to the parent: in its rows, that position holds the parent
    row's value of ``key``, and the row is written with that parent's primary key; a child of
    no parent given fails (the link column is not null). Rows are written in the order given,
    each table's: their ids ascend in it."""
    if not parent.rows:
        return {}
    using = router.db_for_write(parent.model)
    connection = connections[using]
    now = timezone.now()
    params: dict[str, object] = {}
    opts = parent.model._meta
    pk = _quote(opts.pk.column)
    key_field = opts.get_field(key)
    ctes = [
        f"_p AS ({_insert_select(parent, now, params, 'p', connection)} "
        f"RETURNING {pk}, {_quote(key_field.column)})"
    ]
    for n, (child, link) in enumerate(children):
        if child.rows:
            joined = (link, key_field, pk)
            sql = _insert_select(child, now, params, f"c{n}", connection, joined)
            ctes.append(f"_c{n} AS ({sql})")
    sql = f"WITH {', '.join(ctes)} SELECT {pk}, {_quote(key_field.column)} FROM _p"
    with transaction.atomic(using=using, savepoint=False), bound_cursor(parent.model) as cursor:
        cursor.execute(sql, params)
        return {row[1]: row[0] for row in cursor.fetchall()}


def _insert_select(rows: Rows, now, params: dict, prefix: str, connection, joined=None) -> str:
    """``INSERT INTO <table> ... SELECT ... FROM unnest(<one array a column>)``, in the order of
    the rows (``WITH ORDINALITY``); with ``joined`` (link attname, the parent's key field, its
    primary key column) the link column is the primary key of the parent row (CTE ``_p``)
    whose key the row holds. Adds its parameters to ``params`` (named after ``prefix``)."""
    model = rows.model
    opts = model._meta
    fields = _columns(model)
    by_attname = {f.attname: f for f in fields}
    given = [by_attname[n] for n in rows.names]
    rest = [f for f in fields if f.attname not in set(rows.names)]
    arrays, aliases, select = [], [], []
    columns = list(zip(*rows.rows, strict=True))
    for i, (f, values) in enumerate(zip(given, columns, strict=True)):
        name = f"{prefix}_{i}"
        json = isinstance(f, models.JSONField)
        if joined and f.attname == joined[0]:
            arrays.append(f"%({name})b::{_array_type(joined[1], connection)}")
            aliases.append(name)
            select.append(f"_p.{joined[2]}")
            link_alias = name
        elif not json and values.count(values[0]) == len(values):
            # The same value in every row (the merchant, an account, often flags and empty
            # strings): sent once, not once a row.
            params[name] = values[0]
            select.append(f"%({name})b::{_base_type(f, connection)}")
            continue
        elif json and None not in values:
            # One JSON array for the column (one json.dumps, not one a row), its element for
            # each row picked by the row's position.
            params[name] = Jsonb(values)
            select.append(f"%({name})b::jsonb -> (x._n::integer - 1)")
            continue
        else:
            arrays.append(f"%({name})b::{_array_type(f, connection)}")
            aliases.append(name)
            select.append(f"x.{name}")
            if json:
                values = [None if v is None else Jsonb(v) for v in values]
        params[name] = list(values)
    for i, f in enumerate(rest):
        name = f"{prefix}_d{i}"
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            value = now
        else:
            value = f.get_default()
            if isinstance(f, models.JSONField):
                value = Jsonb(value)
        params[name] = value
        select.append(f"%({name})b::{_base_type(f, connection)}")
    names = ", ".join(_quote(f.column) for f in given + rest)
    if arrays:
        source = f"unnest({', '.join(arrays)}) WITH ORDINALITY AS x({', '.join(aliases)}, _n)"
    else:  # no column differs from row to row but JSON ones: the rows are their positions
        params[f"{prefix}_n"] = len(rows.rows)
        source = f"generate_series(1, %({prefix}_n)b::bigint) AS x(_n)"
    if joined:
        key = _quote(joined[1].column)
        source += f" LEFT JOIN _p ON _p.{key} = x.{link_alias}"
    sql = (
        f"INSERT INTO {_quote(opts.db_table)} ({names}) "
        f"SELECT {', '.join(select)} FROM {source} ORDER BY x._n"
    )
    if rows.unique_fields:
        conflict = ", ".join(_quote(opts.get_field(n).column) for n in rows.unique_fields)
        updates = ", ".join(
            f"{_quote(c)} = EXCLUDED.{_quote(c)}"
            for c in (opts.get_field(n).column for n in rows.update_fields)
        )
        sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    return sql


def _base_type(field: models.Field, connection) -> str:
    """The field's column type without its modifier (``varchar``, not ``varchar(64)``): an
    explicit cast to ``varchar(64)`` would cut a longer value, where the statement's own
    assignment to the column refuses it."""
    return _type_of(field, connection.alias)


@cache
def _type_of(field: models.Field, alias: str) -> str:
    return re.sub(r"\(.*\)", "", field.db_type(connections[alias]))


def _array_type(field: models.Field, connection) -> str:
    return _base_type(field, connection) + "[]"


@contextmanager
def bound_cursor(model: type[models.Model]) -> Iterator:
    """A cursor on the model's database (for writing) that sends parameters apart from the
    statement (server-side binding, where Django's cursors spell them out in the SQL): a list
    goes as one array value (``= ANY(%s)``, ``unnest(%s)``). In Django's wrapper: the tenant
    scope (tenants.db), error translation and query logging apply as to any cursor."""
    connection = connections[router.db_for_write(model)]
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = ServerBindingCursor(connection.connection)
    wrapped = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    with wrapped as cursor:
        yield cursor
