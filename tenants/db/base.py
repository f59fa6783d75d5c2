"""Django's PostgreSQL backend, plus the tenant scope as a setting the RLS policies read.

Before each statement on the application connection, the backend makes sure the setting
``app.merchant_ids`` equals the current tenant scope (``tenants.scope``). Two modes:

- **Direct connections** (or Django's own pool, ``OPTIONS["pool"]``): a session setting. The
  backend remembers what it last set and sends it only when the scope changed; a rollback may
  undo a ``set_config`` made inside the transaction, so after any rollback (and on a new or
  pooled connection) the value counts as unknown and is sent again. A connection reused by the
  next request never keeps the previous request's scope.
- **Transaction pooling** (PgBouncer ``pool_mode = transaction``; ``KEELSON_TRANSACTION_POOLING``,
  set by ``DATABASE_TRANSACTION_POOLING=1``): consecutive transactions of one client may run on
  different server sessions, so a session setting would leak between clients. The scope is
  transaction-local (``set_config(..., true)``) instead: sent at the start of each transaction,
  and a statement outside ``atomic()`` runs in a transaction of its own with its scope. See
  docs/scaling.md.

The owner connection (``KEELSON_ROLE == "owner"``) is left alone: it serves migrations and the
audited ``system_context`` bypass, and row-level security does not apply to it anyway.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import pq

from tenants import scope

SCOPE_SETTING = "app.merchant_ids"
SET_SCOPE = "SELECT set_config(%s, %s, false)"
SET_SCOPE_LOCAL = "SELECT set_config(%s, %s, true)"


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict, alias=DEFAULT_DB_ALIAS):
        super().__init__(settings_dict, alias)
        self._applied_scope: str | None = None
        self.transaction_pooling = bool(settings_dict.get("KEELSON_TRANSACTION_POOLING"))
        if settings_dict.get("KEELSON_ROLE", "default") != "owner":
            self.execute_wrappers.append(
                self._apply_local_scope if self.transaction_pooling else self._apply_tenant_scope
            )

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        self._applied_scope = None
        return connection

    def _close(self):
        self._applied_scope = None
        return super()._close()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            if self.transaction_pooling:
                self._applied_scope = None  # the next transaction may be another session

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._applied_scope = None

    def _savepoint_rollback(self, sid):
        try:
            return super()._savepoint_rollback(sid)
        finally:
            self._applied_scope = None

    def _transaction_failed(self) -> bool:
        # In a failed transaction only a rollback runs; it must not be preceded by set_config.
        return self.connection.info.transaction_status == pq.TransactionStatus.INERROR

    def _apply_tenant_scope(self, execute, sql, params, many, context):
        wanted = scope.db_setting_value()
        if wanted != self._applied_scope and not self._transaction_failed():
            # A plain client cursor on the raw connection: the statement runs now, even when
            # the caller's cursor is a server-side (named) one that would only DECLARE it.
            self.connection.execute(SET_SCOPE, [SCOPE_SETTING, wanted])
            self._applied_scope = wanted
        return execute(sql, params, many, context)

    def _apply_local_scope(self, execute, sql, params, many, context):
        wanted = scope.db_setting_value()
        if self._transaction_failed():
            return execute(sql, params, many, context)
        if self.get_autocommit():
            # Outside atomic(): the setting and the statement in one transaction, so they run
            # on one server session, and the setting ends with it.
            with self.connection.transaction():
                self.connection.execute(SET_SCOPE_LOCAL, [SCOPE_SETTING, wanted])
                return execute(sql, params, many, context)
        if wanted != self._applied_scope:
            self.connection.execute(SET_SCOPE_LOCAL, [SCOPE_SETTING, wanted])
            self._applied_scope = wanted
        return execute(sql, params, many, context)
