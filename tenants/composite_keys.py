"""The SQL that keys tenant tables for distribution by merchant (Citus; docs/scaling.md), for the
migrations that do it (portal 0006 and after): primary key ``(merchant_id, id)`` and foreign keys
``(merchant_id, <x>_id) -> (merchant_id, id)``, so a row can only point at a row of its own
merchant and all of one merchant's rows can live on one node. Django keeps ``id`` as the
model's primary key (``TenantForeignKey``/``TenantOneToOneField`` make no constraint of their
own); ``id`` stays an identity column (one sequence: unique in practice) with a plain index."""

from __future__ import annotations

from collections.abc import Sequence


def _fk_name(table: str, column: str) -> str:
    return f"{table}_{column}_tenant_fk"[:63]


def forward_sql(tables: Sequence[str], foreign_keys: Sequence[tuple[str, str, str]]) -> list[str]:
    """``tables`` get the composite primary key; ``foreign_keys`` are (table, column,
    referenced table), made composite."""
    sql = []
    for table in tables:
        sql += [
            # Lookups by id alone (Django's pk) keep an index; not unique: a distributed table
            # cannot keep a unique index without merchant_id.
            f'CREATE INDEX "{table}_id_idx" ON "{table}" ("id")',
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"',
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" '
            'PRIMARY KEY ("merchant_id", "id")',
        ]
    for table, column, target in foreign_keys:
        # Deferred to commit, like Django's own foreign keys (it deletes children in Python).
        sql.append(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{_fk_name(table, column)}" '
            f'FOREIGN KEY ("merchant_id", "{column}") REFERENCES "{target}" ("merchant_id", "id") '
            "DEFERRABLE INITIALLY DEFERRED"
        )
    return sql


def reverse_sql(tables: Sequence[str], foreign_keys: Sequence[tuple[str, str, str]]) -> list[str]:
    sql = [
        f'ALTER TABLE "{table}" DROP CONSTRAINT "{_fk_name(table, column)}"'
        for table, column, _ in foreign_keys
    ]
    for table in tables:
        sql += [
            f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"',
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("id")',
            f'DROP INDEX "{table}_id_idx"',
        ]
    return sql
