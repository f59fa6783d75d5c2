"""PostgreSQL backend that carries the tenant scope into the session (row-level security)."""

from __future__ import annotations

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
