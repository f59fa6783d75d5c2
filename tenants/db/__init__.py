"""PostgreSQL backend that carries the tenant scope into the session (row-level security)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

OWNER_ALIAS = "owner"


def session_alias() -> str:
    """The connection to keep session-level state on (advisory locks held across statements).

    The application's connection, unless it goes through a transaction pooler (PgBouncer's
    ``pool_mode = transaction``), where a session lock would stay with whichever server session
    ran the statement: then the owner's, which connects directly (docs/scaling.md). Locks only:
    no tenant data is read on it."""
    if connections[DEFAULT_DB_ALIAS].settings_dict.get("KEELSON_TRANSACTION_POOLING"):
        return OWNER_ALIAS
    return DEFAULT_DB_ALIAS


@contextmanager
def session_try_lock(key: int) -> Iterator[bool]:
    """A PostgreSQL advisory lock held by the session (``session_alias``) for the block: True
    if this session has it, False while another holds it (nothing waits). A worker that dies
    lets go with its connection."""
    connection = connections[session_alias()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        (got,) = cursor.fetchone()
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
