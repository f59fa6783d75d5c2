"""Django's PostgreSQL backend, plus the tenant scope as a session setting.

Before each statement on the application connection, the backend makes sure the session
setting ``app.merchant_ids`` equals the current tenant scope (``tenants.scope``), which the
row-level security policies read. It remembers what it last set, so the setting is sent only
when the scope changed; a rollback may undo a ``set_config`` made inside the transaction, so
after any rollback the value counts as unknown and is sent again. A connection reused by the
next request (persistent connections) therefore never keeps the previous request's scope.

The owner connection (``KEELSON_ROLE == "owner"``) is left alone: it serves migrations and the
audited ``system_context`` bypass, and row-level security does not apply to it anyway.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import pq

from tenants import scope

SCOPE_SETTING = "app.merchant_ids"


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict, alias=DEFAULT_DB_ALIAS):
        super().__init__(settings_dict, alias)
        self._applied_scope: str | None = None
        if settings_dict.get("KEELSON_ROLE", "default") != "owner":
            self.execute_wrappers.append(self._apply_tenant_scope)

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        self._applied_scope = None
        return connection

    def _close(self):
        self._applied_scope = None
        return super()._close()

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
            self.connection.execute("SELECT set_config(%s, %s, false)", [SCOPE_SETTING, wanted])
            self._applied_scope = wanted
        return execute(sql, params, many, context)
