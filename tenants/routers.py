"""Routes queries made inside ``system_context`` to the owner connection."""

from __future__ import annotations

from tenants import scope

OWNER_ALIAS = "owner"


class SystemContextRouter:
    def db_for_read(self, model, **hints):
        return OWNER_ALIAS if scope.system_reason() else None

    def db_for_write(self, model, **hints):
        return OWNER_ALIAS if scope.system_reason() else None

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases are the same database.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Only the owner runs migrations; the application role owns nothing.
        return db == OWNER_ALIAS
