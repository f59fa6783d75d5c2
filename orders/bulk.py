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

import weakref
import zlib
from collections.abc import Iterable, Sequence

from django.db import connections, models, router, transaction
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
