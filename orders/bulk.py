"""Fast bulk writes for the Amazon sync: rows are streamed with ``COPY`` into a temporary table
(session-private, no indexes, no row-level security), then one ``INSERT ... SELECT`` moves them
into the real table, ``ON CONFLICT ... DO UPDATE`` where asked. ``COPY`` itself is refused on
tables under row-level security; the ``INSERT`` is checked by it like any other statement (the
tenant scope is applied by the database backend as always).

Same result as ``bulk_create(update_conflicts=True)`` for the objects given (``auto_now`` and
``auto_now_add`` fields are set as ``save`` would), without Django's per-value preparation, which
dominated the sync's ingest time (docs/benchmarks.md, "Sync: ingest").
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from django.db import connections, models, router, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _stage(cursor, model: type[models.Model], fields: list[models.Field]) -> str:
    """The session's empty staging table for these columns (created on first use)."""
    table = model._meta.db_table
    columns = ", ".join(_quote(f.column) for f in fields)
    # Named after its columns, so a connection that outlived a migration never reuses a stale one.
    name = f"_stage_{table}_{zlib.crc32(columns.encode()):08x}"
    cursor.execute("SELECT to_regclass(%s)", [f"pg_temp.{name}"])
    if cursor.fetchone()[0] is None:
        cursor.execute(
            f"CREATE TEMP TABLE {_quote(name)} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {_quote(table)} WITH NO DATA"
        )
    else:
        cursor.execute(f"DELETE FROM {_quote(name)}")  # rows of an earlier call, same transaction
    return _quote(name)


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
    using = router.db_for_write(model)
    connection = connections[using]
    fields = _columns(model)
    opts = model._meta
    now = timezone.now()
    make = _row_maker(fields, now)
    rows = [make(obj) for obj in objs]
    columns = ", ".join(_quote(f.column) for f in fields)
    pk = _quote(opts.pk.column)
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        stage = _stage(cursor, model, fields)
        with cursor.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sql = f"INSERT INTO {_quote(opts.db_table)} ({columns}) SELECT {columns} FROM {stage}"
        if unique_fields:
            conflict = ", ".join(_quote(opts.get_field(n).column) for n in unique_fields)
            updates = ", ".join(
                f"{_quote(c)} = EXCLUDED.{_quote(c)}"
                for c in (opts.get_field(n).column for n in update_fields)
            )
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        keys = [opts.get_field(n) for n in unique_fields]
        if not keys:
            cursor.execute(sql)  # plain inserts: primary keys are not read back
            return list(objs)
        key_columns = ", ".join(_quote(f.column) for f in keys)
        cursor.execute(sql + f" RETURNING {pk}, {key_columns}")
        by_key = {tuple(row[1:]): row[0] for row in cursor.fetchall()}
    for obj in objs:
        obj.pk = by_key[tuple(getattr(obj, f.attname) for f in keys)]
    return list(objs)
