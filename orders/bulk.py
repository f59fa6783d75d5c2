"""Fast bulk writes for the Amazon sync: rows are streamed with ``COPY`` into a temporary table
(session-private, no indexes, no row-level security), then one ``INSERT ... SELECT`` moves them
into the real table, ``ON CONFLICT ... DO UPDATE`` where asked; ``update`` is the same for
``UPDATE ... FROM`` by primary key. ``COPY`` itself is refused on tables under row-level
security; the ``INSERT`` and ``UPDATE`` are checked by it like any other statement (the tenant
scope is applied by the database backend as always).

Same result as ``bulk_create(update_conflicts=True)`` for the objects given (``auto_now`` and
``auto_now_add`` fields are set as ``save`` would), without Django's per-value preparation, which
dominated the sync's ingest time (docs/benchmarks.md, "Sync: ingest"). ``write_rows`` takes
plain tuples instead of model instances (building ~35,000 instances per 10,000 orders was a
fifth of the upsert); ``update`` replaces ``bulk_update``, whose ``CASE WHEN`` per row and field
was most of the sync's hook.
"""

from __future__ import annotations

import re
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
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


# Staging tables known to exist, per database session (the driver's connection object: a new
# session starts with none). A name is added once the transaction that created it committed:
# a rolled-back CREATE leaves no table behind. This takes a session to be one server connection:
# under transaction pooling (KEELSON_TRANSACTION_POOLING) consecutive transactions may land on
# other server sessions, so there every transaction asks again (CREATE ... IF NOT EXISTS).
_staged: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


def _stage(cursor, model: type[models.Model], fields: list[models.Field], using: str) -> str:
    """The session's staging table for these columns (created on first use in the session),
    empty: every statement that reads it deletes what it reads (``_moved``), and a failed one
    aborts the transaction with the rows it copied; ``ON COMMIT DELETE ROWS`` besides. No
    round trip once the session has it (three a page of the sync: docs/benchmarks.md)."""
    table = model._meta.db_table
    columns = ", ".join(_quote(f.column) for f in fields)
    # Named after its columns, so a connection that outlived a migration never reuses a stale one.
    name = f"_stage_{table}_{zlib.crc32(columns.encode()):08x}"
    connection = connections[using]
    pooled = bool(connection.settings_dict.get("KEELSON_TRANSACTION_POOLING"))
    known = set() if pooled else _staged.setdefault(connection.connection, set())
    if name not in known:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_quote(name)} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {_quote(table)} WITH NO DATA"
        )
        if not pooled:
            transaction.on_commit(lambda: known.add(name), using=using)
    return _quote(name)


def _moved(stage: str, columns: str) -> str:
    """A CTE that empties the staging table and yields its rows (as ``_moved``)."""
    return f"WITH _moved AS (DELETE FROM {stage} RETURNING {columns}) "


def _row_maker(fields: list[models.Field], now):
    """A function from an object to its row: ``auto_now`` fields get ``now`` (and so does an
    unset ``auto_now_add``), as ``save`` would set them; JSON is wrapped for psycopg."""
    plain, stamped, created, json = [], [], [], []
    for i, f in enumerate(fields):
        if isinstance(f, models.DateTimeField) and f.auto_now:
            stamped.append((i, f.attname))
        elif isinstance(f, models.DateTimeField) and f.auto_now_add:
            created.append((i, f.attname))
        elif isinstance(f, models.JSONField):
            json.append((i, f.attname))
        else:
            plain.append((i, f.attname))
    width = len(fields)

    def make(obj) -> tuple:
        row = [None] * width
        values = obj.__dict__
        for i, name in plain:
            row[i] = values[name]
        for i, name in stamped:
            row[i] = values[name] = now
        for i, name in created:
            row[i] = values[name] = values[name] or now
        for i, name in json:
            row[i] = Jsonb(values[name])
        return tuple(row)

    return make


def _copy_and_insert(
    model: type[models.Model],
    fields: list[models.Field],
    rows: Iterable[tuple],
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
    returning: bool = True,
) -> dict[tuple, int]:
    """COPY ``rows`` (values of ``fields``) into the staging table and INSERT them; with
    ``unique_fields`` (and ``returning``), the primary key of each row written, by its values
    of those fields."""
    using = router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    columns = ", ".join(_quote(f.column) for f in fields)
    pk = _quote(opts.pk.column)
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        stage = _stage(cursor, model, fields, using)
        with cursor.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sql = (
            f"{_moved(stage, columns)}"
            f"INSERT INTO {_quote(opts.db_table)} ({columns}) SELECT {columns} FROM _moved"
        )
        if unique_fields:
            conflict = ", ".join(_quote(opts.get_field(n).column) for n in unique_fields)
            updates = ", ".join(
                f"{_quote(c)} = EXCLUDED.{_quote(c)}"
                for c in (opts.get_field(n).column for n in update_fields)
            )
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        if not (unique_fields and returning):
            cursor.execute(sql)  # primary keys are not read back
            return {}
        key_columns = ", ".join(_quote(opts.get_field(n).column) for n in unique_fields)
        cursor.execute(sql + f" RETURNING {pk}, {key_columns}")
        return {tuple(row[1:]): row[0] for row in cursor.fetchall()}


def write(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
) -> list[models.Model]:
    """Insert ``objs`` (or update the rows they conflict with on ``unique_fields``: only
    ``update_fields``). With ``unique_fields`` each object gets its row's primary key (plain
    inserts do not read them back). Returns ``objs``."""
    if not objs:
        return list(objs)
    fields = _columns(model)
    make = _row_maker(fields, timezone.now())
    by_key = _copy_and_insert(
        model, fields, [make(obj) for obj in objs], unique_fields, update_fields
    )
    if unique_fields:
        keys = [model._meta.get_field(n).attname for n in unique_fields]
        for obj in objs:
            obj.pk = by_key[tuple(getattr(obj, name) for name in keys)]
    return list(objs)


def write_rows(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[tuple],
    *,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
    returning: bool = True,
) -> dict[tuple, int]:
    """``write`` for plain rows: each row holds the values of the fields ``names`` (attnames:
    ``merchant_id``, not ``merchant``), in that order. Every other column gets its field's
    default, as a new instance would (``auto_now`` and ``auto_now_add``: now); JSON values are
    wrapped here. The defaults must not depend on the row (no per-row callables but ``dict``
    and ``list``). With ``unique_fields``, returns the primary key of each row written by its
    values of those fields (in their order), unless ``returning`` is off; else ``{}``."""
    if not rows:
        return {}
    now = timezone.now()
    by_attname = {f.attname: f for f in _columns(model)}
    given = [by_attname[n] for n in names]
    rest = [f for f in _columns(model) if f.attname not in set(names)]
    tail = []
    for f in rest:
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            tail.append(now)
        else:
            value = f.get_default()
            tail.append(Jsonb(value) if isinstance(f, models.JSONField) else value)
    tail = tuple(tail)
    json = [i for i, f in enumerate(given) if isinstance(f, models.JSONField)]
    if json:
        rows = [_wrap_json(row, json) + tail for row in rows]
    elif tail:
        rows = [row + tail for row in rows]
    return _copy_and_insert(model, given + rest, rows, unique_fields, update_fields, returning)


def _wrap_json(row: tuple, positions: list[int]) -> tuple:
    row = list(row)
    for i in positions:
        row[i] = Jsonb(row[i])
    return tuple(row)


def update(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """``bulk_update(objs, fields)`` as one ``UPDATE ... FROM`` a staging table filled by
    ``COPY``: the rows of ``objs`` (by primary key) get the objects' values of ``fields``, and
    nothing else changes (``auto_now`` is not applied, as with ``bulk_update``: set it in
    ``fields``). Returns the number of rows updated."""
    if not objs:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    targets = [opts.get_field(n) for n in fields]
    staged = [opts.pk, *targets]
    columns = ", ".join(_quote(f.column) for f in staged)
    json = {i for i, f in enumerate(staged) if isinstance(f, models.JSONField)}
    names = [f.attname for f in staged]
    assignments = ", ".join(f"{_quote(f.column)} = s.{_quote(f.column)}" for f in targets)
    pk = _quote(opts.pk.column)
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        stage = _stage(cursor, model, staged, using)
        with cursor.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                values = obj.__dict__
                row = [values[n] for n in names]
                for i in json:
                    row[i] = Jsonb(row[i])
                copy.write_row(row)
        cursor.execute(
            f"{_moved(stage, columns)}"
            f"UPDATE {_quote(opts.db_table)} AS t SET {assignments} FROM _moved AS s "
            f"WHERE t.{pk} = s.{pk}"
        )
        return cursor.rowcount


# --- several tables in one statement ---------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """Rows of one table for ``write_linked``, as for ``write_rows``: each row holds the values
    of the fields ``names`` (attnames), in that order, and every other column gets its field's
    default; a row that conflicts with a stored one on ``unique_fields`` updates only
    ``update_fields`` of it (no ``unique_fields``: plain inserts)."""

    model: type[models.Model]
    names: Sequence[str]
    rows: Sequence[tuple]
    unique_fields: Sequence[str] = ()
    update_fields: Sequence[str] = ()


def write_linked(parent: Rows, key: str, children: Sequence[tuple[Rows, str]] = ()) -> dict:
    """Write ``parent``'s rows and their children's rows in one statement (a round trip, where
    ``write_rows`` takes three a table: docs/benchmarks.md, "Sync: ingest"); returns the
    primary key of each parent row written (inserted or updated), by its value of ``key``.

    ``key`` is a field of the parent whose values are unique among its rows (the parents'
    primary keys are not known before the statement). Each child comes with ``link``, the
    attname of its foreign key to the parent: in its rows, that position holds the parent
    row's value of ``key``, and the row is written with that parent's primary key; a child of
    no parent given fails (the link column is not null). Rows are written in the order given,
    each table's (their ids ascend in it, as ``write_rows``'); the statement runs as any
    other (row-level security, constraints, triggers), through a cursor that sends each
    column as one array value (``unnest``) instead of a ``COPY`` into a staging table."""
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
        elif not json and values.count(values[0]) == len(values) and (arrays or i < len(given) - 1):
            # The same value in every row (the merchant, an account, often flags and empty
            # strings): sent once, not once a row. One column stays an array at least.
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
    source = f"unnest({', '.join(arrays)}) WITH ORDINALITY AS x({', '.join(aliases)}, _n)"
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
    explicit cast to ``varchar(64)`` would cut a longer value, where the insert's own
    assignment to the column refuses it, as a ``COPY`` does."""
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
