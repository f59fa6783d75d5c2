"""The tenant scope: which merchants the current caller may see.

The scope is a context variable holding a frozenset of merchant ids (``None``: no scope, which
sees nothing). It is set by ``TenantScopeMiddleware`` for portal requests, by
``ApiKeyAuthentication`` for API requests, and by ``tenant_context(...)`` in tasks and shells.
Scoped managers read it, and the database backend (``tenants.db``) copies it into the session
setting ``app.merchant_ids`` that PostgreSQL's row-level security policies check.

``system_context(reason)`` is the one way for system code to work across tenants: it is logged,
and routes queries to the owner connection, which row-level security does not restrict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

logger = logging.getLogger("keelson.tenancy")

MerchantIds = frozenset[int]

_scope: ContextVar[MerchantIds | None] = ContextVar("keelson_tenant_scope", default=None)
_system_reason: ContextVar[str | None] = ContextVar("keelson_system_context", default=None)


def _merchant_id(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a merchant id cannot be a bool")
    if isinstance(value, int):
        return value
    pk = getattr(value, "pk", None)
    if isinstance(pk, int):
        return pk
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TypeError(f"not a merchant or merchant id: {value!r}")


def normalise(merchants: Any) -> MerchantIds:
    """A merchant, an id, or an iterable of either, as a frozenset of ids."""
    if merchants is None:
        return frozenset()
    if isinstance(merchants, (str, bytes)) or not isinstance(merchants, Iterable):
        return frozenset({_merchant_id(merchants)})
    return frozenset(_merchant_id(m) for m in merchants)


def current_merchant_ids() -> MerchantIds | None:
    """The merchant ids in scope, or None when no scope is set (which sees nothing)."""
    return _scope.get()


def set_scope(merchants: Any) -> Token:
    """Set the scope; pass the returned token to ``reset_scope``. ``None`` clears it."""
    return _scope.set(None if merchants is None else normalise(merchants))


def reset_scope(token: Token) -> None:
    _scope.reset(token)


@contextmanager
def tenant_context(merchants: Any) -> Iterator[MerchantIds]:
    """Run a block scoped to one merchant or a set of merchants (tasks, shells, tests)."""
    ids = normalise(merchants)
    token = _scope.set(ids)
    try:
        yield ids
    finally:
        _scope.reset(token)


@contextmanager
def no_tenant_context() -> Iterator[None]:
    """Run a block with no scope at all (it sees nothing): for tests and defensive code."""
    token = _scope.set(None)
    try:
        yield
    finally:
        _scope.reset(token)


def system_reason() -> str | None:
    """Why the current block works across tenants, or None when it does not."""
    return _system_reason.get()


@contextmanager
def system_context(reason: str) -> Iterator[None]:
    """Work across tenants, explicitly and on the record.

    Queries inside the block go to the owner connection (``DATABASES["owner"]``), which
    row-level security does not restrict, and scoped managers stop filtering. Only schedulers,
    migrations, the staff admin and operator commands use this; each entry is logged with its
    reason. Writes belong in ``tenant_context`` blocks, one merchant at a time.
    """
    if not reason or not reason.strip():
        raise ValueError("system_context needs a reason")
    logger.info("cross-tenant access: %s", reason)
    token = _system_reason.set(reason)
    try:
        yield
    finally:
        _system_reason.reset(token)


def db_setting_value() -> str:
    """The value of ``app.merchant_ids`` that matches the current scope."""
    ids = _scope.get()
    if not ids:
        return ""
    return ",".join(str(i) for i in sorted(ids))
